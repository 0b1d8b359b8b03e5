"""Soft-DTW loss, value + gradient: mmalign.SoftDTWLoss vs tslearn's SoftDTWLossPyTorch on CPU.

A batch of 32 pairs of 256 x 256 frames, d = 10, float32 inputs (the usual training case),
gamma = 1. Prints the median wall time of forward + backward for each, the speed ratio, and
the gradient error of each against a float64 reference (the plain-numpy Algorithms 1-2 of
Cuturi & Blondel, computed on the first pairs of the batch).

Run: .venv/bin/python benchmarks/soft_dtw.py [--repeats 7] [--threads N] [--wavefront]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# Idle OpenMP threads of torch and numba spin by default; on a shared, busy machine they
# steal the cores from whichever library runs next. Passive waiting is fairer to both.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _time(fn, repeats: int) -> float:
    fn()  # warm-up: numba compilation, allocator
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--reference-pairs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch and numba threads")
    parser.add_argument(
        "--wavefront", action="store_true", help="also time the torch wavefront backend on CPU"
    )
    args = parser.parse_args()

    if args.threads:
        import numba

        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)

    from tslearn.metrics import SoftDTWLossPyTorch

    from mmalign.explicit._soft_dtw import _soft_dtw_reference, _sqeuclidean
    from mmalign.explicit.soft_dtw_torch import SoftDTWLoss

    g = torch.Generator().manual_seed(0)
    shape = (args.batch, args.length, args.dim)
    x = torch.randn(shape, generator=g, dtype=torch.float32)
    y = torch.randn(shape, generator=g, dtype=torch.float32)

    ours = SoftDTWLoss(gamma=args.gamma, reduction="sum")
    theirs = SoftDTWLossPyTorch(gamma=args.gamma)
    wave = SoftDTWLoss(gamma=args.gamma, reduction="sum", backend="wavefront")

    def grad_of(loss_fn, reduce_sum: bool):
        xv = x.clone().requires_grad_(True)
        value = loss_fn(xv, y)
        if reduce_sum:
            value = value.sum()
        (gx,) = torch.autograd.grad(value, xv)
        return gx

    runs = {
        "mmalign SoftDTWLoss (numba, float64)": lambda: grad_of(ours, False),
        "tslearn SoftDTWLossPyTorch": lambda: grad_of(theirs, True),
    }
    if args.wavefront:  # the CUDA path, run on CPU: slow here, for reference only
        runs["mmalign SoftDTWLoss (torch wavefront, CPU)"] = lambda: grad_of(wave, False)
    timings = {name: _time(fn, args.repeats) for name, fn in runs.items()}

    # float64 reference gradients for the first pairs, by the paper's plain recursions
    k = args.reference_pairs
    errors = {}
    grads = {name: fn()[:k].double().numpy() for name, fn in runs.items()}
    ref = []
    for b in range(k):
        xb, yb = x[b].double().numpy(), y[b].double().numpy()
        _, e = _soft_dtw_reference(_sqeuclidean(xb, yb), args.gamma)
        ref.append(2.0 * (e.sum(1)[:, None] * xb - e @ yb))
    ref = np.stack(ref)
    for name, gx in grads.items():
        errors[name] = float(np.abs(gx - ref).max() / np.abs(ref).max())

    print(
        f"soft-DTW value + gradient, batch {args.batch} x {args.length} x {args.length}, "
        f"d = {args.dim}, gamma = {args.gamma}, float32 inputs, "
        f"torch threads {torch.get_num_threads()}"
    )
    base = timings["tslearn SoftDTWLossPyTorch"]
    for name, t in timings.items():
        print(
            f"  {name:45s} {t * 1e3:9.1f} ms   speed vs tslearn {base / t:6.2f}x   "
            f"max rel. grad error {errors[name]:.1e}"
        )
    ratio = base / timings["mmalign SoftDTWLoss (numba, float64)"]
    print(f"ratio (tslearn time / mmalign time): {ratio:.2f}x (target >= 10x)")


if __name__ == "__main__":
    main()
