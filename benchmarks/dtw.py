"""Benchmark of the DTW core against tslearn, dtaidistance, dtw-python and librosa.

Prints one table: the time of mmalign and of each peer on the same input (best of a few
runs, numba compilation excluded) and the ratio peer / mmalign (> 1: mmalign is faster).
Also the exact linear-memory path between two 100,000-frame sequences with its peak memory,
and the numba first-call latency (cold: empty on-disk cache; warm: cache filled).

    python benchmarks/dtw.py            # full sizes (the 100k path takes about a minute)
    python benchmarks/dtw.py --quick    # small sizes, a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# this file is called dtw.py: keep its folder off sys.path so that "import dtw" is dtw-python
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

ROWS: list[tuple[str, str, float, float | None]] = []


def best_time(fn, repeat: int = 3) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def row(task: str, ours: float, peer_name: str, peer: float | None) -> None:
    ratio = None if peer is None else peer / ours
    ROWS.append((task, peer_name, ours, peer))
    peer_s = "n/a" if peer is None else f"{peer * 1e3:10.1f}"
    ratio_s = "n/a" if ratio is None else f"{ratio:6.2f}x"
    print(f"{task:<44} {ours * 1e3:10.1f} {peer_name:<30} {peer_s:>10} {ratio_s:>8}", flush=True)


def try_import(name: str):
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


def bench_distance(n: int) -> None:
    from mmalign.explicit._dtw import dtw

    rng = np.random.default_rng(0)
    x, y = np.cumsum(rng.normal(size=n)), np.cumsum(rng.normal(size=n))
    dtw(x[:5], y[:5], step_pattern="symmetric1")
    ours, v = best_time(lambda: dtw(x, y, step_pattern="symmetric1"))
    task = f"distance, univariate {n}x{n}"
    dd = try_import("dtaidistance.dtw")
    if dd is not None:
        t, ref = best_time(lambda: dd.distance_fast(x, y))
        assert np.isclose(ref**2, v), (ref**2, v)
        row(task, ours, "dtaidistance distance_fast", t)
    tsm = try_import("tslearn.metrics")
    if tsm is not None:
        tsm.dtw(x[:5], y[:5])
        t, ref = best_time(lambda: tsm.dtw(x, y), repeat=1)
        assert np.isclose(ref**2, v)
        row(task, ours, "tslearn dtw", t)


def bench_path(n: int, d: int) -> None:
    from mmalign.explicit._dtw import dtw_path

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    dtw_path(x[:5], y[:5], step_pattern="symmetric1")
    ours, a = best_time(lambda: dtw_path(x, y, step_pattern="symmetric1"))
    task = f"path, d={d} {n}x{n}"
    peers: dict[str, float] = {}
    tsm = try_import("tslearn.metrics")
    if tsm is not None:
        tsm.dtw_path(x[:5], y[:5])
        t, (_, dist) = best_time(lambda: tsm.dtw_path(x, y), repeat=1)
        assert np.isclose(dist**2, a.cost)
        peers["tslearn dtw_path"] = t
    dtwpy = try_import("dtw")
    if dtwpy is not None:
        t, r = best_time(
            lambda: dtwpy.dtw(x, y, dist_method="sqeuclidean", step_pattern=dtwpy.symmetric1),
            repeat=1,
        )
        assert np.isclose(r.distance, a.cost)
        peers["dtw-python dtw"] = t
    seq = try_import("librosa.sequence")
    if seq is not None:
        seq.dtw(x[:5].T, y[:5].T, metric="sqeuclidean")
        t, (acc, _) = best_time(lambda: seq.dtw(x.T, y.T, metric="sqeuclidean"), repeat=1)
        assert np.isclose(acc[-1, -1], a.cost)
        peers["librosa sequence.dtw"] = t
    for name, t in peers.items():
        row(task, ours, name, t)
    if peers:
        name = min(peers, key=peers.get)
        row(task + " (fastest peer)", ours, name, peers[name])


def bench_cdist(count: int, length: int) -> None:
    from mmalign.explicit._dtw import cdist_dtw

    rng = np.random.default_rng(2)
    X = [np.cumsum(rng.normal(size=length)) for _ in range(count)]
    cdist_dtw(X[:3], step_pattern="symmetric1")
    ours, v = best_time(lambda: cdist_dtw(X, step_pattern="symmetric1"))
    task = f"cdist, {count} series of {length} (parallel)"
    dd = try_import("dtaidistance.dtw")
    if dd is not None:
        t, ref = best_time(lambda: dd.distance_matrix_fast(X, parallel=True, compact=False))
        iu = np.triu_indices(count, 1)
        assert np.allclose(ref[iu] ** 2, v[iu])
        row(task, ours, "dtaidistance matrix_fast", t)


_LONG = """
import json, resource, sys, time, tracemalloc
import numpy as np
from mmalign.explicit._dtw import dtw_path
n = int(sys.argv[1])
dtw_path(np.zeros(3), np.zeros(3), memory="linear")  # compile outside the measurement
rng = np.random.default_rng(3)
x = np.cumsum(rng.normal(size=n))
y = np.interp(np.linspace(0, n - 1, n), np.arange(n) ** 1.02 / (n - 1) ** 0.02, x)
def hwm():  # peak RSS in bytes; ru_maxrss can carry the parent's peak over fork + exec
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
before = hwm()
tracemalloc.start()
t0 = time.perf_counter()
a = dtw_path(x, y, step_pattern="symmetric2", memory="linear")
dt = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"seconds": dt, "peak_traced": peak, "max_rss": hwm(), "rss_before": before,
                  "cost": a.cost, "path_length": len(a.path)}))
"""


def bench_long(n: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LONG, str(n)], capture_output=True, text=True, check=True
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"linear-memory exact path {n}x{n}: {res['seconds']:.1f} s, peak traced "
        f"{res['peak_traced'] / 2**20:.1f} MiB, peak RSS of the process "
        f"{res['max_rss'] / 2**20:.0f} MiB (target < 1024; {res['rss_before'] / 2**20:.0f} MiB "
        f"before the call: Python, numpy, numba), path length {res['path_length']}",
        flush=True,
    )


_FIRST = """
import time
t0 = time.perf_counter()
import numpy as np
from mmalign.explicit._dtw import cdist_dtw, dtw, dtw_path
t1 = time.perf_counter()
dtw_path(np.zeros(4), np.ones(5))
t2 = time.perf_counter()
dtw(np.zeros(4), np.ones(5))
dtw_path(np.zeros(4), np.ones(5), memory="linear")
t3 = time.perf_counter()
cdist_dtw([np.zeros(4), np.ones(5)])
t4 = time.perf_counter()
print(f"import {t1 - t0:.2f} s, first dtw_path {t2 - t1:.2f} s, dtw + linear path "
      f"{t3 - t2:.2f} s, cdist_dtw {t4 - t3:.2f} s")
"""


def bench_first_call() -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold (empty numba cache)", "warm (on-disk cache)"):
            out = subprocess.run(
                [sys.executable, "-c", _FIRST], capture_output=True, text=True, env=env,
                check=True,
            )  # fmt: skip
            print(f"first call, {label}: {out.stdout.strip()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--long-frames", type=int, default=None)
    args = parser.parse_args()
    q = args.quick
    print(f"{'task':<44} {'mmalign ms':>10} {'peer':<30} {'peer ms':>10} {'ratio':>8}")
    bench_distance(500 if q else 4000)
    bench_path(300 if q else 2000, 20)
    bench_cdist(30 if q else 200, 100)
    bench_long(args.long_frames or (5000 if q else 100_000))
    bench_first_call()


if __name__ == "__main__":
    main()
