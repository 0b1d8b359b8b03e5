import json

import numpy as np
import pytest
import soundfile as sf

from mmalign.cli import main
from mmalign.speech.tts import synthesize


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    for name, text, voice in [("a", "one two three", "en-us+f2"), ("sub/b", "four five", "en-us")]:
        s = synthesize(text, voice=voice, sample_rate=16000)
        sf.write(
            root / f"{name}.wav", np.concatenate([np.zeros(4000, np.float32), s.samples]), 16000
        )
        (root / f"{name}.txt").write_text(text)
    (root / "broken.wav").write_bytes(b"garbage")
    (root / "broken.txt").write_text("six")
    (root / "lonely.wav").write_bytes(b"no transcript")
    return root


def test_align_speech_and_eval(tmp_path, corpus, capsys):
    out = tmp_path / "a.TextGrid"
    rc = main(
        ["align-speech", str(corpus / "a.wav"), str(corpus / "a.txt"), "-o", str(out), "--quiet"]
    )
    assert rc == 0 and out.is_file()
    assert "3 of 3 words aligned" in capsys.readouterr().out
    js = tmp_path / "a.json"
    assert main(["align-speech", str(corpus / "a.wav"), str(corpus / "a.txt"), "-o", str(js)]) == 0
    assert [w["label"] for w in json.loads(js.read_text())["words"]] == ["one", "two", "three"]
    assert main(["eval-speech", str(js), str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 file pair(s)" in text and "<=50ms 100.0%" in text


def test_corpus_reports_and_skips_failures(tmp_path, corpus, capsys):
    out = tmp_path / "out"
    rc = main(
        ["align-speech", "--corpus", str(corpus), "-o", str(out), "--workers", "1", "--quiet"]
    )
    text = capsys.readouterr().out
    assert rc == 1  # one item failed
    assert "aligned 2 item(s), 1 failed, 1 without transcript" in text
    assert "FAILED" in text and "broken.wav" in text
    assert (out / "a.json").is_file() and (out / "sub" / "b.json").is_file()


def test_corpus_on_dask_cluster(tmp_path, corpus):
    distributed = pytest.importorskip("dask.distributed")
    from mmalign.speech.corpus import align_corpus

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        report = align_corpus(
            corpus, tmp_path / "out", fmt="srt", scheduler=cluster.scheduler_address, progress=False
        )
    assert len(report.outputs) == 2 and len(report.failures) == 1
    assert all(p.suffix == ".srt" for p in report.outputs)


def test_cli_errors(tmp_path, corpus, capsys):
    assert main(["align-speech", "-o", str(tmp_path / "x.json")]) == 2
    assert "needs AUDIO and TRANSCRIPT" in capsys.readouterr().err
    rc = main(
        [
            "align-speech",
            str(corpus / "a.wav"),
            str(corpus / "a.txt"),
            "-o",
            str(tmp_path / "x.doc"),
        ]
    )
    assert rc == 2 and "cannot tell the format" in capsys.readouterr().err
    rc = main(
        [
            "align-speech",
            str(corpus / "a.wav"),
            str(corpus / "a.txt"),
            "-o",
            str(tmp_path / "x.json"),
            "--language",
            "xx-nope",
        ]
    )
    assert rc == 2 and "unsupported language" in capsys.readouterr().err


def test_ctc_backend_from_the_command_line(tmp_path, capsys):
    probs = np.full((10, 4), 0.05)
    probs[:, 0] = 0.85
    probs[2:4] = [0.05, 0.85, 0.05, 0.05]
    probs[5] = [0.05, 0.05, 0.05, 0.85]
    probs[6:8] = [0.05, 0.05, 0.85, 0.05]
    np.save(tmp_path / "em.npy", np.log(probs))
    (tmp_path / "vocab.txt").write_text("<b>\na\nb\n|\n")
    (tmp_path / "t.txt").write_text("a b")
    out = tmp_path / "o.json"
    args = ["align-speech", str(tmp_path / "em.npy"), str(tmp_path / "t.txt"), "-o", str(out)]
    assert main([*args, "--backend", "ctc", "--vocabulary", str(tmp_path / "vocab.txt")]) == 0
    words = json.loads(out.read_text())["words"]
    assert [(w["label"], w["start"], w["end"]) for w in words] == [
        ("a", 0.04, 0.08),
        ("b", 0.12, 0.16),
    ]
    assert main([*args, "--backend", "ctc"]) == 2
    assert "needs --vocabulary" in capsys.readouterr().err


def test_eval_speech_scores_matching_words_and_says_what_it_skipped(tmp_path, capsys):
    hyp, ref = tmp_path / "h.json", tmp_path / "r.json"
    hyp.write_text(
        json.dumps(
            [
                {"word": w, "start": a, "end": b}
                for w, a, b in [("one", 0.0, 0.5), ("two", 0.5, 1.0), ("three", 1.0, 1.5)]
            ]
        )
    )
    ref.write_text(
        json.dumps(
            [
                {"word": w, "start": a, "end": b}
                for w, a, b in [("one", 0.0, 0.52), ("four", 0.5, 1.0), ("three", 1.0, 1.5)]
            ]
        )
    )
    assert main(["eval-speech", str(hyp), str(ref)]) == 0
    out = capsys.readouterr()
    assert "boundaries 4" in out.out and "MAE    5.0 ms" in out.out
    assert "skipped 1 of 3 reference words" in out.out and "nan" not in out.out
    assert "Warning" not in out.err
    other = tmp_path / "o.json"
    other.write_text(json.dumps([{"word": "zebra", "start": 0.0, "end": 1.0}]))
    assert main(["eval-speech", str(hyp), str(other)]) == 2
    assert "no word of" in capsys.readouterr().err


def test_transcript_not_utf8_is_one_clear_line(tmp_path, corpus, capsys):
    t = tmp_path / "latin1.txt"
    t.write_bytes("caf\xe9 one two".encode("latin-1"))
    rc = main(["align-speech", str(corpus / "a.wav"), str(t), "-o", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "latin1.txt" in err and "not UTF-8" in err and "iconv" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
