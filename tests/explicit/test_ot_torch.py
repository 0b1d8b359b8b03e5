import numpy as np
import ot as pot
import pytest
import torch

from mmalign.explicit import word_region_alignment_loss
from mmalign.explicit._ot_ipot import ipot
from mmalign.explicit.ot import pairwise_cost
from mmalign.explicit.ot_torch import batched_ipot, cosine_cost, ot_distance


def _padded_batch(seed=0, d=5):
    g = torch.Generator().manual_seed(seed)
    lens_x, lens_y = [4, 6, 2], [3, 5, 5]
    B, n, m = 3, max(lens_x), max(lens_y)
    x = torch.randn(B, n, d, generator=g, dtype=torch.float64)
    y = torch.randn(B, m, d, generator=g, dtype=torch.float64)
    xm = torch.arange(n)[None, :] < torch.tensor(lens_x)[:, None]
    ym = torch.arange(m)[None, :] < torch.tensor(lens_y)[:, None]
    return x, y, xm, ym, lens_x, lens_y


def test_cosine_cost_matches_numpy():
    x, y, *_ = _padded_batch()
    c = cosine_cost(x, y)
    for i in range(3):
        np.testing.assert_allclose(
            c[i].numpy(), pairwise_cost(x[i].numpy(), y[i].numpy()), atol=1e-12
        )


def test_batched_ipot_equals_per_sample_reference():
    x, y, xm, ym, lx, ly = _padded_batch(seed=1)
    cost = cosine_cost(x, y)
    plan = batched_ipot(cost, xm, ym, beta=0.5, n_iter=50, inner_steps=1)
    for i in range(3):
        C = cost[i, : lx[i], : ly[i]].numpy()
        ref, _, _ = ipot(
            C, np.full(lx[i], 1 / lx[i]), np.full(ly[i], 1 / ly[i]), beta=0.5, max_iter=50
        )
        np.testing.assert_allclose(plan[i, : lx[i], : ly[i]].numpy(), ref, atol=1e-12)
        assert plan[i, lx[i] :].abs().sum() == 0 and plan[i, :, ly[i] :].abs().sum() == 0


def test_batched_ipot_agrees_with_pot_per_sample():
    x, y, xm, ym, lx, ly = _padded_batch(seed=2)
    cost = cosine_cost(x, y)
    # one proximal step with many Sinkhorn steps is entropic OT with reg = beta
    one = batched_ipot(cost, xm, ym, beta=0.2, n_iter=1, inner_steps=3000)
    # many proximal steps converge to the exact plan (network simplex)
    many = batched_ipot(cost, xm, ym, beta=0.2, n_iter=2000)
    for i in range(3):
        C = cost[i, : lx[i], : ly[i]].numpy()
        a, b = np.full(lx[i], 1 / lx[i]), np.full(ly[i], 1 / ly[i])
        sk = pot.sinkhorn(a, b, C, 0.2, method="sinkhorn_log", numItermax=10000, stopThr=1e-13)
        np.testing.assert_allclose(one[i, : lx[i], : ly[i]].numpy(), sk, atol=1e-9)
        exact = pot.emd2(a, b, C)
        assert float(
            (many[i, : lx[i], : ly[i]] * cost[i, : lx[i], : ly[i]]).sum()
        ) == pytest.approx(exact, abs=1e-6)


def test_float32_is_stable_with_small_beta():
    x, y, xm, ym, *_ = _padded_batch(seed=3)
    plan = batched_ipot(cosine_cost(x, y).float(), xm, ym, beta=0.01, n_iter=100)
    assert torch.isfinite(plan).all()
    torch.testing.assert_close(plan.sum(2)[xm].sum(), torch.tensor(3.0), rtol=0, atol=1e-3)


def test_ot_distance_batch_equals_loop_and_gradcheck():
    x, y, xm, ym, lx, ly = _padded_batch(seed=4)
    d = ot_distance(x, y, xm, ym)
    for i in range(3):
        di = ot_distance(x[i : i + 1, : lx[i]], y[i : i + 1, : ly[i]])
        torch.testing.assert_close(d[i : i + 1], di)
    xr = x.clone().requires_grad_(True)
    yr = y.clone().requires_grad_(True)
    ot_distance(xr, yr, xm, ym).sum().backward()
    assert xr.grad[~xm].abs().sum() == 0  # padding receives no gradient
    assert xr.grad[xm].abs().sum() > 0


def test_gradient_is_the_envelope_gradient_of_exact_ot():
    # with the plan held constant, the gradient equals that of the exact OT value once IPOT has
    # converged (the plan is a vertex that small perturbations keep)
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(1, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: ot_distance(a, b, beta=0.1, n_iter=400), (x, y), eps=1e-6, atol=1e-5
    )


def test_wra_loss_sign_and_training_pulls_pairs_together():
    x, y, xm, ym, *_ = _padded_batch(seed=5)
    matched = torch.tensor([True, False, True])
    d = word_region_alignment_loss(x, y, xm, ym, reduction="none")
    signed = word_region_alignment_loss(x, y, xm, ym, matched=matched, reduction="none")
    torch.testing.assert_close(signed, torch.where(matched, d, -d))
    loss = word_region_alignment_loss(x, y, xm, ym, matched=matched)
    torch.testing.assert_close(loss, signed.mean())
    # a few gradient steps on the words lower the distance of a matched pair
    w = x.clone().requires_grad_(True)
    opt = torch.optim.SGD([w], lr=1.0)
    start = float(word_region_alignment_loss(w, y, xm, ym).detach())
    for _ in range(20):
        opt.zero_grad()
        word_region_alignment_loss(w, y, xm, ym).backward()
        opt.step()
    assert float(word_region_alignment_loss(w, y, xm, ym).detach()) < 0.7 * start


def test_validation_messages():
    x, y, xm, ym, *_ = _padded_batch()
    with pytest.raises(ValueError, match=r"shape \(batch, length, dim\)"):
        ot_distance(x[0], y[0])
    with pytest.raises(ValueError, match="share batch size"):
        ot_distance(x, y[:2])
    with pytest.raises(ValueError, match=r"x_mask must have shape \(3, 6\)"):
        ot_distance(x, y, xm[:, :3], ym)
    with pytest.raises(ValueError, match=r"masks out every element of batch row\(s\) \[1\]"):
        bad = ym.clone()
        bad[1] = False
        ot_distance(x, y, xm, bad)
    with pytest.raises(ValueError, match="Unknown reduction"):
        word_region_alignment_loss(x, y, reduction="max")
    with pytest.raises(ValueError, match=r"matched must be a bool Tensor of shape \(3,\)"):
        word_region_alignment_loss(x, y, matched=torch.ones(2, dtype=torch.bool))
    with pytest.raises(TypeError, match="cost must be a torch.Tensor"):
        batched_ipot(np.zeros((1, 2, 2)))
