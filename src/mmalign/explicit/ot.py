"""Set-to-set alignment: optimal transport and one-to-one assignment between two sets.

``ot_align(x, y)`` couples the elements of two sets of embeddings (words and image regions,
say) with a transport plan; ``assign(x, y)`` returns the hard one-to-one matching. Both take
padding masks so that a padded batch row can be passed as is. The solvers are POT's (``import
ot``) except IPOT, which POT does not provide and is implemented in :mod:`._ot_ipot`.

References
----------
.. [1] Cuturi, "Sinkhorn Distances: Lightspeed Computation of Optimal Transport", NeurIPS 2013.
.. [2] Xie, Wang, Wang & Zha, "A Fast Proximal Point Method for Computing Exact Wasserstein
   Distance", UAI 2019 (IPOT).
.. [3] Chen et al., "UNITER: UNiversal Image-TExt Representation Learning", ECCV 2020
   (word-region alignment with IPOT on a cosine cost).
.. [4] Chizat, Peyre, Schmitzer & Vialard, "Scaling algorithms for unbalanced optimal transport
   problems", Math. Comp. 2018.
.. [5] Figalli, "The optimal partial transport problem", Arch. Ration. Mech. Anal. 2010.
.. [6] Kuhn, "The Hungarian method for the assignment problem", 1955; Crouse, "On implementing
   2D rectangular assignment algorithms", IEEE TAES 2016 (scipy's solver).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmalign._utils import as_sequence, check_option
from mmalign.explicit._ot_ipot import ipot

__all__ = ["OTAlignment", "Assignment", "ot_align", "assign", "pairwise_cost"]

OT_METHODS = ("sinkhorn", "ipot", "emd", "partial", "unbalanced")
METRICS = ("cosine", "sqeuclidean", "euclidean")


@dataclass(frozen=True)
class OTAlignment:
    """A transport plan between two sets.

    Attributes
    ----------
    plan : ndarray of shape (n, m)
        Mass moved from ``x[i]`` to ``y[j]``; rows and columns of masked-out elements are 0.
    cost : float
        Transport cost ``<plan, cost_matrix>`` (without the entropy term).
    cost_matrix : ndarray of shape (n, m)
        Ground cost between the elements (0 where either element is masked out).
    method : str
        The solver that produced the plan.
    n_iter : int
        Iterations run (0 for the exact network-simplex solvers; for ``unbalanced``, to the
        nearest 10 because POT checks convergence every 10th step).
    converged : bool
        False when the iterative solver stopped at ``max_iter`` before reaching ``tol``.
    """

    plan: np.ndarray
    cost: float
    cost_matrix: np.ndarray
    method: str
    n_iter: int
    converged: bool

    def __repr__(self) -> str:
        return (
            f"OTAlignment(method={self.method!r}, cost={self.cost:.6g}, "
            f"shape={tuple(self.plan.shape)}, mass={float(self.plan.sum()):.6g}, "
            f"n_iter={self.n_iter}, converged={self.converged})"
        )

    @property
    def matches(self) -> np.ndarray:
        """Index of the ``y`` element that receives most of each ``x`` element's mass.

        Returns an int array of shape (n,); -1 where the row carries no mass (masked out).
        """
        best = np.argmax(self.plan, axis=1)
        return np.where(self.plan.max(axis=1) > 0, best, -1)


@dataclass(frozen=True)
class Assignment:
    """A hard one-to-one matching between two sets.

    Attributes
    ----------
    pairs : ndarray of shape (k, 2)
        Matched index pairs ``(i, j)``, sorted by ``i``; ``k = min(n_valid_x, n_valid_y)``.
    cost : float
        Sum of the ground cost over the matched pairs.
    cost_matrix : ndarray of shape (n, m)
        Ground cost (``inf`` where either element is masked out).
    """

    pairs: np.ndarray
    cost: float
    cost_matrix: np.ndarray

    def __repr__(self) -> str:
        return (
            f"Assignment(cost={self.cost:.6g}, shape={tuple(self.cost_matrix.shape)}, "
            f"n_pairs={len(self.pairs)})"
        )

    @property
    def matches(self) -> np.ndarray:
        """Matched ``y`` index for each ``x`` element, shape (n,), -1 where unmatched."""
        out = np.full(self.cost_matrix.shape[0], -1, dtype=np.int64)
        out[self.pairs[:, 0]] = self.pairs[:, 1]
        return out


def pairwise_cost(x: Any, y: Any, *, metric: str = "cosine") -> np.ndarray:
    """Ground cost between every element of ``x`` and every element of ``y``.

    Parameters
    ----------
    x : array-like of shape (n, d)
    y : array-like of shape (m, d)
    metric : {"cosine", "sqeuclidean", "euclidean"}
        ``cosine`` is ``1 - cos(x_i, y_j)`` in [0, 2], the cost UNITER uses [3]_.

    Returns
    -------
    ndarray of shape (n, m)
    """
    check_option(metric, "metric", METRICS)
    x = as_sequence(x, "x")
    y = as_sequence(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features, got x {x.shape} and y {y.shape}; "
            f"project both sets into one embedding space first."
        )
    if metric == "cosine":
        xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        yn = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        return np.clip(1.0 - xn @ yn.T, 0.0, 2.0)
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    sq = np.maximum(sq, 0.0)
    return sq if metric == "sqeuclidean" else np.sqrt(sq)


def _check_mask(mask: Any, name: str, n: int) -> np.ndarray:
    if mask is None:
        return np.ones(n, dtype=bool)
    arr = np.asarray(mask)
    if arr.shape != (n,):
        raise ValueError(
            f"{name} must have shape ({n},) (one flag per element, True = real), got shape "
            f"{arr.shape}."
        )
    if arr.dtype != bool:
        if not np.all(np.isin(arr, (0, 1))):
            raise TypeError(f"{name} must be boolean (True = real element), got dtype {arr.dtype}.")
        arr = arr.astype(bool)
    if not arr.any():
        raise ValueError(f"{name} masks out every element; at least one must be True.")
    return arr


def _check_weights(w: Any, name: str, mask: np.ndarray) -> np.ndarray:
    n = mask.shape[0]
    if w is None:
        out = mask.astype(np.float64)
        return out / out.sum()
    arr = np.asarray(w, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(
            f"{name} must have shape ({n},) (one weight per element), got {arr.shape}."
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must hold finite non-negative weights, got {arr}.")
    arr = np.where(mask, arr, 0.0)
    if arr.sum() <= 0:
        raise ValueError(f"{name} has no mass on the unmasked elements; give them positive weight.")
    return arr


def ot_align(
    x: Any,
    y: Any,
    *,
    method: str = "sinkhorn",
    metric: str = "cosine",
    reg: float | None = None,
    a: Any = None,
    b: Any = None,
    x_mask: Any = None,
    y_mask: Any = None,
    mass: float = 0.5,
    reg_m: float = 1.0,
    inner_steps: int = 1,
    max_iter: int = 2000,
    tol: float = 1e-6,
) -> OTAlignment:
    r"""Optimal transport between two sets of embeddings.

    Solves :math:`\min_{P \in U(a, b)} \langle P, C \rangle - \mathrm{reg}\, H(P)` (or a variant,
    see ``method``) with ``C = pairwise_cost(x, y, metric=metric)``.

    Parameters
    ----------
    x : array-like of shape (n, d)
        First set (e.g. word embeddings).
    y : array-like of shape (m, d)
        Second set (e.g. region embeddings).
    method : {"sinkhorn", "ipot", "emd", "partial", "unbalanced"}
        ``sinkhorn``: entropic OT in the log domain [1]_ (POT ``sinkhorn_log``), regularization
        ``reg``. ``ipot``: inexact proximal point [2]_ with proximity ``reg`` (beta) and
        ``inner_steps`` Sinkhorn steps per outer step; converges to the exact plan, as used by
        UNITER [3]_ (beta 0.5, 50 steps, 1 inner step). ``emd``: exact OT (network simplex).
        ``partial``: exact partial OT [5]_ moving ``mass`` (a fraction of the smaller total).
        ``unbalanced``: entropic unbalanced OT [4]_ with KL marginal relaxation ``reg_m``.
    metric : {"cosine", "sqeuclidean", "euclidean"}
        Ground cost, see :func:`pairwise_cost`.
    reg : float, optional
        Entropic regularization (``sinkhorn``, ``unbalanced``; default 0.05) or the IPOT
        proximity beta (default 0.5, UNITER's value). Ignored by ``emd`` and ``partial``.
    a, b : array-like of shape (n,) and (m,), optional
        Element weights (uniform over unmasked elements by default). Balanced methods normalize
        each to sum 1; ``partial`` and ``unbalanced`` use them as given.
    x_mask, y_mask : array-like of bool, shape (n,) and (m,), optional
        True for real elements, False for padding; padded elements get no mass.
    mass : float
        For ``partial``: fraction in (0, 1] of ``min(a.sum(), b.sum())`` to transport.
    reg_m : float
        For ``unbalanced``: strength of the KL penalty on the marginals (large = balanced).
    inner_steps : int
        For ``ipot``: Sinkhorn steps per proximal step.
    max_iter : int
        Iteration cap of the iterative solvers (outer steps for ``ipot``).
    tol : float
        Stopping threshold on the marginal violation.

    Returns
    -------
    OTAlignment

    Examples
    --------
    >>> import numpy as np
    >>> x = np.eye(3)
    >>> ot_align(x, x[::-1], method="emd").matches
    array([2, 1, 0])
    """
    import ot as pot

    check_option(method, "method", OT_METHODS)
    if reg is None:
        reg = 0.5 if method == "ipot" else 0.05
    cost_full = pairwise_cost(x, y, metric=metric)
    n, m = cost_full.shape
    xm = _check_mask(x_mask, "x_mask", n)
    ym = _check_mask(y_mask, "y_mask", m)
    wa = _check_weights(a, "a", xm)[xm]
    wb = _check_weights(b, "b", ym)[ym]
    for value, name in ((reg, "reg"), (reg_m, "reg_m"), (tol, "tol")):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    for value, name in ((max_iter, "max_iter"), (inner_steps, "inner_steps")):
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if method == "partial" and not (0 < mass <= 1):
        raise ValueError(f"mass must be in (0, 1] (a fraction of the smaller total), got {mass!r}.")

    C = np.ascontiguousarray(cost_full[np.ix_(xm, ym)])
    n_iter, converged = 0, True
    if method in ("sinkhorn", "ipot", "emd"):
        wa, wb = wa / wa.sum(), wb / wb.sum()
    if method == "sinkhorn":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            P, log = pot.sinkhorn(
                wa, wb, C, reg, method="sinkhorn_log", numItermax=max_iter, stopThr=tol, log=True
            )
        n_iter = int(log["niter"])
        converged = bool(log["err"]) and float(log["err"][-1]) < tol
    elif method == "ipot":
        P, n_iter, err = ipot(
            C, wa, wb, beta=reg, max_iter=max_iter, inner_steps=inner_steps, tol=tol
        )
        converged = err < tol
    elif method == "emd":
        P, log = pot.emd(wa, wb, C, log=True)
        converged = log["warning"] is None
    elif method == "partial":
        target = mass * min(wa.sum(), wb.sum())
        P = pot.partial.partial_wasserstein(wa, wb, C, m=target)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            P, log = pot.unbalanced.sinkhorn_unbalanced(
                wa,
                wb,
                C,
                reg,
                reg_m,
                method="sinkhorn_stabilized",
                numItermax=max_iter,
                stopThr=tol,
                log=True,
            )
        errs = log.get("err", [])
        n_iter = 10 * (len(errs) - 1) + 1 if errs else 0  # POT checks the error every 10th step
        converged = bool(errs) and float(errs[-1]) < tol
    if not converged:
        warnings.warn(
            f"ot_align(method={method!r}) did not converge in max_iter={max_iter} iterations; "
            f"increase max_iter or reg.",
            RuntimeWarning,
            stacklevel=2,
        )
    plan = np.zeros((n, m))
    plan[np.ix_(xm, ym)] = np.asarray(P, dtype=np.float64)
    cost_out = np.where(xm[:, None] & ym[None, :], cost_full, 0.0)
    return OTAlignment(
        plan=plan,
        cost=float((plan * cost_out).sum()),
        cost_matrix=cost_out,
        method=method,
        n_iter=n_iter,
        converged=bool(converged),
    )


def assign(
    x: Any,
    y: Any,
    *,
    metric: str = "cosine",
    x_mask: Any = None,
    y_mask: Any = None,
) -> Assignment:
    """Hard one-to-one matching of minimal total cost (the linear assignment problem).

    Solved with scipy's ``linear_sum_assignment`` [6]_; with ``n != m`` the smaller set is
    fully matched.

    Parameters
    ----------
    x : array-like of shape (n, d)
    y : array-like of shape (m, d)
    metric : {"cosine", "sqeuclidean", "euclidean"}
    x_mask, y_mask : array-like of bool, shape (n,) and (m,), optional
        True for real elements; padded elements are never matched.

    Returns
    -------
    Assignment

    Examples
    --------
    >>> import numpy as np
    >>> assign(np.eye(3), np.eye(3)[[1, 2, 0]]).pairs.tolist()
    [[0, 2], [1, 0], [2, 1]]
    """
    from scipy.optimize import linear_sum_assignment

    cost_full = pairwise_cost(x, y, metric=metric)
    n, m = cost_full.shape
    xm = _check_mask(x_mask, "x_mask", n)
    ym = _check_mask(y_mask, "y_mask", m)
    xi, yi = np.flatnonzero(xm), np.flatnonzero(ym)
    rows, cols = linear_sum_assignment(cost_full[np.ix_(xm, ym)])
    pairs = np.stack([xi[rows], yi[cols]], axis=1).astype(np.int64)
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    cost_out = np.where(xm[:, None] & ym[None, :], cost_full, np.inf)
    return Assignment(
        pairs=pairs,
        cost=float(cost_full[pairs[:, 0], pairs[:, 1]].sum()),
        cost_matrix=cost_out,
    )
