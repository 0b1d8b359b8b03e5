"""SoftDTWLoss: numba vs wavefront vs numpy, gradcheck, batch equals loop, padding, errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mmalign.explicit._soft_dtw import soft_dtw, soft_dtw_divergence, soft_dtw_grad  # noqa: E402
from mmalign.explicit.soft_dtw_torch import SoftDTWLoss, soft_dtw_batch  # noqa: E402

LENGTHS_X = (5, 8, 3, 6)
LENGTHS_Y = (7, 4, 6, 6)


def _ragged(seed: int, dtype=torch.float64, d: int = 3):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(n, d, generator=g, dtype=dtype, requires_grad=True) for n in LENGTHS_X]
    ys = [torch.randn(n, d, generator=g, dtype=dtype, requires_grad=True) for n in LENGTHS_Y]
    return xs, ys


@pytest.mark.parametrize("backend", ["numba", "wavefront"])
@pytest.mark.parametrize("bandwidth", [None, 1])
def test_batch_equals_numpy_loop(backend, bandwidth):
    xs, ys = _ragged(0)
    values = soft_dtw_batch(xs, ys, gamma=0.3, bandwidth=bandwidth, backend=backend)
    grads = torch.autograd.grad(values.sum(), xs + ys)
    for b, (x, y) in enumerate(zip(xs, ys)):
        ref = soft_dtw_grad(x.detach().numpy(), y.detach().numpy(), gamma=0.3, bandwidth=bandwidth)
        assert values[b].item() == pytest.approx(ref.value, rel=1e-12)
        np.testing.assert_allclose(grads[b].numpy(), ref.grad_x, atol=1e-12)
        np.testing.assert_allclose(grads[len(xs) + b].numpy(), ref.grad_y, atol=1e-12)


@pytest.mark.parametrize("bandwidth", [None, 2])
def test_wavefront_matches_numba(bandwidth):
    xs, ys = _ragged(1)
    out = {}
    for backend in ("numba", "wavefront"):
        v = soft_dtw_batch(xs, ys, gamma=0.1, bandwidth=bandwidth, normalize=True, backend=backend)
        out[backend] = (v.detach(), torch.autograd.grad(v.sum(), xs + ys))
    torch.testing.assert_close(out["numba"][0], out["wavefront"][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(out["numba"][1], out["wavefront"][1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["numba", "wavefront"])
def test_gradcheck_float64(backend):
    xs, ys = _ragged(2)
    xs, ys = xs[:2], ys[:2]

    def f(*seqs):
        return soft_dtw_batch(list(seqs[:2]), list(seqs[2:]), gamma=0.5, backend=backend)

    assert torch.autograd.gradcheck(f, tuple(xs + ys))

    def g(*seqs):
        return soft_dtw_batch(
            list(seqs[:2]), list(seqs[2:]), gamma=0.5, normalize=True, bandwidth=1, backend=backend
        )

    assert torch.autograd.gradcheck(g, tuple(xs + ys))


def test_padded_tensor_with_lengths_equals_list():
    xs, ys = _ragged(3)
    xp = torch.nn.utils.rnn.pad_sequence([x.detach() for x in xs], batch_first=True)
    yp = torch.nn.utils.rnn.pad_sequence([y.detach() for y in ys], batch_first=True)
    xp = (xp + 0.0).requires_grad_(True)
    # garbage in the padding must not leak into values or gradients
    with torch.no_grad():
        for b, n in enumerate(LENGTHS_X):
            xp[b, n:] = 1e3
    loss = SoftDTWLoss(gamma=0.2, reduction="none")
    v_pad = loss(xp, yp, torch.tensor(LENGTHS_X), torch.tensor(LENGTHS_Y))
    v_list = loss([x.detach() for x in xs], [y.detach() for y in ys])
    torch.testing.assert_close(v_pad, v_list, rtol=1e-12, atol=1e-12)
    (gx,) = torch.autograd.grad(v_pad.sum(), xp)
    for b, n in enumerate(LENGTHS_X):
        assert torch.all(gx[b, n:] == 0)


def test_reductions_and_dtype():
    xs, ys = _ragged(4, dtype=torch.float32)
    per_item = SoftDTWLoss(gamma=1.0, reduction="none")(xs, ys)
    assert per_item.shape == (4,) and per_item.dtype == torch.float32
    total = SoftDTWLoss(gamma=1.0, reduction="sum")(xs, ys)
    mean = SoftDTWLoss(gamma=1.0)(xs, ys)
    torch.testing.assert_close(total, per_item.sum())
    torch.testing.assert_close(mean, per_item.mean())
    ref = soft_dtw(xs[0].detach().double().numpy(), ys[0].detach().double().numpy(), gamma=1.0)
    assert per_item[0].item() == pytest.approx(ref, rel=1e-6)


def test_float32_inputs_get_float64_accurate_gradients():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 120, 4, generator=g).requires_grad_(True)
    y = torch.randn(1, 150, 4, generator=g)
    v = SoftDTWLoss(gamma=0.1, reduction="sum")(x, y)
    (gx,) = torch.autograd.grad(v, x)
    ref = soft_dtw_grad(x[0].detach().double().numpy(), y[0].double().numpy(), gamma=0.1).grad_x
    rel = np.abs(gx[0].double().numpy() - ref).max() / np.abs(ref).max()
    assert rel < 1e-6  # float32 rounding of the result only


@pytest.mark.parametrize("gamma", [0.01, 1.0, 10.0])
def test_long_sequences_float64_gradients(gamma):
    # the loss kernels recompute the soft-min weights from R in the backward pass and use
    # their own exp / log: check them against the exact scalar kernels on long series
    g = torch.Generator().manual_seed(12)
    x = torch.randn(2, 200, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 170, 5, generator=g, dtype=torch.float64)
    v = soft_dtw_batch(x, y, torch.tensor([200, 143]), torch.tensor([170, 170]), gamma=gamma)
    (gx,) = torch.autograd.grad(v.sum(), x)
    for b, n in enumerate((200, 143)):
        ref = soft_dtw_grad(x[b, :n].detach().numpy(), y[b].numpy(), gamma=gamma)
        assert v[b].item() == pytest.approx(ref.value, rel=1e-13)
        err = np.abs(gx[b, :n].numpy() - ref.grad_x).max() / np.abs(ref.grad_x).max()
        # round-off of R (~1e-13 here) divided by gamma; float32 kernels are at 1e-4..1e-2
        assert err < 1e-9


def test_divergence_loss_zero_on_self_and_matches_numpy():
    xs, ys = _ragged(6)
    loss = SoftDTWLoss(gamma=0.5, normalize=True, reduction="none")
    v = loss(xs, ys)
    for b, (x, y) in enumerate(zip(xs, ys)):
        ref = soft_dtw_divergence(x.detach().numpy(), y.detach().numpy(), gamma=0.5)
        assert v[b].item() == pytest.approx(ref, rel=1e-12)
    assert torch.all(v >= 0)
    same = loss(xs, [x.detach() for x in xs])
    assert torch.all(same.abs() < 1e-10)


def test_loss_trains_a_sequence_towards_target():
    torch.manual_seed(8)
    target = torch.sin(torch.linspace(0, 6, 40))[None, :, None].double()
    x = torch.zeros(1, 30, 1, dtype=torch.float64, requires_grad=True)
    loss = SoftDTWLoss(gamma=0.1, normalize=True)
    opt = torch.optim.Adam([x], lr=0.1)
    first = loss(x, target).item()
    for _ in range(60):
        opt.zero_grad()
        value = loss(x, target)
        value.backward()
        opt.step()
    assert value.item() < 0.1 * first


def test_does_not_touch_torch_thread_count():
    # numba's OpenMP layer shares torch's libgomp: a prange would reset torch's thread count
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        xs, ys = _ragged(10)
        SoftDTWLoss()(xs, ys).backward()
        soft_dtw_grad(np.zeros((4, 2)), np.ones((5, 2)))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_wavefront_matches_cpu():
    xs, ys = _ragged(9)
    cpu = soft_dtw_batch(xs, ys, gamma=0.2, normalize=True)
    g_cpu = torch.autograd.grad(cpu.sum(), xs)
    xs_c = [x.detach().cuda().requires_grad_(True) for x in xs]
    ys_c = [y.detach().cuda() for y in ys]
    gpu = SoftDTWLoss(gamma=0.2, normalize=True, reduction="none")(xs_c, ys_c)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu.detach(), rtol=1e-10, atol=1e-10)
    g_gpu = torch.autograd.grad(gpu.sum(), xs_c)
    for a, b in zip(g_cpu, g_gpu):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-9, atol=1e-10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="gamma must be a finite float > 0"):
        SoftDTWLoss(gamma=0.0)
    with pytest.raises(ValueError, match="Unknown reduction 'avg'"):
        SoftDTWLoss(reduction="avg")
    with pytest.raises(ValueError, match="Unknown backend 'cuda'"):
        SoftDTWLoss(backend="cuda")
    loss = SoftDTWLoss()
    x = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match="same number of sequences"):
        loss(x, torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match="same number of features"):
        loss(x, torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"x_lengths must lie in \[1, 5\]"):
        loss(x, x, torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"y_lengths must have shape \(2,\)"):
        loss(x, x, None, torch.tensor([5]))
    with pytest.raises(ValueError, match="NaN or inf"):
        loss(x, torch.full((2, 5, 3), float("nan")))
    with pytest.raises(TypeError, match="floating point"):
        loss(torch.zeros(2, 5, 3, dtype=torch.int64), x)
    with pytest.raises(TypeError, match="must be a .B, T, D. tensor or a list"):
        loss("abc", x)
    with pytest.raises(ValueError, match="x_lengths must be None when x is a list"):
        loss([torch.zeros(3, 3)], [torch.zeros(3, 3)], torch.tensor([3]))
