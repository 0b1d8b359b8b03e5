"""IPOT (inexact proximal point OT) in numpy, log domain; the float64 reference for ot_torch.

Each outer step solves ``min <P, C> + beta * KL(P || P_t)`` over the couplings of ``a`` and
``b`` approximately, with ``inner_steps`` Sinkhorn steps on the kernel ``exp(-C / beta) * P_t``
(Xie et al., UAI 2019). The log domain keeps small ``beta`` from underflowing.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

__all__ = ["ipot"]


def ipot(
    C: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    beta: float = 0.5,
    max_iter: int = 50,
    inner_steps: int = 1,
    tol: float = 0.0,
) -> tuple[np.ndarray, int, float]:
    """Run IPOT on a cost ``C`` of shape (n, m) with marginals ``a`` (n,) and ``b`` (m,).

    Returns ``(plan, n_iter, err)`` where ``err`` is the L1 change of the plan in the last
    outer step plus its row-marginal violation; iteration stops early once ``err < tol``.
    """
    log_k = -np.asarray(C, dtype=np.float64) / beta
    log_a = np.log(a)
    log_b = np.log(b)
    log_t = np.zeros_like(log_k)  # P_0 = 1 1^T, as in the paper and UNITER
    log_v = np.full(b.shape, -np.log(b.shape[0]))
    plan = np.exp(log_t)
    err = np.inf
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        log_q = log_k + log_t
        for _ in range(inner_steps):
            log_u = log_a - logsumexp(log_q + log_v[None, :], axis=1)
            log_v = log_b - logsumexp(log_q + log_u[:, None], axis=0)
        log_t = log_u[:, None] + log_q + log_v[None, :]
        new_plan = np.exp(log_t)
        err = float(np.abs(new_plan - plan).sum() + np.abs(new_plan.sum(1) - a).sum())
        plan = new_plan
        if err < tol:
            break
    return plan, it, err
