"""Figure of a DTW alignment: the local cost matrix with the optimal path drawn over it."""

from __future__ import annotations

import os

import numpy as np

from mmalign._utils import atomic_path

# Above this many cells the cost matrix is drawn at a reduced resolution.
_MAX_CELLS = 1 << 22


def plot_alignment(
    cost: np.ndarray | None,
    path: np.ndarray,
    shape: tuple[int, int],
    out: str | os.PathLike,
    *,
    title: str = "",
) -> None:
    """Save a PNG of ``cost`` (n, m) with ``path`` (k, 2) on top; written atomically.

    ``cost`` may be None (only the path is drawn). Uses the Agg backend, so it runs headless.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, m = shape
    fig, ax = plt.subplots(figsize=(6, 6 * min(max(n / m, 0.3), 3)))
    try:
        if cost is not None:
            step = max(1, int(np.ceil(np.sqrt(cost.size / _MAX_CELLS))))
            shown = cost[::step, ::step]
            finite = np.isfinite(shown)
            vmax = np.percentile(shown[finite], 99) if finite.any() else 1.0
            im = ax.imshow(
                np.where(finite, shown, np.nan), origin="lower", aspect="auto",
                cmap="viridis", vmax=vmax, extent=(-0.5, m - 0.5, -0.5, n - 0.5),
                interpolation="nearest",
            )  # fmt: skip
            fig.colorbar(im, ax=ax, label="local cost")
        ax.plot(path[:, 1], path[:, 0], color="red", lw=1.2, label="optimal path")
        ax.set_xlim(-0.5, m - 0.5)
        ax.set_ylim(-0.5, n - 0.5)
        ax.set_xlabel("y frame (j)")
        ax.set_ylabel("x frame (i)")
        ax.legend(loc="upper left")
        if title:
            ax.set_title(title)
        fig.tight_layout()
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
