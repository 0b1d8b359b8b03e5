import numpy as np
import pytest
import soundfile as sf

from mmalign.speech import CTCOptions, SphinxConfig, TTSDTWConfig, align
from mmalign.speech.tts import synthesize

TEXT = "glue the sheet\nto the dark blue background"


@pytest.fixture(scope="module")
def speech():
    s = synthesize(TEXT, voice="en-gb-scotland+m3", rate=160, sample_rate=22050)
    audio = np.concatenate([np.zeros(5000, np.float32), s.samples, np.zeros(3000, np.float32)])
    return audio, [(w, a + 5000 / 22050, b + 5000 / 22050) for w, a, b in s.words]


def test_file_stereo_any_rate_and_segments(tmp_path, speech):
    audio, truth = speech
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([audio, 0.5 * audio], axis=1), 22050)
    tpath = tmp_path / "t.txt"
    tpath.write_text(TEXT)
    a = align(path, tpath)
    assert [w.label for w in a.words] == TEXT.split()
    assert a.duration == pytest.approx(len(audio) / 22050, abs=1e-3)
    assert [s.label for s in a.segments] == ["glue the sheet", "to the dark blue background"]
    assert a.segments[0].end == a.words[2].end
    err = np.abs([w.start - t[1] for w, t in zip(a.words, truth)])
    assert err.mean() < 0.05


# eSpeak's voice is far from PocketSphinx's acoustic model: recognition finds few of its
# words, so the mismatch check may fire here; forced alignment itself is what is tested
@pytest.mark.filterwarnings("ignore::mmalign.speech.TranscriptMismatchWarning")
def test_array_and_sphinx_backend():
    s = synthesize(TEXT, voice="en-us", rate=150, sample_rate=16000)
    a = align(s.samples, TEXT, sample_rate=16000, backend="sphinx")
    assert a.backend == "sphinx" and len(a.words) == 8
    assert len(a.segments) == 2
    err = np.abs([w.start - t[1] for w, t in zip(a.words, s.words)])
    assert err.mean() < 0.06


def test_ctc_backend_through_align():
    probs = np.full((10, 3), 0.1)
    probs[:, 0] = 0.8
    probs[2:4] = [0.1, 0.8, 0.1]
    probs[6:8] = [0.1, 0.1, 0.8]
    lp = np.log(probs)
    a = align(None, "a b", options=CTCOptions(lp, ["-", "a", "b"]))
    assert a.backend == "ctc"
    assert [(w.label, w.start, w.end) for w in a.words] == [("a", 0.04, 0.08), ("b", 0.12, 0.16)]
    with pytest.raises(ValueError, match="needs options=CTCOptions"):
        align(None, "a b", backend="ctc")


def test_options_are_typed_per_backend(speech):
    audio, _ = speech
    with pytest.raises(TypeError, match="belong to backend 'tts-dtw', not 'sphinx'"):
        align(audio, TEXT, sample_rate=22050, backend="sphinx", options=TTSDTWConfig())
    with pytest.raises(TypeError, match="options must be a SphinxConfig"):
        align(audio, TEXT, sample_rate=22050, options={"refine": False})
    with pytest.raises(ValueError, match="max_move must be a number"):
        SphinxConfig(max_move=-1)


def test_default_backend_follows_the_language(speech):
    from mmalign.speech import default_backend

    assert default_backend("en") == "sphinx" and default_backend("de") == "tts-dtw"
    audio, _ = speech
    a = align(audio, TEXT, sample_rate=22050)
    assert a.backend == "sphinx" and 0.0 <= min(w.score for w in a.words) <= 1.0


def test_transcript_string_naming_a_file(tmp_path, speech, monkeypatch):
    audio, _ = speech
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text(TEXT)
    a = align(audio, "t.txt", sample_rate=22050)
    assert [w.label for w in a.words] == TEXT.split()
    with pytest.raises(FileNotFoundError, match="looks like a file name"):
        align(audio, "digits.txt", sample_rate=22050)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text.*iconv"):
        align(audio, "latin1.txt", sample_rate=22050)


def test_bad_inputs(tmp_path, speech):
    audio, _ = speech
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    with pytest.raises(ValueError, match="not readable by soundfile"):
        align(bad, "hello")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        align(tmp_path / "missing.wav", "hello")
    with pytest.raises(ValueError, match="is empty"):
        align(np.zeros(0), "hello", sample_rate=16000)
    with pytest.raises(ValueError, match="is silent"):
        align(np.zeros(16000), "hello", sample_rate=16000)
    with pytest.raises(ValueError, match="transcript holds no words"):
        align(audio, " \n -- ", sample_rate=22050)
    with pytest.raises(ValueError, match="words/s"):
        align(audio[:5000] + 0.1, " ".join(["word"] * 40), sample_rate=22050)
    with pytest.raises(ValueError, match="unsupported language 'xx-nope'"):
        align(audio, TEXT, sample_rate=22050, language="xx-nope")
    with pytest.raises(ValueError, match="Unknown backend 'whisper'"):
        align(audio, TEXT, sample_rate=22050, backend="whisper")
    with pytest.raises(ValueError, match="sample_rate is required"):
        align(audio, TEXT)
    with pytest.raises(TypeError, match="transcript must be a str"):
        align(audio, 42, sample_rate=22050)


def test_other_language():
    text = "guten morgen meine damen und herren"
    s = synthesize(text, voice="de+f3", rate=150, sample_rate=16000)
    a = align(s.samples, text, sample_rate=16000, language="de")
    err = np.abs([w.start - t[1] for w, t in zip(a.words, s.words)])
    assert a.language == "de" and err.mean() < 0.05


def test_long_files_stream_to_the_same_samples(tmp_path, monkeypatch):
    from mmalign.speech import audio as audio_mod

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50000, 2)) * 0.1).astype(np.float32)
    sf.write(tmp_path / "s.wav", x, 44100)
    whole = audio_mod.load_audio(tmp_path / "s.wav")
    monkeypatch.setattr(audio_mod, "_STREAM_FRAMES", 1000)
    monkeypatch.setattr(audio_mod, "_BLOCK_FRAMES", 4096)
    streamed = audio_mod.load_audio(tmp_path / "s.wav")
    assert streamed.shape == whole.shape == (18141,)
    np.testing.assert_allclose(streamed, whole, atol=1e-5)
