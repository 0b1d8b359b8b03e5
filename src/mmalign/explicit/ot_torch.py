"""Batched, masked IPOT in torch and UNITER's word-region alignment (WRA) loss.

``batched_ipot`` runs IPOT (Xie et al., UAI 2019) on a padded batch of cost matrices in the log
domain; padded words and regions get no mass. ``word_region_alignment_loss`` is the WRA
objective of UNITER (Chen et al., ECCV 2020): the OT distance ``<T, C>`` between the words
and regions of each pair under a cosine cost, with the plan ``T`` treated as a constant (the
envelope theorem: the gradient of the OT distance with respect to the cost is the plan), pulled
down for matched pairs and pushed up for mismatched ones.
"""

from __future__ import annotations

import torch

from mmalign._utils import check_option

__all__ = ["batched_ipot", "cosine_cost", "ot_distance", "word_region_alignment_loss"]


def _check_batch(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != 3:
        raise ValueError(
            f"{name} must have shape (batch, length, dim), got {x.dim()}-D shape "
            f"{tuple(x.shape)}; add a batch dimension with .unsqueeze(0)."
        )


def _mask(mask: torch.Tensor | None, name: str, shape: tuple[int, int], device) -> torch.Tensor:
    if mask is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a bool torch.Tensor or None, got {type(mask).__name__}.")
    if tuple(mask.shape) != shape:
        raise ValueError(
            f"{name} must have shape {shape} (True = real element), got {tuple(mask.shape)}."
        )
    mask = mask.to(device=device, dtype=torch.bool)
    empty = ~mask.any(dim=1)
    if bool(empty.any()):
        raise ValueError(
            f"{name} masks out every element of batch row(s) "
            f"{torch.nonzero(empty).flatten().tolist()}; each row needs one real element."
        )
    return mask


def cosine_cost(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine distance ``1 - cos(x_bi, y_bj)`` for batches (B, n, d) and (B, m, d) -> (B, n, m)."""
    xn = x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
    yn = y / y.norm(dim=-1, keepdim=True).clamp_min(eps)
    return 1.0 - xn @ yn.transpose(1, 2)


@torch.no_grad()
def batched_ipot(
    cost: torch.Tensor,
    x_mask: torch.Tensor | None = None,
    y_mask: torch.Tensor | None = None,
    *,
    beta: float = 0.5,
    n_iter: int = 50,
    inner_steps: int = 1,
) -> torch.Tensor:
    """IPOT transport plans for a padded batch, with uniform marginals over the real elements.

    Parameters
    ----------
    cost : Tensor of shape (B, n, m)
        Ground costs; entries of padded rows/columns are ignored.
    x_mask, y_mask : bool Tensor of shape (B, n) and (B, m), optional
        True for real elements.
    beta : float
        Proximity weight of each proximal step (UNITER: 0.5).
    n_iter : int
        Outer proximal steps (UNITER: 50).
    inner_steps : int
        Sinkhorn steps per proximal step (UNITER: 1).

    Returns
    -------
    plan : Tensor of shape (B, n, m)
        Rows sum to ``1 / n_b``, columns to ``1 / m_b`` (exactly after the last column step);
        zero on padding. No gradient flows through it.
    """
    _check_batch(cost, "cost")
    if not (beta > 0 and n_iter >= 1 and inner_steps >= 1):
        raise ValueError(
            f"beta must be > 0 and n_iter, inner_steps >= 1; got beta={beta}, n_iter={n_iter}, "
            f"inner_steps={inner_steps}."
        )
    B, n, m = cost.shape
    xm = _mask(x_mask, "x_mask", (B, n), cost.device)
    ym = _mask(y_mask, "y_mask", (B, m), cost.device)
    joint = xm[:, :, None] & ym[:, None, :]  # (B, n, m)
    neg_inf = torch.tensor(float("-inf"), dtype=cost.dtype, device=cost.device)
    # log marginals: uniform over the real elements, -inf on padding
    log_a = torch.where(xm, -torch.log(xm.sum(1, keepdim=True).to(cost.dtype)), neg_inf)
    log_b = torch.where(ym, -torch.log(ym.sum(1, keepdim=True).to(cost.dtype)), neg_inf)
    log_k = torch.where(joint, -cost / beta, neg_inf)
    log_t = torch.where(joint, torch.zeros_like(cost), neg_inf)  # P_0 = 1 1^T on real pairs
    log_v = log_b.clone()
    log_u = log_a.clone()
    for _ in range(n_iter):
        log_q = log_k + log_t
        for _ in range(inner_steps):
            log_u = torch.where(xm, log_a - torch.logsumexp(log_q + log_v[:, None, :], 2), neg_inf)
            log_v = torch.where(ym, log_b - torch.logsumexp(log_q + log_u[:, :, None], 1), neg_inf)
        log_t = torch.where(joint, log_u[:, :, None] + log_q + log_v[:, None, :], neg_inf)
    return log_t.exp()


def ot_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    x_mask: torch.Tensor | None = None,
    y_mask: torch.Tensor | None = None,
    *,
    beta: float = 0.5,
    n_iter: int = 50,
    inner_steps: int = 1,
) -> torch.Tensor:
    """OT distance ``<T, C>`` per pair under a cosine cost, differentiable in ``x`` and ``y``.

    ``x`` (B, n, d), ``y`` (B, m, d) -> (B,). The plan ``T`` comes from :func:`batched_ipot`
    on the detached cost and is held constant, as in UNITER.
    """
    _check_batch(x, "x")
    _check_batch(y, "y")
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(
            f"x and y must share batch size and dim, got x {tuple(x.shape)} and y {tuple(y.shape)}."
        )
    cost = cosine_cost(x, y)  # (B, n, m)
    plan = batched_ipot(
        cost.detach(), x_mask, y_mask, beta=beta, n_iter=n_iter, inner_steps=inner_steps
    )
    return (cost * plan).sum(dim=(1, 2))  # padded entries carry zero plan mass


def word_region_alignment_loss(
    words: torch.Tensor,
    regions: torch.Tensor,
    word_mask: torch.Tensor | None = None,
    region_mask: torch.Tensor | None = None,
    *,
    matched: torch.Tensor | None = None,
    beta: float = 0.5,
    n_iter: int = 50,
    inner_steps: int = 1,
    reduction: str = "mean",
) -> torch.Tensor:
    """UNITER's word-region alignment loss: OT distance, + for matched and - for mismatched pairs.

    Parameters
    ----------
    words : Tensor of shape (B, n_words, d)
    regions : Tensor of shape (B, n_regions, d)
    word_mask, region_mask : bool Tensor of shape (B, n_words) and (B, n_regions), optional
        True for real tokens / regions.
    matched : bool Tensor of shape (B,), optional
        Whether each pair is a true image-text pair (all True by default). UNITER minimizes the
        distance of true pairs and maximizes that of negatives:
        ``(sum_pos d - sum_neg d) / B``.
    beta, n_iter, inner_steps
        IPOT settings (UNITER: 0.5, 50, 1).
    reduction : {"mean", "sum", "none"}
        ``none`` returns the signed per-pair distances, shape (B,).

    Returns
    -------
    Tensor
        Scalar (``mean``/``sum``) or (B,).

    References
    ----------
    Chen et al., "UNITER: UNiversal Image-TExt Representation Learning", ECCV 2020, sec. 3.2.
    """
    check_option(reduction, "reduction", ("mean", "sum", "none"))
    d = ot_distance(
        words, regions, word_mask, region_mask, beta=beta, n_iter=n_iter, inner_steps=inner_steps
    )
    if matched is not None:
        if not isinstance(matched, torch.Tensor) or tuple(matched.shape) != (d.shape[0],):
            raise ValueError(
                f"matched must be a bool Tensor of shape ({d.shape[0]},), got "
                f"{getattr(matched, 'shape', type(matched).__name__)}."
            )
        d = torch.where(matched.to(device=d.device, dtype=torch.bool), d, -d)
    if reduction == "none":
        return d
    return d.mean() if reduction == "mean" else d.sum()
