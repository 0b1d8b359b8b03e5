"""``mmalign connections``: measure lags and co-occurrences between modalities.

On digits-av (default) it recovers the planted lag of the images after the spoken words and
the co-occurrence of written digits with video / audio frame clusters, against the generator's
ground truth, and prints a table (``--out DIR`` also writes JSON and figures). With ``--npz``
it estimates the lag between two streams of your own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "connections",
        help="lags and co-occurrences between modalities (digits-av, or your .npz streams)",
        description=(
            "Measure cross-modal connections. Default: generate a small digits-av set and "
            "compare the recovered lag (cross-correlation, DTW offsets, first onsets) and "
            "co-occurrences (PMI + Fisher test) with what the generator planted. With --npz FILE "
            "--x KEY --y KEY: the lag of stream Y after stream X (arrays (n,) or (n, d), or "
            "object arrays of paired samples)."
        ),
    )
    p.add_argument("--n-samples", type=int, default=300, help="digits-av samples analysed")
    p.add_argument("--n-test", type=int, default=100, help="held-out samples for retrieval")
    p.add_argument(
        "--vision-clusters", type=int, default=40, help="k-means clusters of video frames"
    )
    p.add_argument(
        "--audio-clusters", type=int, default=32, help="k-means clusters of audio frames"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", help="digits-av cache folder (default: ~/.cache/mmalign)")
    p.add_argument("--out", metavar="DIR", help="write connections.json and figures here")
    g = p.add_argument_group("your own streams")
    g.add_argument("--npz", metavar="FILE", help=".npz holding the two streams")
    g.add_argument("--x", metavar="KEY", help="key of the leading stream in the .npz")
    g.add_argument("--y", metavar="KEY", help="key of the lagging stream in the .npz")
    g.add_argument("--rate", type=float, default=1.0, help="frames per second of X (and Y)")
    g.add_argument("--y-rate", type=float, help="frames per second of Y if it differs")
    g.add_argument("--max-lag", type=float, help="largest lag searched, seconds")
    p.set_defaults(func=_run)


def _check_args(args: argparse.Namespace) -> None:
    """Fail before any work on options and paths that cannot be used."""
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out!r} is a file, not a folder; pass a folder.")
    rates = (("--rate", args.rate), ("--y-rate", args.y_rate), ("--max-lag", args.max_lag))
    for flag, value in rates:
        if value is not None and not value > 0:
            raise ValueError(f"{flag} must be > 0, got {value!r}.")
    for flag in ("n_samples", "n_test", "vision_clusters", "audio_clusters"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}.")
    if args.npz and not Path(args.npz).is_file():
        raise FileNotFoundError(f"--npz file {args.npz!r} does not exist.")


def _run(args: argparse.Namespace) -> int:
    _check_args(args)
    if args.npz:
        return _run_npz(args)
    if args.x or args.y:
        raise ValueError("--x and --y need --npz FILE (the file holding the streams).")
    return _run_digits_av(args)


def _load_streams(z, key: str, name: str):
    import numpy as np

    if key is None:
        raise ValueError(f"--npz needs {name} KEY; keys in the file: {', '.join(z.files)}.")
    if key not in z.files:
        raise ValueError(
            f"{name} {key!r} is not in the .npz; keys in the file: {', '.join(z.files)}."
        )
    try:
        arr = z[key]
    except ValueError as exc:  # an object array: refused, loading it could run code
        raise ValueError(
            f"{name} {key!r} in the .npz cannot be read without unpickling ({exc}); save the "
            "streams as numeric arrays."
        ) from None
    if arr.dtype == object:
        return [np.asarray(a, dtype=float) for a in arr]
    return np.asarray(arr, dtype=float)


def _run_npz(args: argparse.Namespace) -> int:
    import numpy as np

    from mmalign.connections.lag import cross_correlation_lag, dtw_lag, resample_stream

    path = Path(args.npz)
    if not path.is_file():
        raise FileNotFoundError(f"--npz file not found: {path}")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(
            f"--npz {str(path)!r} is not a readable .npz of arrays "
            f"({' '.join(str(exc).split())[:100]}); write it with numpy.savez(file, x=..., y=...)."
        ) from None
    if not hasattr(z, "files"):
        raise ValueError(
            f"--npz {str(path)!r} holds a single array, not named streams; write it with "
            "numpy.savez(file, x=..., y=...)."
        )
    with z:
        try:
            x = _load_streams(z, args.x, "--x")
            y = _load_streams(z, args.y, "--y")
        except ValueError as exc:
            raise ValueError(f"--npz {str(path)!r}: {exc}") from None
    rate = args.rate
    if args.y_rate and args.y_rate != rate:
        ys = y if isinstance(y, list) else [y]
        ys = [resample_stream(s, args.y_rate, rate) for s in ys]
        y = ys if isinstance(y, list) else ys[0]
    xs, ys = (x, y) if isinstance(x, list) else ([x], [y])
    n = [min(len(a), len(b)) for a, b in zip(xs, ys)]
    xs = [a[:k] for a, k in zip(xs, n)]
    ys = [b[:k] for b, k in zip(ys, n)]
    xc = cross_correlation_lag(xs, ys, sample_rate=rate, max_lag=args.max_lag)
    dl = dtw_lag(xs, ys, x_rate=rate)
    out = {
        "xcorr_lag_s": xc.lag,
        "xcorr_peak": xc.peak,
        "dtw_median_offset_s": dl.lag,
        "dtw_offset_quartiles_s": list(dl.quartiles),
    }
    print(
        f"lag of {args.y} after {args.x}: cross-correlation {xc.lag:+.3f} s (r = {xc.peak:.2f}); "
        f"DTW offsets median {dl.lag:+.3f} s (IQR {dl.quartiles[0]:+.3f} .. {dl.quartiles[1]:+.3f})"
    )
    if args.out:
        _write_json(Path(args.out) / "connections.json", out)
    return 0


def _write_json(path: Path, obj) -> None:
    from mmalign._utils import atomic_write

    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2)
    print(f"wrote {path}")


def _run_digits_av(args: argparse.Namespace) -> int:
    import numpy as np

    from mmalign.connections.streams import stream_connections
    from mmalign.data.digits_av import DigitsAVConfig, load_digits_av

    if args.n_samples < 10 or args.n_test < 2:
        raise ValueError(
            f"--n-samples must be >= 10 and --n-test >= 2, got {args.n_samples} and {args.n_test}."
        )
    cfg = DigitsAVConfig(n_train=args.n_samples, n_valid=2, n_test=args.n_test, seed=args.seed)
    ds = load_digits_av(cfg, cache_dir=args.cache_dir)
    r = stream_connections(
        ds.splits["train"],
        audio_fps=cfg.audio_fps,
        vision_fps=cfg.vision_fps,
        held_out=ds.splits["test"],
        n_vision_clusters=args.vision_clusters,
        n_audio_clusters=args.audio_clusters,
        seed=args.seed,
    )
    L = r.lags
    planted = L.planted
    rows = [
        ("planted by the generator", float(np.median(planted)), float("nan"), float("nan")),
        (
            "cross-correlation, per sample",
            float(np.median(L.xcorr)),
            L.error("xcorr"),
            L.correlation("xcorr"),
        ),
        (
            "DTW offsets at audio onsets",
            float(np.median(L.dtw)),
            L.error("dtw"),
            L.correlation("dtw"),
        ),
        (
            "first video onset - first audio onset",
            float(np.median(L.first_onset)),
            L.error("first_onset"),
            L.correlation("first_onset"),
        ),
    ]
    print(
        f"digits-av connections: {len(planted)} samples, audio {cfg.audio_fps} fps, video "
        f"{cfg.vision_fps} fps (planted lag = per-sample video offset + per-image lag)"
    )
    print("\ndependency in time: lag of each image after its spoken word (seconds)")
    print(f"  {'estimate':40s} {'median':>7s} {'MAE':>7s} {'r':>6s}")
    for name, med, mae, corr in rows:
        # the planted row is the reference itself: no error or correlation to show
        err = "-" if np.isnan(mae) else f"{mae:.3f}"
        cor = "-" if np.isnan(corr) else f"{corr:.2f}"
        print(f"  {name:40s} {med:7.3f} {err:>7s} {cor:>6s}")
    print(
        f"  pooled cross-correlation peak at {r.xcorr.lag:+.3f} s (r = {r.xcorr.peak:.3f}); pooled "
        f"DTW offsets median {r.dtw.lag:+.3f} s"
    )

    print(
        "\ndependency between events: written digit x frame cluster per sample (Fisher, Holm 0.05)"
    )
    for mod, key, co in (("video", "vision", r.text_vision), ("audio", "audio", r.text_audio)):
        print(
            f"  text ~ {mod} clusters: {int(co.significant.sum())} significant pairs; digits whose "
            f"top-PMI cluster shows that digit: {r.recovered_pairs[key]}/10"
        )
    for name, co in r.controls.items():
        verdict = "none significant" if not co.significant.any() else "SIGNIFICANT"
        print(
            f"  control {name:18s} (drawn independently): min p = {np.nanmin(co.p_value):.3f}, {verdict}"
        )
    ret = r.retrieval
    if ret is not None:
        print("\nequivalence: text -> video retrieval scored by the PMI table (held-out samples)")
        print(
            f"  R@1 {ret.recall[1]:.3f}  R@5 {ret.recall[5]:.3f}  R@10 {ret.recall[10]:.3f}  median rank "
            f"{ret.median_rank:.0f} of {len(ret.ranks)}; shuffled pairs R@1 {ret.permutation_recall[1]:.3f} "
            f"(p = {ret.p_value[1]:.3f})"
        )

    if args.out:
        out = Path(args.out)
        summary = {
            "n_samples": len(planted),
            "lag_s": {
                name: {"median": med, "mae": mae, "r": corr} for name, med, mae, corr in rows
            },
            "pooled_xcorr_lag_s": r.xcorr.lag,
            "pooled_dtw_lag_s": r.dtw.lag,
            "text_video_pairs": r.text_vision.table(),
            "text_audio_pairs": r.text_audio.table(),
            "recovered_pairs": r.recovered_pairs,
            "controls_min_p": {k: float(np.nanmin(v.p_value)) for k, v in r.controls.items()},
            "retrieval": None
            if ret is None
            else {
                "recall": ret.recall,
                "median_rank": ret.median_rank,
                "permutation_recall": ret.permutation_recall,
                "p_value": ret.p_value,
            },
        }
        _write_json(
            out / "connections.json",
            json.loads(json.dumps(summary, default=float).replace("NaN", "null")),
        )
        _figures(r, out)
    return 0


def _figures(r, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from mmalign._utils import atomic_path

    L = r.lags
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].plot(r.xcorr.lags, r.xcorr.correlation)
    ax[0].axvline(np.median(L.planted), color="k", ls="--", label="planted median")
    ax[0].set(
        xlabel="lag of video after audio (s)",
        ylabel="pooled correlation",
        title="cross-correlation",
    )
    ax[0].legend()
    for name in ("xcorr", "dtw", "first_onset"):
        ax[1].scatter(L.planted, getattr(L, name), s=6, label=f"{name} (MAE {L.error(name):.2f} s)")
    lim = [min(L.planted.min(), -0.2), max(L.planted.max(), 1.0)]
    ax[1].plot(lim, lim, "k:", lw=1)
    ax[1].set(xlabel="planted lag per sample (s)", ylabel="recovered (s)", title="per-sample lag")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out / "lag.png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)

    co = r.text_vision
    order = np.argsort(r.cluster_digit["vision"], kind="stable")
    fig, ax = plt.subplots(figsize=(10, 3.6))
    pmi = np.nan_to_num(co.pmi[:, order], nan=0.0, neginf=-2.0)
    im = ax.imshow(pmi, cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    ys, xs = np.nonzero(co.significant[:, order])
    ax.scatter(xs, ys, marker="o", facecolors="none", edgecolors="k", s=30, label="significant")
    ax.set_xticks(
        range(len(order)),
        [str(d) if d >= 0 else "-" for d in r.cluster_digit["vision"][order]],
        fontsize=7,
    )
    ax.set(
        xlabel="video cluster (labelled by its majority digit)",
        ylabel="written digit",
        title="PMI (bits) of written digits and video clusters",
    )
    fig.colorbar(im, ax=ax)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_path(out / "pmi.png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'lag.png'} and {out / 'pmi.png'}")
