import json

import numpy as np
import pytest

from mmalign.cli import main


@pytest.fixture(scope="module")
def tiny_av(tmp_path_factory):
    pytest.importorskip("espeakng_loader")
    from mmalign.data.digits_av import DigitsAVConfig, load_digits_av

    cfg = DigitsAVConfig(n_train=12, n_valid=2, n_test=4, seed=0)
    cache = tmp_path_factory.mktemp("av-cache")
    return cfg, load_digits_av(cfg, cache_dir=cache), cache


def test_stream_connections_on_digits_av(tiny_av):
    from mmalign.connections.streams import stream_connections

    cfg, ds, _ = tiny_av
    r = stream_connections(
        ds.splits["train"],
        audio_fps=cfg.audio_fps,
        vision_fps=cfg.vision_fps,
        held_out=ds.splits["test"],
        n_vision_clusters=12,
        n_audio_clusters=8,
    )
    lo = cfg.lag_range[0] + cfg.offset_range[0] - 0.1
    hi = cfg.lag_range[1] + cfg.offset_range[1] + 0.1
    assert r.lags.planted.shape == (12,) and np.all((lo <= r.lags.planted) & (r.lags.planted <= hi))
    # the first onsets track the planted lag; the marks drawn independently stay unrelated
    assert r.lags.error("first_onset") < 0.25
    assert not any(c.significant.any() for c in r.controls.values())
    assert 0 <= r.recovered_pairs["vision"] <= 10
    assert r.text_vision.counts.shape == (10, 12)
    assert r.retrieval is not None and r.retrieval.ranks.shape == (4,)
    with pytest.raises(ValueError, match="needs a digits-av split"):
        from mmalign.data._types import MultimodalSplit

        bare = MultimodalSplit({"a": np.zeros((1, 2, 1))}, {"a": np.array([2])}, np.zeros(1), ["x"])
        stream_connections(bare, audio_fps=100, vision_fps=15)


def test_cli_digits_av_writes_table_json_and_figures(tiny_av, tmp_path, capsys):
    _, _, cache = tiny_av
    out = tmp_path / "report"
    rc = main(
        [
            "connections",
            "--n-samples",
            "12",
            "--n-test",
            "4",
            "--vision-clusters",
            "12",
            "--audio-clusters",
            "8",
            "--cache-dir",
            str(cache),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "planted by the generator" in text and "control" in text
    summary = json.loads((out / "connections.json").read_text())
    assert (
        summary["n_samples"] == 12 and "first video onset - first audio onset" in summary["lag_s"]
    )
    assert (out / "lag.png").stat().st_size > 0 and (out / "pmi.png").stat().st_size > 0


def test_cli_npz_streams_recover_planted_lag(tmp_path, capsys):
    rng = np.random.default_rng(0)
    src = np.convolve(rng.normal(size=600), np.ones(5) / 5, mode="same")
    x, y = src[100:500], src[100 - 12 : 500 - 12]  # y lags x by 12 frames = 0.12 s
    path = tmp_path / "streams.npz"
    np.savez(path, audio=x, video=y)
    out = tmp_path / "o"
    assert (
        main(
            [
                "connections",
                "--npz",
                str(path),
                "--x",
                "audio",
                "--y",
                "video",
                "--rate",
                "100",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "connections.json").read_text())
    assert summary["xcorr_lag_s"] == pytest.approx(0.12)
    assert "cross-correlation +0.120 s" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys):
    path = tmp_path / "s.npz"
    np.savez(path, a=np.zeros(5))
    assert main(["connections", "--npz", str(path), "--x", "a", "--y", "b"]) == 2
    assert "--y 'b' is not in the .npz; keys in the file: a" in capsys.readouterr().err
    assert main(["connections", "--x", "a"]) == 2
    assert "--x and --y need --npz" in capsys.readouterr().err
    assert main(["connections", "--n-samples", "3"]) == 2
    assert "--n-samples must be >= 10" in capsys.readouterr().err
