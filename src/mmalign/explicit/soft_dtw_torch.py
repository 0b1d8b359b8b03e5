"""``SoftDTWLoss``: a batched soft-DTW loss for torch, on CPU and CUDA.

Sequences of unequal lengths come as padded ``(B, T, D)`` tensors plus lengths, or as lists
of ``(T_b, D)`` tensors. Costs are squared euclidean; everything is computed in float64
whatever the input dtype (the result is cast back). Two backends, as custom autograd
functions:

- ``"numba"`` (the default on CPU): SIMD-vectorised float64 kernels of ``_soft_kernels.py``
  (anti-diagonals, costs computed on the fly, gradients with respect to x and y computed
  in the backward kernel), parallel over the batch in ``torch.get_num_threads()`` threads;
- ``"wavefront"`` (the default on CUDA): pure torch on a cost tensor built with torch (the
  chain rule to the inputs is autograd's), one vectorised step per anti-diagonal
  ``i + j = s`` (every cell of a diagonal depends only on the two previous diagonals), over
  the whole batch at once. It runs on any device; the tests check it on CPU against numba.

References
----------
.. [1] M. Cuturi and M. Blondel, "Soft-DTW: a Differentiable Loss Function for Time-Series",
   ICML 2017.
.. [2] M. Blondel, A. Mensch and J.-P. Vert, "Differentiable Divergences Between Time Series",
   AISTATS 2021.
.. [3] M. Maghoumi et al., "DeepNAG: Deep Non-Adversarial Gesture Generation", IUI 2021
   (anti-diagonal CUDA soft-DTW).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from mmalign._utils import check_option
from mmalign.explicit._soft_dtw import _check_bandwidth, _check_gamma

__all__ = ["SoftDTWLoss", "soft_dtw_batch"]

_BACKENDS = ("auto", "numba", "wavefront")
_REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------- wavefront (torch)


def _band(nx: Tensor, ny: Tensor, radius: int) -> tuple[Tensor, Tensor]:
    """Per-item allowed range ``[lo, hi]`` of ``j - i`` (see ``_soft_kernels.band_limits``)."""
    if radius < 0:
        return -nx - 1, ny + 1
    diff = ny - nx
    return -radius + diff.clamp(max=0), radius + diff.clamp(min=0)


def _skew_indices(n_max: int, m_max: int, device) -> tuple[Tensor, Tensor]:
    """Grids ``(i + j, i)`` of shape (N, M) for 1-based cells: where ``(i, j)`` sits when skewed."""
    i = torch.arange(1, n_max + 1, device=device)[:, None].expand(n_max, m_max)
    j = torch.arange(1, m_max + 1, device=device)[None, :].expand(n_max, m_max)
    return i + j, i


def _wavefront_forward(
    cost: Tensor, nx: Tensor, ny: Tensor, gamma: float, radius: int
) -> tuple[Tensor, Tensor]:
    """Soft-DTW values (B,) and skewed soft-min weights, one anti-diagonal at a time.

    Matrices are stored skewed, ``A[b, i + j, i] = A_ij`` (1-based cells), so that each
    anti-diagonal and its predecessors are contiguous slices: no gather inside the loop.
    Returns the weights as (B, 3, N + M + 3, N + 2).
    """
    b_size, n_max, m_max = cost.shape
    dev, dt = cost.device, cost.dtype
    n_diag = n_max + m_max + 3
    s_idx, i_idx = _skew_indices(n_max, m_max, dev)
    c = torch.zeros((b_size, n_diag, n_max + 2), device=dev, dtype=dt)
    c[:, s_idx, i_idx] = cost
    r = torch.full((b_size, n_diag, n_max + 2), float("inf"), device=dev, dtype=dt)
    r[:, 0, 0] = 0.0
    w = torch.zeros((b_size, 3, n_diag, n_max + 2), device=dev, dtype=dt)
    lo, hi = _band(nx, ny, radius)
    lo, hi, nxc, nyc = lo[:, None], hi[:, None], nx[:, None], ny[:, None]  # (B, 1)
    inf = torch.tensor(float("inf"), device=dev, dtype=dt)
    zero = torch.zeros((), device=dev, dtype=dt)
    one = torch.ones((), device=dev, dtype=dt)
    for s in range(2, n_max + m_max + 1):
        i0, i1 = max(1, s - m_max), min(n_max, s - 1)  # rows i0..i1 of this diagonal
        i = torch.arange(i0, i1 + 1, device=dev)
        j = s - i
        r0 = r[:, s - 2, i0 - 1 : i1]  # (i-1, j-1), (B, L)
        r1 = r[:, s - 1, i0 - 1 : i1]  # (i-1, j)
        r2 = r[:, s - 1, i0 : i1 + 1]  # (i, j-1)
        rmin = torch.minimum(r0, torch.minimum(r1, r2))
        valid = (j - i >= lo) & (j - i <= hi) & (i <= nxc) & (j <= nyc) & torch.isfinite(rmin)
        safe_min = torch.where(valid, rmin, zero)
        e = torch.exp((safe_min[:, None] - torch.stack((r0, r1, r2), 1)) / gamma)  # (B, 3, L)
        e = torch.where(valid[:, None], e, zero)
        total = torch.where(valid, e.sum(1), one)
        value = c[:, s, i0 : i1 + 1] + safe_min - gamma * torch.log(total)
        r[:, s, i0 : i1 + 1] = torch.where(valid, value, inf)
        w[:, :, s, i0 : i1 + 1] = e / total[:, None]
    batch = torch.arange(b_size, device=dev)
    return r[batch, nx + ny, nx], w


def _wavefront_backward(w: Tensor, nx: Tensor, ny: Tensor, m_max: int) -> Tensor:
    """Soft alignment matrices (B, N, M) from the skewed weights, one anti-diagonal at a time."""
    b_size, _, n_diag, n2 = w.shape
    n_max = n2 - 2
    dev = w.device
    e = torch.zeros((b_size, n_diag, n2), device=dev, dtype=w.dtype)
    batch = torch.arange(b_size, device=dev)
    e[batch, nx + ny, nx] = 1.0
    nxc, nyc = nx[:, None], ny[:, None]
    for s in range(n_max + m_max - 1, 1, -1):
        i0, i1 = max(1, s - m_max), min(n_max, s - 1)
        i = torch.arange(i0, i1 + 1, device=dev)
        new = (
            e[:, s + 2, i0 + 1 : i1 + 2] * w[:, 0, s + 2, i0 + 1 : i1 + 2]  # from (i+1, j+1)
            + e[:, s + 1, i0 + 1 : i1 + 2] * w[:, 1, s + 1, i0 + 1 : i1 + 2]  # from (i+1, j)
            + e[:, s + 1, i0 : i1 + 1] * w[:, 2, s + 1, i0 : i1 + 1]  # from (i, j+1)
        )
        corner = (i == nxc) & (s - i == nyc)
        e[:, s, i0 : i1 + 1] = torch.where(corner, e[:, s, i0 : i1 + 1], new)
    s_idx, i_idx = _skew_indices(n_max, m_max, dev)
    return e[:, s_idx, i_idx]


# --------------------------------------------------------------------------- autograd function


class _SoftDTWWavefront(torch.autograd.Function):
    """values (B,) = sdtw(cost (B, N, M)) by anti-diagonals; grad = grad_output * E."""

    @staticmethod
    def forward(ctx, cost: Tensor, nx: Tensor, ny: Tensor, gamma: float, radius: int):
        values, w = _wavefront_forward(cost.detach(), nx, ny, gamma, radius)
        ctx.save_for_backward(w, nx, ny)
        ctx.m_max = cost.shape[2]
        return values

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        w, nx, ny = ctx.saved_tensors
        e = _wavefront_backward(w, nx, ny, ctx.m_max)
        return grad_output[:, None, None] * e, None, None, None, None


def _in_threads(kernel, b_size: int, *args) -> None:
    """Run ``kernel(*args, b0, b1)`` over contiguous slices of the batch in Python threads.

    The kernels release the GIL. Plain threads rather than a numba ``prange``: numba's
    OpenMP team is the one torch uses (same libgomp), and the two spinning in turn cost
    more than the kernels themselves. The thread count follows ``torch.get_num_threads()``.
    """
    n_threads = max(1, min(b_size, torch.get_num_threads()))
    if n_threads == 1:
        kernel(*args, 0, b_size)
        return
    bounds = np.linspace(0, b_size, n_threads + 1).astype(np.int64)
    with ThreadPoolExecutor(n_threads) as pool:
        futures = [pool.submit(kernel, *args, bounds[k], bounds[k + 1]) for k in range(n_threads)]
        for f in futures:
            f.result()


class _SoftDTWSqEuclideanNumba(torch.autograd.Function):
    """values (B,) = sdtw(||x_i - y_j||^2) on CPU, by the vectorised numba kernels.

    The costs are computed inside the forward kernel and the backward kernel turns each
    pair's soft alignment (one transient (n, m) matrix per thread) straight into
    ``grad_x = 2 sum_j E_ij (x_i - y_j)`` (and the same for y): no (B, N, M) cost or
    alignment tensor is built; only R is kept between the passes, in compact skewed storage.
    """

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, nx: Tensor, ny: Tensor, gamma: float, radius: int):
        from mmalign.explicit._soft_kernels import soft_dtw_sqeuclidean_forward_range

        nx_np = nx.cpu().numpy().astype(np.int64)
        ny_np = ny.cpu().numpy().astype(np.int64)
        # copies: the backward pass must see the inputs as they were, even if edited in place
        x_np = np.array(x.detach().cpu().numpy(), dtype=np.float64, order="C")
        y_np = np.array(y.detach().cpu().numpy(), dtype=np.float64, order="C")
        if not np.isfinite(x_np.sum() + y_np.sum()):  # a float64 sum of finite values is finite
            raise ValueError("x or y holds NaN or inf; remove or interpolate missing values first.")
        b_size = x_np.shape[0]
        r = np.empty((b_size, x_np.shape[1] * y_np.shape[1]))
        values = np.empty(b_size)
        _in_threads(
            soft_dtw_sqeuclidean_forward_range,
            b_size,
            x_np,
            y_np,
            nx_np,
            ny_np,
            gamma,
            radius,
            r,
            values,
        )
        ctx.numba_state = (r, x_np, y_np, nx_np, ny_np, gamma)
        ctx.meta = (x.device, x.dtype, y.dtype)
        return torch.from_numpy(values).to(device=x.device, dtype=x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        from mmalign.explicit._soft_kernels import soft_dtw_sqeuclidean_backward_range

        r, x_np, y_np, nx_np, ny_np, gamma = ctx.numba_state
        gx = np.zeros_like(x_np)
        gy = np.zeros_like(y_np)
        _in_threads(
            soft_dtw_sqeuclidean_backward_range,
            len(x_np),
            r,
            x_np,
            y_np,
            nx_np,
            ny_np,
            gamma,
            gx,
            gy,
        )
        device, x_dtype, y_dtype = ctx.meta
        scale = grad_output.detach().cpu().numpy().astype(np.float64)[:, None, None]
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:
            gx *= scale
            grad_x = torch.from_numpy(gx).to(device=device, dtype=x_dtype)
        if ctx.needs_input_grad[1]:
            gy *= scale
            grad_y = torch.from_numpy(gy).to(device=device, dtype=y_dtype)
        return grad_x, grad_y, None, None, None, None


def _soft_dtw_values(x: Tensor, y: Tensor, nx: Tensor, ny: Tensor, gamma, radius, backend):
    if backend == "numba":
        return _SoftDTWSqEuclideanNumba.apply(x, y, nx, ny, gamma, radius)
    return _SoftDTWWavefront.apply(_pairwise_sqeuclidean(x, y), nx, ny, gamma, radius)


# --------------------------------------------------------------------------- input handling


def _as_padded(seqs, lengths, name: str) -> tuple[Tensor, Tensor]:
    """(B, T, D) tensor + lengths (B,) from a padded tensor or a list of (T_b, D) tensors."""
    if isinstance(seqs, Tensor):
        if seqs.ndim == 2:
            seqs = seqs[:, :, None]
        if seqs.ndim != 3:
            raise ValueError(
                f"{name} must be a padded (B, T, D) tensor or a list of (T_b, D) tensors, got a "
                f"tensor of shape {tuple(seqs.shape)}."
            )
        b_size, t_max = seqs.shape[:2]
        if lengths is None:
            lengths = torch.full((b_size,), t_max, dtype=torch.int64)
        else:
            lengths = torch.as_tensor(lengths).to(torch.int64).cpu()
            if lengths.shape != (b_size,):
                raise ValueError(
                    f"{name}_lengths must have shape ({b_size},) to match {name}, got "
                    f"{tuple(lengths.shape)}."
                )
            if b_size and (int(lengths.min()) < 1 or int(lengths.max()) > t_max):
                raise ValueError(
                    f"{name}_lengths must lie in [1, {t_max}] (the padded length of {name}), got "
                    f"values from {int(lengths.min())} to {int(lengths.max())}."
                )
        return seqs, lengths
    if isinstance(seqs, Sequence) and not isinstance(seqs, str):
        if lengths is not None:
            raise ValueError(
                f"{name}_lengths must be None when {name} is a list: the lengths are read from "
                f"the list's tensors."
            )
        if len(seqs) == 0:
            raise ValueError(f"{name} is an empty list; pass at least one sequence.")
        items = []
        for k, s in enumerate(seqs):
            s = torch.as_tensor(s)
            if s.ndim == 1:
                s = s[:, None]
            if s.ndim != 2 or s.shape[0] == 0:
                raise ValueError(
                    f"{name}[{k}] must be a non-empty (T, D) tensor, got shape {tuple(s.shape)}."
                )
            items.append(s)
        lengths = torch.tensor([s.shape[0] for s in items], dtype=torch.int64)
        padded = nn.utils.rnn.pad_sequence(items, batch_first=True)
        return padded, lengths
    raise TypeError(
        f"{name} must be a (B, T, D) tensor or a list of (T_b, D) tensors, got "
        f"{type(seqs).__name__}."
    )


def _pairwise_sqeuclidean(x: Tensor, y: Tensor) -> Tensor:
    """(B, N, D), (B, M, D) -> (B, N, M) squared euclidean costs, differentiable."""
    x2 = (x * x).sum(-1)
    y2 = (y * y).sum(-1)
    c = x2[:, :, None] + y2[:, None, :] - 2.0 * torch.bmm(x, y.transpose(1, 2))
    return c.clamp_min(0.0)


def soft_dtw_batch(
    x,
    y,
    x_lengths=None,
    y_lengths=None,
    *,
    gamma: float = 1.0,
    normalize: bool = False,
    bandwidth: int | None = None,
    backend: str = "auto",
) -> Tensor:
    """Differentiable soft-DTW (or divergence) values for a batch of pairs, shape (B,).

    Functional twin of :class:`SoftDTWLoss` with ``reduction="none"``; see there.
    """
    gamma = _check_gamma(gamma)
    radius = _check_bandwidth(bandwidth)
    check_option(backend, "backend", _BACKENDS)
    xp, nx = _as_padded(x, x_lengths, "x")
    yp, ny = _as_padded(y, y_lengths, "y")
    if xp.shape[0] != yp.shape[0]:
        raise ValueError(
            f"x and y must hold the same number of sequences, got {xp.shape[0]} and {yp.shape[0]}."
        )
    if xp.shape[2] != yp.shape[2]:
        raise ValueError(
            f"x and y must have the same number of features, got {xp.shape[2]} and {yp.shape[2]}."
        )
    if not (xp.is_floating_point() and yp.is_floating_point()):
        raise TypeError(f"x and y must be floating point tensors, got {xp.dtype} and {yp.dtype}.")
    device = xp.device
    if backend == "auto":
        backend = "numba" if device.type == "cpu" else "wavefront"
    out_dtype = torch.promote_types(xp.dtype, yp.dtype)
    # float64 throughout: float32 accumulated matrices cost ~2% gradient error on long series.
    # The numba backend casts inside its kernels' numpy glue: on a busy CPU, torch's small
    # multi-threaded casts and reductions cost more than the kernels themselves.
    work_dtype = out_dtype if backend == "numba" else torch.float64
    xp = xp.to(work_dtype)
    yp = yp.to(device=device, dtype=work_dtype)
    if backend != "numba" and not bool(torch.isfinite(xp.detach().sum() + yp.detach().sum())):
        # one reduction instead of an elementwise mask: a float64 sum of finite inputs is finite
        raise ValueError("x or y holds NaN or inf; remove or interpolate missing values first.")
    nx, ny = nx.to(device), ny.to(device)
    b_size = xp.shape[0]
    if normalize:
        t_max = max(xp.shape[1], yp.shape[1])
        xq = nn.functional.pad(xp, (0, 0, 0, t_max - xp.shape[1]))
        yq = nn.functional.pad(yp, (0, 0, 0, t_max - yp.shape[1]))
        left = torch.cat((xq, xq, yq))
        right = torch.cat((yq, xq, yq))
        nl, nr = torch.cat((nx, nx, ny)), torch.cat((ny, nx, ny))
        v = _soft_dtw_values(left, right, nl, nr, gamma, radius, backend)
        values = v[:b_size] - 0.5 * (v[b_size : 2 * b_size] + v[2 * b_size :])
    else:
        values = _soft_dtw_values(xp, yp, nx, ny, gamma, radius, backend)
    return values.to(out_dtype)


class SoftDTWLoss(nn.Module):
    """Soft-DTW loss between batches of sequences of unequal lengths.

    ``loss_b = sdtw_gamma(x_b, y_b)`` with squared euclidean costs (Cuturi & Blondel 2017), or
    with ``normalize=True`` the soft-DTW divergence
    ``sdtw(x_b, y_b) - (sdtw(x_b, x_b) + sdtw(y_b, y_b)) / 2`` (Blondel, Mensch & Vert 2021),
    which is >= 0 and zero at ``x_b = y_b``. Computed in float64 and returned in the inputs'
    dtype.

    Parameters
    ----------
    gamma : float, default 1.0
        Smoothing, > 0.
    normalize : bool, default False
        Return the divergence instead of the raw soft-DTW value.
    bandwidth : int or None, default None
        Sakoe-Chiba radius in frames (widened by the length difference), None for no band.
    reduction : {"mean", "sum", "none"}, default "mean"
        Over the batch; "none" returns shape (B,).
    backend : {"auto", "numba", "wavefront"}, default "auto"
        "auto" uses the numba kernels on CPU and the torch anti-diagonal wavefront elsewhere.

    Examples
    --------
    >>> import torch
    >>> loss = SoftDTWLoss(gamma=0.1)
    >>> x = [torch.zeros(5, 2, requires_grad=True), torch.ones(3, 2, requires_grad=True)]
    >>> y = [torch.zeros(4, 2), torch.ones(6, 2)]
    >>> value = loss(x, y)
    >>> value.backward()
    >>> value.shape
    torch.Size([])
    """

    def __init__(
        self,
        gamma: float = 1.0,
        normalize: bool = False,
        bandwidth: int | None = None,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.gamma = _check_gamma(gamma)
        self.normalize = bool(normalize)
        _check_bandwidth(bandwidth)
        self.bandwidth = bandwidth
        self.reduction = check_option(reduction, "reduction", _REDUCTIONS)
        self.backend = check_option(backend, "backend", _BACKENDS)

    def forward(self, x, y, x_lengths=None, y_lengths=None) -> Tensor:
        """Loss between ``x`` and ``y``.

        Parameters
        ----------
        x : Tensor of shape (B, N, D) or (B, N), or list of B tensors of shape (N_b, D)
        y : Tensor of shape (B, M, D) or (B, M), or list of B tensors of shape (M_b, D)
        x_lengths, y_lengths : Tensor of shape (B,), optional
            True lengths of padded tensors (padding at the end); None means full length.

        Returns
        -------
        Tensor
            Scalar, or shape (B,) with ``reduction="none"``.
        """
        values = soft_dtw_batch(
            x,
            y,
            x_lengths,
            y_lengths,
            gamma=self.gamma,
            normalize=self.normalize,
            bandwidth=self.bandwidth,
            backend=self.backend,
        )
        if self.reduction == "mean":
            return values.mean()
        if self.reduction == "sum":
            return values.sum()
        return values

    def extra_repr(self) -> str:
        return (
            f"gamma={self.gamma}, normalize={self.normalize}, bandwidth={self.bandwidth}, "
            f"reduction={self.reduction!r}, backend={self.backend!r}"
        )
