import json

from mmalign._demo import SECTIONS, Section, dtw_two_voices, run_demo


def test_report_is_a_list_of_sections(tmp_path):
    def extra(ctx):
        (ctx.out / "x.png").write_bytes(b"png")
        return Section("Speech to text", "words aligned", ["x.png"], {"mae_ms": 12.0})

    path = run_demo(tmp_path / "demo", sections=[dtw_two_voices, extra])
    text = path.read_text()
    assert path.name == "README.md"
    assert text.index("## DTW: one digit string, two voices") < text.index("## Speech to text")
    assert "![dtw_two_voices](dtw_two_voices.png)" in text and "![x](x.png)" in text
    assert (tmp_path / "demo" / "dtw_two_voices.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    # DTW carries word boundaries between two voices to within a couple of words' length
    assert 0 < metrics["DTW: one digit string, two voices"]["boundary_mae_ms"] < 150
    assert metrics["Speech to text"] == {"mae_ms": 12.0}
    assert SECTIONS[0] is dtw_two_voices and len(SECTIONS) >= 2


def test_demo_command_is_registered():
    from mmalign.cli import build_parser

    args = build_parser().parse_args(["demo", "--out", "somewhere", "--quick"])
    assert args.out == "somewhere" and args.quick and callable(args.func)


def test_speech_section_aligns_words_and_writes_files(tmp_path):
    from mmalign._demo import DemoContext, speech_to_text

    ctx = DemoContext(tmp_path, quick=True)
    section = speech_to_text(ctx)
    # eSpeak's own timing is exact truth; tts-dtw lands well within 50 ms on average
    assert section.metrics["tts-dtw"]["failed"] == 0
    assert section.metrics["tts-dtw"]["mae_ms"] < 50
    assert (tmp_path / "speech.TextGrid").read_text().count('"') > 10
    assert "-->" in (tmp_path / "speech.srt").read_text()
    assert (tmp_path / "speech_words.png").stat().st_size > 1000
    assert speech_to_text in SECTIONS
