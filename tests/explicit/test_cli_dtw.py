"""Tests of ``mmalign dtw``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmalign.cli import main
from mmalign.explicit._dtw import dtw_path


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(30, 2)), axis=0)
    y = np.cumsum(rng.normal(size=(40, 2)), axis=0)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "y.csv", y, delimiter=",", header="a,b", comments="")
    return x, y, tmp_path


def test_cli_dtw_writes_path_and_plot(pair, capsys):
    x, y, d = pair
    out, png = d / "res" / "r.json", d / "r.png"
    rc = main(
        [
            "dtw", str(d / "x.npy"), str(d / "y.csv"), "--band", "5", "--metric", "euclidean",
            "-o", str(out), "--plot", str(png),
        ]
    )  # fmt: skip
    assert rc == 0
    ref = dtw_path(x, y, radius=5, metric="euclidean")
    printed = capsys.readouterr().out
    assert f"cost {ref.cost:.10g}" in printed
    res = json.loads(out.read_text())
    assert res["shape"] == [30, 40] and res["step_pattern"] == "symmetric2"
    assert res["cost"] == pytest.approx(ref.cost)
    np.testing.assert_array_equal(res["path"], ref.path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(d.glob(".r.*"))  # no temporary files left behind


def test_cli_dtw_open_end_text_files(tmp_path, capsys):
    np.savetxt(tmp_path / "q.txt", [0.0, 1.0, 2.0])
    np.savetxt(tmp_path / "s.txt", [0.0, 1.0, 2.0, 7.0, 9.0])
    rc = main(
        ["dtw", str(tmp_path / "q.txt"), str(tmp_path / "s.txt"), "--step-pattern",
         "asymmetric", "--open-end", "-o", str(tmp_path / "o.json")]
    )  # fmt: skip
    assert rc == 0
    res = json.loads((tmp_path / "o.json").read_text())
    assert res["cost"] == 0.0 and res["path"] == [[0, 0], [1, 1], [2, 2]]
    assert "normalized_cost 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "name", "match"),
    [
        (None, "missing.npy", "file not found"),
        ("1,2\nx,y\n", "bad.csv", "not a numeric table"),
        ("", "empty.csv", "holds no numbers"),
        ("1 2", "data.json", "unsupported extension"),
        ("not numpy", "bad.npy", "not a valid .npy array"),
    ],
)
def test_cli_dtw_bad_files(tmp_path, capsys, content, name, match):
    good = tmp_path / "good.txt"
    np.savetxt(good, [0.0, 1.0])
    bad = tmp_path / name
    if content is not None:
        bad.write_text(content)
    assert main(["dtw", str(good), str(bad)]) == 2
    assert match in capsys.readouterr().err


def test_cli_dtw_bad_options(pair, capsys):
    _, _, d = pair
    rc = main(["dtw", str(d / "x.npy"), str(d / "y.csv"), "--open-begin"])
    assert rc == 2
    assert "step_pattern='asymmetric'" in capsys.readouterr().err
    np.save(d / "z.npy", np.zeros((5, 3)))
    assert main(["dtw", str(d / "x.npy"), str(d / "z.npy")]) == 2
    assert "same number of features" in capsys.readouterr().err
    # usage errors: exit 2 and one line (not argparse's usage block)
    assert main(["dtw", str(d / "x.npy"), str(d / "y.csv"), "--band", "2", "--itakura", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not allowed with argument" in err, err


def test_plot_without_cost_matrix(tmp_path):
    from mmalign.explicit._plot_dtw import plot_alignment

    path = np.array([[0, 0], [1, 1], [2, 1]])
    plot_alignment(None, path, (3, 2), tmp_path / "p.png", title="path only")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
