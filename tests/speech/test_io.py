import pytest

from mmalign.speech import Span, SpeechAlignment
from mmalign.speech.io import read_alignment, write_alignment


@pytest.fixture
def alignment():
    words = [Span("hello", 0.1, 0.5, 0.9), Span("big", 0.5, 0.8, 0.7), Span("world", 1.0, 1.6, 0.8)]
    phones = [Span("h", 0.1, 0.2), Span("@", 0.2, 0.5), Span("w", 1.0, 1.6)]
    segs = [Span("hello big", 0.1, 0.8), Span("world", 1.0, 1.6)]
    return SpeechAlignment(words, phones, segs, duration=2.0, backend="tts-dtw", language="en")


@pytest.mark.parametrize("suffix", [".json", ".TextGrid", ".csv"])
def test_round_trip_words(tmp_path, alignment, suffix):
    path = write_alignment(alignment, tmp_path / f"a{suffix}")
    back = read_alignment(path)
    assert [w.label for w in back.words] == ["hello", "big", "world"]
    assert [round(w.start, 3) for w in back.words] == [0.1, 0.5, 1.0]
    assert [round(w.end, 3) for w in back.words] == [0.5, 0.8, 1.6]
    assert len(back.phones) == 3


def test_json_keeps_everything(tmp_path, alignment):
    back = read_alignment(write_alignment(alignment, tmp_path / "a.json"))
    assert back.backend == "tts-dtw" and back.duration == 2.0
    assert back.words[0].score == pytest.approx(0.9)
    assert [s.label for s in back.segments] == ["hello big", "world"]


@pytest.mark.parametrize("suffix", [".srt", ".vtt"])
def test_subtitles_one_cue_per_segment(tmp_path, alignment, suffix):
    path = write_alignment(alignment, tmp_path / f"a{suffix}")
    back = read_alignment(path)
    assert [(c.label, c.start, c.end) for c in back.words] == [
        ("hello big", 0.1, 0.8),
        ("world", 1.0, 1.6),
    ]


def test_textgrid_tiers_and_reference_json_list(tmp_path, alignment):
    path = write_alignment(alignment, tmp_path / "a.TextGrid")
    text = path.read_text()
    assert '"words"' in text and '"phones"' in text and '"segments"' in text
    ref = tmp_path / "ref.json"
    ref.write_text('[{"word": "x", "start": 0.5, "end": 0.7}]')
    w = read_alignment(ref).words
    assert [(s.label, s.start, s.end) for s in w] == [("x", 0.5, 0.7)]


def test_unknown_suffix_and_atomicity(tmp_path, alignment):
    with pytest.raises(ValueError, match="cannot tell the format"):
        write_alignment(alignment, tmp_path / "a.docx")
    with pytest.raises(TypeError, match="must be a SpeechAlignment"):
        write_alignment([1], tmp_path / "a.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_alignment(tmp_path / "missing.json")
    # a failed write leaves neither the target nor a temporary file behind
    bad = SpeechAlignment([Span("x", 0, 1)], info={"obj": object()})
    with pytest.raises(TypeError):
        write_alignment(bad, tmp_path / "b.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
