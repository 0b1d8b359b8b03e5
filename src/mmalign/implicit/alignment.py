"""Reading alignments back out of a model's attention maps, scoring and drawing them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmalign.implicit.outputs import ModelOutput

__all__ = [
    "AttentionAlignment",
    "AlignmentScore",
    "attention_alignment",
    "alignment_accuracy",
    "plot_alignment",
]


@dataclass
class AttentionAlignment:
    """A soft and a hard alignment of a target modality onto a source modality.

    Attributes
    ----------
    soft : Tensor of shape (B, T_target, T_source)
        Attention weights averaged over the chosen layers and heads (rows sum to 1 over the
        source for cross-attention blocks of their own; see the model's notes otherwise).
    hard : LongTensor of shape (B, T_target)
        ``soft.argmax(-1)``: the source step each target step attends to most.
    target, source : str
        The modality names.
    """

    soft: Tensor
    hard: Tensor
    target: str
    source: str


@dataclass
class AlignmentScore:
    """How well attention peaks and mass fall inside the true source intervals.

    Attributes
    ----------
    peak_accuracy : float
        Fraction of scored target steps whose attention peak lies inside ``[start, end)``.
    mass : float
        Mean over scored target steps of the attention mass inside ``[start, end)``.
    per_sample_peak, per_sample_mass : ndarray of shape (B,)
        The same, per sample.
    n_scored : int
        Number of target steps scored.
    """

    peak_accuracy: float
    mass: float
    per_sample_peak: np.ndarray
    per_sample_mass: np.ndarray
    n_scored: int


def attention_alignment(
    output: ModelOutput,
    *,
    target: str,
    source: str,
    layers: str | int | Sequence[int] = "last",
    heads: str | int | Sequence[int] = "mean",
) -> AttentionAlignment:
    """Average attention maps of one (target, source) pair into an alignment.

    Parameters
    ----------
    output : ModelOutput
        From a forward pass with ``return_attention=True``.
    target, source : str
        Modality names; ``output.attentions[(target, source)]`` must exist.
    layers : "last", "all", int or sequence of int, default "last"
        Which layers to average (indices into the per-layer list; negatives allowed).
    heads : "mean", int or sequence of int, default "mean"
        Which heads to average ("mean" = all).

    Returns
    -------
    AttentionAlignment
        ``soft`` (B, T_target, T_source), ``hard`` (B, T_target).

    Examples
    --------
    >>> import torch
    >>> from mmalign.implicit import ModelOutput, attention_alignment
    >>> w = torch.tensor([[[[0.9, 0.1], [0.2, 0.8]]]])  # (B=1, H=1, 2, 2)
    >>> out = ModelOutput(torch.zeros(1, 1), torch.zeros(1, 1), {("a", "b"): [w]})
    >>> attention_alignment(out, target="a", source="b").hard.tolist()
    [[0, 1]]
    """
    if not isinstance(output, ModelOutput):
        raise TypeError(f"output must be a ModelOutput, got {type(output).__name__}.")
    key = (target, source)
    if key not in output.attentions:
        if not output.attentions:
            raise ValueError(
                "output.attentions is empty; call the model with return_attention=True."
            )
        raise ValueError(
            f"No attention maps for (target, source) = {key}; available pairs are "
            f"{sorted(output.attentions)}."
        )
    maps = output.attentions[key]
    n = len(maps)
    if isinstance(layers, str):
        if layers == "last":
            idx = [n - 1]
        elif layers == "all":
            idx = list(range(n))
        else:
            raise ValueError(
                f"layers must be 'last', 'all', an int or a list of ints, got {layers!r}."
            )
    else:
        idx = [layers] if isinstance(layers, int) else list(layers)
        if not idx or any((not isinstance(i, int)) or not -n <= i < n for i in idx):
            raise ValueError(
                f"layers must index the {n} layers of {key} (in [-{n}, {n})), got {layers!r}."
            )
    stacked = torch.stack([maps[i].detach() for i in idx]).mean(0)  # (B, H, Tt, Ts)
    n_heads = stacked.shape[1]
    if isinstance(heads, str):
        if heads != "mean":
            raise ValueError(f"heads must be 'mean', an int or a list of ints, got {heads!r}.")
        soft = stacked.mean(1)
    else:
        h_idx = [heads] if isinstance(heads, int) else list(heads)
        if not h_idx or any((not isinstance(i, int)) or not -n_heads <= i < n_heads for i in h_idx):
            raise ValueError(
                f"heads must index the {n_heads} heads (in [-{n_heads}, {n_heads})), got {heads!r}."
            )
        soft = stacked[:, h_idx].mean(1)
    return AttentionAlignment(soft=soft, hard=soft.argmax(-1), target=target, source=source)


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().float().numpy()
    return np.asarray(x)


def alignment_accuracy(
    alignment: AttentionAlignment | Tensor | np.ndarray,
    true_intervals: Sequence[Any],
    lengths: Sequence[int] | Tensor | np.ndarray | None = None,
) -> AlignmentScore:
    """Score an alignment against true source intervals.

    Parameters
    ----------
    alignment : AttentionAlignment, or its soft array of shape (B, T_target, T_source)
    true_intervals : sequence of B int arrays of shape (T_target_valid, 2)
        Per sample and target step, the true ``[start, end)`` source indices.
    lengths : sequence of B ints, optional
        Valid target lengths: only the first ``lengths[b]`` rows of ``true_intervals[b]`` are
        scored. None = every row.

    Returns
    -------
    AlignmentScore
        ``peak_accuracy`` = fraction of target steps whose argmax lies in the interval;
        ``mass`` = mean attention mass inside the interval.

    Examples
    --------
    >>> import numpy as np
    >>> soft = np.array([[[0.7, 0.3, 0.0], [0.1, 0.3, 0.6]]])
    >>> s = alignment_accuracy(soft, [np.array([[0, 1], [1, 3]])])
    >>> round(s.peak_accuracy, 2), round(s.mass, 2)
    (1.0, 0.8)
    """
    soft = alignment.soft if isinstance(alignment, AttentionAlignment) else alignment
    soft = _as_numpy(soft)
    if soft.ndim != 3:
        raise ValueError(f"alignment must be (B, T_target, T_source), got shape {soft.shape}.")
    b, t_t, t_s = soft.shape
    if len(true_intervals) != b:
        raise ValueError(
            f"true_intervals must hold one array per sample ({b}), got {len(true_intervals)}."
        )
    if lengths is not None:
        lengths = [int(v) for v in _as_numpy(lengths).reshape(-1)]
        if len(lengths) != b:
            raise ValueError(f"lengths must hold {b} values, got {len(lengths)}.")
    peaks, masses, total = np.zeros(b), np.zeros(b), 0
    hits_all, mass_all = 0.0, 0.0
    for i in range(b):
        iv = np.asarray(true_intervals[i])
        if iv.ndim != 2 or iv.shape[1] != 2 or not np.issubdtype(iv.dtype, np.integer):
            raise ValueError(
                f"true_intervals[{i}] must be an int array of shape (T_target_valid, 2), got "
                f"{iv.dtype} {iv.shape}."
            )
        n = iv.shape[0] if lengths is None else lengths[i]
        if n > iv.shape[0] or n > t_t or n < 1:
            raise ValueError(
                f"sample {i}: {n} target steps to score, but true_intervals has {iv.shape[0]} rows "
                f"and the alignment {t_t} target steps."
            )
        iv = iv[:n]
        if np.any(iv[:, 0] < 0) or np.any(iv[:, 1] > t_s) or np.any(iv[:, 1] <= iv[:, 0]):
            raise ValueError(
                f"true_intervals[{i}] must satisfy 0 <= start < end <= {t_s} (T_source)."
            )
        rows = soft[i, :n]  # (n, T_s)
        cols = np.arange(t_s)[None, :]
        inside = (cols >= iv[:, :1]) & (cols < iv[:, 1:])
        peak = rows.argmax(-1)
        hit = (peak >= iv[:, 0]) & (peak < iv[:, 1])
        mass = (rows * inside).sum(-1)
        peaks[i], masses[i] = hit.mean(), mass.mean()
        hits_all += hit.sum()
        mass_all += mass.sum()
        total += n
    return AlignmentScore(
        peak_accuracy=float(hits_all / total),
        mass=float(mass_all / total),
        per_sample_peak=peaks,
        per_sample_mass=masses,
        n_scored=total,
    )


def plot_alignment(
    soft: Any,
    true_intervals: Any = None,
    ax: Any = None,
    *,
    title: str | None = None,
    target_label: str = "target",
    source_label: str = "source",
    cmap: str = "viridis",
    target_ticks: Any = None,
    source_ticks: Any = None,
    colorbar: bool = True,
) -> Any:
    """Heatmap of one alignment (T_target, T_source) with the true intervals drawn over it.

    Consecutive target rows that share their true interval (the frames of one spoken word, of
    one image) are outlined as ONE box, so that a long audio or video target shows a box per
    word instead of a stack of one-row boxes that hides the heatmap.

    Parameters
    ----------
    soft : array or Tensor of shape (T_target, T_source)
        One sample (e.g. ``alignment.soft[0]``).
    true_intervals : int array of shape (T_target_valid, 2), optional
        ``[start, end)`` source indices per target row, outlined in red.
    ax : matplotlib Axes, optional
        Created if None.
    target_ticks, source_ticks : list of str, optional
        A label per row / column (e.g. the words of a text stream), drawn on that axis instead
        of frame numbers.
    colorbar : bool
        Add a colorbar (attention weight) beside ``ax``.

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    arr = _as_numpy(soft)
    if arr.ndim != 2:
        raise ValueError(
            f"soft must be one (T_target, T_source) map, got shape {arr.shape}; pass soft[b]."
        )
    im = ax.imshow(arr, aspect="auto", origin="lower", cmap=cmap, interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.05, pad=0.02, label="attention")
    if true_intervals is not None:
        from matplotlib.patches import Rectangle

        iv = np.asarray(true_intervals)
        if iv.ndim != 2 or iv.shape[1] != 2:
            raise ValueError(f"true_intervals must have shape (T_target_valid, 2), got {iv.shape}.")
        for first, last, (start, end) in _runs(iv):
            if end <= start:
                continue
            ax.add_patch(
                Rectangle(
                    (start - 0.5, first - 0.5),
                    end - start,
                    last - first + 1,
                    fill=False,
                    edgecolor="red",
                    lw=1.2,
                )
            )
    for ticks, n, set_ticks, set_labels, name in (
        (target_ticks, arr.shape[0], ax.set_yticks, ax.set_yticklabels, "target_ticks"),
        (source_ticks, arr.shape[1], ax.set_xticks, ax.set_xticklabels, "source_ticks"),
    ):
        if ticks is None:
            continue
        ticks = [str(t) for t in ticks]
        if len(ticks) != n:
            raise ValueError(f"{name} needs one label per position ({n}), got {len(ticks)}.")
        set_ticks(range(n))
        set_labels(ticks, fontsize=8)
    if target_ticks is None:
        ax.yaxis.get_major_locator().set_params(integer=True)
    if source_ticks is None:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(source_label)
    ax.set_ylabel(target_label)
    if title:
        ax.set_title(title)
    return ax


def _runs(intervals: np.ndarray) -> list[tuple[int, int, tuple[int, int]]]:
    """``(first_row, last_row, (start, end))`` for each run of rows with the same interval."""
    runs: list[tuple[int, int, tuple[int, int]]] = []
    for row, (start, end) in enumerate(intervals.tolist()):
        if runs and runs[-1][2] == (start, end) and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row, (start, end))
        else:
            runs.append((row, row, (start, end)))
    return runs
