"""``mmalign dtw``: align two sequences stored in .npy / .csv / .txt files."""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path

_SUFFIXES = (".npy", ".csv", ".txt", ".tsv")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dtw",
        help="dynamic time warping between two sequences (.npy/.csv/.txt)",
        description=(
            "Align sequence X onto sequence Y with DTW: prints the cost, writes the path as "
            "JSON (-o) and draws the cost matrix with the path (--plot). Files hold one frame "
            "per row (.npy: an array of shape (n,) or (n, d); .csv/.txt/.tsv: a numeric table, "
            "an optional header line is skipped)."
        ),
    )
    p.add_argument("x", metavar="X", help="query sequence file")
    p.add_argument("y", metavar="Y", help="reference sequence file")
    p.add_argument(
        "--metric",
        default="sqeuclidean",
        choices=["sqeuclidean", "euclidean", "cityblock", "cosine"],
        help="local cost (default: %(default)s)",
    )
    p.add_argument(
        "--step-pattern",
        default="symmetric2",
        choices=["symmetric1", "symmetric2", "asymmetric"],
        help="step pattern (default: %(default)s)",
    )
    win = p.add_mutually_exclusive_group()
    win.add_argument("--band", type=float, metavar="RADIUS", help="Sakoe-Chiba band half-width")
    win.add_argument("--itakura", type=float, metavar="SLOPE", help="Itakura max slope, e.g. 2")
    p.add_argument("--open-begin", action="store_true", help="free start on Y (asymmetric only)")
    p.add_argument("--open-end", action="store_true", help="free end on Y")
    p.add_argument(
        "--memory", default="auto", choices=["auto", "full", "linear"], help="(default: auto)"
    )
    p.add_argument("-o", "--output", metavar="JSON", help="write the path and costs as JSON")
    p.add_argument("--plot", metavar="PNG", help="draw the cost matrix and the path")
    p.set_defaults(func=_run)


def load_sequence(path: str | Path, name: str):
    """Read a sequence file into a float array of shape (n,) or (n, d)."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name} file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"{name} file {path} has an unsupported extension {suffix!r}; use one of "
            f"{', '.join(_SUFFIXES)}."
        )
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty or cut file
            raise ValueError(
                f"{name} file {path} is not a valid .npy array ({exc}); write it with "
                "numpy.save (numbers only: object arrays are refused, they could run code)."
            ) from exc
    else:
        delimiter = "," if suffix == ".csv" else None
        arr = None
        for skip in (0, 1):  # an optional header line
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
                    arr = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=1, dtype=float)
                break
            except ValueError as exc:
                error = exc
        if arr is None:
            raise ValueError(
                f"{name} file {path} is not a numeric table ({error}); write one frame per "
                f"line, features separated by {'commas' if delimiter else 'spaces'}."
            )
    if arr.size == 0:
        raise ValueError(f"{name} file {path} holds no numbers; it needs at least one frame.")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr


_PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before any work on an output that cannot be written."""
    outputs = (("-o", args.output, (".json",)), ("--plot", args.plot, _PLOT_SUFFIXES))
    for flag, value, suffixes in outputs:
        if value is None:
            continue
        path = Path(value)
        if path.is_dir():
            raise ValueError(f"{flag} {value!r} is a folder; name the file to write.")
        if path.suffix.lower() not in suffixes:
            raise ValueError(
                f"{flag} {value!r}: unsupported suffix {path.suffix!r}; use "
                f"{' or '.join(suffixes)}."
            )


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from mmalign._utils import atomic_write
    from mmalign.explicit._dtw import cost_matrix, dtw_path

    _check_outputs(args)
    x = load_sequence(args.x, "X")
    y = load_sequence(args.y, "Y")
    a = dtw_path(
        x,
        y,
        metric=args.metric,
        step_pattern=args.step_pattern,
        radius=args.band,
        max_slope=args.itakura,
        open_begin=args.open_begin,
        open_end=args.open_end,
        memory=args.memory,
    )
    n, m = a.shape
    norm = None if math.isnan(a.normalized_cost) else a.normalized_cost
    print(f"cost {a.cost:.10g}")
    print(f"normalized_cost {'n/a' if norm is None else f'{norm:.10g}'} ({a.step_pattern})")
    print(f"shape {n}x{m}, path length {len(a.path)}")
    if args.output:
        result = {
            "x": str(args.x),
            "y": str(args.y),
            "shape": [n, m],
            "metric": args.metric,
            "step_pattern": a.step_pattern,
            "cost": a.cost,
            "normalized_cost": norm,
            "path": a.path.tolist(),
        }
        with atomic_write(args.output) as fh:
            json.dump(result, fh)
            fh.write("\n")
        print(f"wrote {args.output}")
    if args.plot:
        from mmalign.explicit._plot_dtw import plot_alignment

        cost = None
        if n * m <= 1 << 24:
            cost = cost_matrix(x, y, metric=args.metric)
        title = f"DTW {Path(args.x).name} vs {Path(args.y).name}: cost {a.cost:.4g}"
        plot_alignment(cost, np.asarray(a.path), (n, m), args.plot, title=title)
        print(f"wrote {args.plot}")
    return 0
