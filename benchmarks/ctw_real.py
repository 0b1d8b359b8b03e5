"""Benchmark: canonical time warping across feature spaces on real recordings (issue 13).

UTD-MHAD records every trial with a Kinect skeleton and a wrist (or thigh) inertial sensor at
once, so within a trial the true alignment of the two streams is the identity in time. The
two streams of a trial are taken to span the same interval (their lengths correlate, r 0.89,
but their ratio is ~2.6, not the nominal 50 / 30): the skeleton is flattened to 60 features,
the inertial stream (6) is resampled onto the skeleton's frames, each is standardised. Then
the inertial stream is warped by a known random monotone warp (4 random segments, each
length changed by a factor drawn from 0.8-1.25) and every method aligns skeleton x to warped
inertial y. Error: the mean distance of the recovered path to the true one, in skeleton frames
(the slower stream), over the path's cells: ``mean |i - w(j)|`` where ``w(j)`` is the true
skeleton frame of warped inertial frame ``j``.

Methods, in one run on the same pairs:

* ``ctw`` -- :func:`mmalign.explicit.ctw` with its defaults;
* ``gctw`` -- :func:`mmalign.explicit.gctw` on the pair (path read back through the common axis);
* ``gctw-3`` -- :func:`mmalign.explicit.gctw` on three streams: skeleton, accelerometer and
  gyroscope, the latter two warped independently; scored on skeleton-accelerometer;
* ``dtw-common`` -- DTW on hand-made common features: skeleton [speed of the right wrist, speed
  of all joints] vs inertial [gyroscope norm, accelerometer deviation from its median],
  z-scored;
* ``tslearn ctw_path`` -- tslearn's CTW with its defaults (the best-known outside implementation).

Second part, two different subjects performing the same action: there is no frame-level truth
(nobody annotated the phases; Kendall's tau of any monotone path against time is ~1, so it
checks nothing). What can be checked: within a trial the skeleton and the inertial stream are
synchronous, so the subject-1 -> subject-2 alignment found from the skeletons (or across
modalities, skeleton of one to inertial of the other) should agree with the one DTW finds
between the two inertial streams, an independent sensor. A linear stretch is the reference.

Run: ``.venv/bin/python benchmarks/ctw_real.py --root /data/utd-mhad/data [--n 40 --seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from mmalign.data import resample


def standardize(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 1e-8, sd, 1.0)


def resample_to(x: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of (T, d) onto n frames spanning the same interval."""
    return resample(x, (np.arange(n) + 0.5) / n)


def random_warp(n: int, rng: np.random.Generator, n_segments: int = 4, lo=0.8, hi=1.25):
    """A monotone piecewise-linear warp of n frames: returns w, the (fractional) original
    frame of every new frame. Cut points at random; each segment's length scaled by a factor
    drawn from [lo, hi]."""
    cuts = np.sort(rng.uniform(0, n - 1, n_segments - 1))
    old = np.concatenate([[0.0], cuts, [n - 1.0]])
    new = np.concatenate([[0.0], np.cumsum(np.diff(old) * rng.uniform(lo, hi, n_segments))])
    m = int(round(new[-1])) + 1
    return np.interp(np.arange(m) * new[-1] / (m - 1), new, old)


def apply_warp(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """y read at the fractional frames w (frame i sits at (i + 0.5) / len(y))."""
    return resample(y, (w + 0.5) / len(y))


def path_error(path: np.ndarray, w: np.ndarray) -> float:
    return float(np.mean(np.abs(path[:, 0] - w[path[:, 1]])))


def common_features(skel: np.ndarray, iner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hand-made features that both streams share: how fast the body / the wrist moves."""
    v = np.gradient(skel, axis=0)  # (T, 20, 3)
    wrist = np.linalg.norm(v[:, 10], axis=1)
    body = np.linalg.norm(v.reshape(len(v), -1), axis=1)
    gyro = np.linalg.norm(iner[:, 3:], axis=1)
    acc = np.linalg.norm(iner[:, :3] - np.median(iner[:, :3], axis=0), axis=1)
    return standardize(np.stack([wrist, body], 1)), standardize(np.stack([gyro, acc], 1))


def gctw_pair_path(res, a: int, b: int, n_a: int) -> np.ndarray:
    """A monotone path between sequences a and b read through gctw's common axis."""
    jb = res.pairwise_path(a, b)  # (n_a,) mean frame of b per frame of a
    jb = np.maximum.accumulate(np.rint(jb).astype(np.int64))
    return np.stack([np.arange(n_a), jb], axis=1)


def matched_frames(path: np.ndarray, n: int) -> np.ndarray:
    """For each of the n frames of the first sequence, the mean frame of the second matched."""
    s = np.zeros(n)
    c = np.zeros(n)
    np.add.at(s, path[:, 0], path[:, 1])
    np.add.at(c, path[:, 0], 1)
    return s / np.maximum(c, 1)


def plot_example(example, path: Path, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trial, w, ours, theirs, common = example
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.plot(np.arange(len(w)), w, "k-", lw=3, alpha=0.35, label="true warp")
    for p, style, name in ((ours, "C0-", "ctw"), (theirs, "C3--", "tslearn ctw_path"),
                           (common, "C2:", "dtw-common")):  # fmt: skip
        ax.plot(p[:, 1], p[:, 0], style, lw=1.2, label=f"{name} ({path_error(p, w):.2f} frames)")
    ax.set(xlabel="warped inertial frame", ylabel="skeleton frame",
           title=f"UTD-MHAD {trial}: skeleton vs warped inertial\n(first of the trials drawn with seed {seed})")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="UTD-MHAD data/ folder (Inertial/, Skeleton/)")
    ap.add_argument("--n", type=int, default=40, help="trials")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-warp", action="store_true", help="score the unwarped pairs as well")
    ap.add_argument("--out", default="runs/benchmarks/ctw_real")
    args = ap.parse_args()

    from tslearn.metrics import ctw_path

    from mmalign.data import read_utd_mhad_trials
    from mmalign.explicit import ctw, dtw_path, gctw

    warnings.simplefilter("ignore", RuntimeWarning)
    trials = read_utd_mhad_trials(args.root)
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(trials), size=args.n, replace=False)
    conditions = ["warp"] + (["none"] if args.no_warp else [])
    errors: dict[str, dict[str, list[float]]] = {c: {} for c in conditions}
    seconds: dict[str, float] = {}

    def record(cond: str, name: str, err: float, t0: float) -> None:
        errors[cond].setdefault(name, []).append(err)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0

    example = None
    for k in chosen:
        r = trials[k]
        skel = r["skeleton"]  # (T, 20, 3)
        x = standardize(skel.reshape(len(skel), -1))
        iner = resample_to(r["inertial"], len(x))
        y0 = standardize(iner)
        cx, cy0 = common_features(skel, iner)
        for cond in conditions:
            w = random_warp(len(x), rng) if cond == "warp" else np.arange(len(x), dtype=float)
            y, cy = apply_warp(y0, w), apply_warp(cy0, w)
            t0 = time.perf_counter()
            record(cond, "ctw", path_error(ctw(x, y).path, w), t0)
            t0 = time.perf_counter()
            g = gctw([x, y])
            record(cond, "gctw", path_error(gctw_pair_path(g, 0, 1, len(x)), w), t0)
            # three streams: skeleton, accelerometer (warp w), gyroscope (its own warp)
            w2 = random_warp(len(x), rng) if cond == "warp" else w
            acc, gyr = apply_warp(y0[:, :3], w), apply_warp(y0[:, 3:], w2)
            t0 = time.perf_counter()
            g3 = gctw([x, acc, gyr])
            record(
                cond,
                "gctw-3 (skel, acc, gyro)",
                path_error(gctw_pair_path(g3, 0, 1, len(x)), w),
                t0,
            )
            t0 = time.perf_counter()
            record(cond, "dtw-common", path_error(dtw_path(cx, cy).path, w), t0)
            t0 = time.perf_counter()
            path, _, _ = ctw_path(x, y)
            record(cond, "tslearn ctw_path", path_error(np.asarray(path), w), t0)
            if example is None and cond == "warp":
                trial = f"a{r['action']}_s{r['subject']}_t{r['trial']}"
                example = (trial, w, ctw(x, y).path, np.asarray(path), dtw_path(cx, cy).path)

    print(
        f"UTD-MHAD, {args.n} trials drawn with seed {args.seed}, skeleton (60) vs inertial (6) "
        "resampled onto the skeleton's frames; error = mean |i - w(j)| over the path's cells, "
        "in skeleton frames\n"
    )
    header = "| method | " + " | ".join(
        f"{c}: mean | {c}: median | {c}: 90th pct" for c in conditions
    )
    print(header + " | seconds / pair |")
    print("|---|" + "---|---|---|" * len(conditions) + "---|")
    n_runs = args.n * len(conditions)
    for name in errors["warp"]:
        cells = []
        for c in conditions:
            e = np.asarray(errors[c][name])
            cells += [f"{e.mean():.2f}", f"{np.median(e):.2f}", f"{np.percentile(e, 90):.2f}"]
        print(f"| {name} | " + " | ".join(cells) + f" | {seconds[name] / n_runs:.3f} |")

    # ---- two subjects, same action: no frame truth. What can be checked: within a trial the
    # skeleton and inertial streams are synchronous, so the subject-1 -> subject-2 alignment
    # found from the skeletons must agree with the one found from the inertial streams, two
    # independent sensors; a linear stretch is the reference.
    by_key = {(r["action"], r["subject"], r["trial"]): r for r in trials}
    agree: dict[str, list[float]] = {}
    for a in range(1, 28):
        ra, rb = by_key.get((a, 1, 1)), by_key.get((a, 2, 1))
        if ra is None or rb is None:
            continue
        (sa, ia), (sb, ib) = (
            (standardize(r["skeleton"].reshape(len(r["skeleton"]), -1)),
             standardize(resample_to(r["inertial"], len(r["skeleton"]))))
            for r in (ra, rb)
        )  # fmt: skip
        ref = matched_frames(dtw_path(ia, ib).path, len(sa))  # inertial A -> inertial B
        for name, path in (
            ("ctw skeleton A -> skeleton B", ctw(sa, sb).path),
            ("ctw skeleton A -> inertial B", ctw(sa, ib).path),
            ("tslearn ctw_path skeleton A -> inertial B", np.asarray(ctw_path(sa, ib)[0])),
            ("linear stretch", np.stack([np.arange(len(sa)), np.rint(
                np.arange(len(sa)) * (len(sb) - 1) / (len(sa) - 1)).astype(int)], 1)),
        ):  # fmt: skip
            agree.setdefault(name, []).append(
                float(np.mean(np.abs(matched_frames(path, len(sa)) - ref)))
            )
    print(
        "\nSubject 1 vs subject 2, trial 1 of each of the 27 actions (no frame-level truth): "
        "mean distance, in skeleton frames of subject 2, between the alignment found and the "
        "one DTW finds between the two inertial streams (an independent sensor)\n"
    )
    print("| alignment of subject 1 to subject 2 | mean | median |")
    print("|---|---|---|")
    for name, v in agree.items():
        print(f"| {name} | {np.mean(v):.2f} | {np.median(v):.2f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_example(example, out / "example.png", args.seed)
    (out / "ctw_real.json").write_text(
        json.dumps(
            {
                "n": args.n,
                "seed": args.seed,
                "errors": errors,
                "seconds": seconds,
                "cross_subject_agreement": agree,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
