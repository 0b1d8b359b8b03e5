"""Every implicit model: shapes, padding invariance, masking, gradients, overfit, save/load."""

from __future__ import annotations

import pytest
import torch

from mmalign.implicit import MODELS, ModelOutput, build_model, from_pretrained

# the models with a prediction head (the grounding model has its own tests)
MODEL_NAMES = tuple(name for name, spec in MODELS.items() if "classification" in spec.tasks)

torch.set_num_threads(1)

TINY = {
    "mult": dict(d_model=8, n_heads=2, n_layers=2, n_mem_layers=1),
    "early-fusion": dict(d_model=8, n_heads=2, n_layers=2),
    "coattention": dict(
        d_model=8, n_heads=2, n_self_layers={"t": 2, "default": 1}, n_coattn_layers=2
    ),
    "lxmert": dict(d_model=8, n_heads=2, n_self_layers=1, n_cross_layers=2),
    "mtag": dict(d_model=16, n_heads=2, n_layers=2, keep_ratio=0.8),
}
DIMS = {2: {"t": 6, "a": 4}, 3: {"t": 6, "a": 4, "v": 3}}
STEPS = {"t": 5, "a": 9, "v": 7}


def make_model(name: str, n_mod: int, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, DIMS[n_mod], 2, **{**TINY[name], **extra}).eval()


def make_batch(n_mod: int, batch: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    inputs = {m: torch.randn(batch, STEPS[m], d, generator=g) for m, d in DIMS[n_mod].items()}
    lengths = {m: torch.randint(1, STEPS[m] + 1, (batch,), generator=g) for m in DIMS[n_mod]}
    for m in lengths:
        lengths[m][0] = STEPS[m]  # one full-length sample
    return inputs, lengths


CASES = [(name, n) for name in MODEL_NAMES for n in (2, 3)]


@pytest.mark.parametrize("name,n_mod", CASES)
def test_shapes_and_attention_maps(name, n_mod):
    model = make_model(name, n_mod)
    inputs, lengths = make_batch(n_mod)
    out = model(inputs, lengths, return_attention=True)
    assert isinstance(out, ModelOutput)
    assert out.predictions.shape == (3, 2)
    assert out.pooled.ndim == 2 and out.pooled.shape[0] == 3
    mods = list(DIMS[n_mod])
    for t in mods:
        for s in mods:
            if s == t and name == "early-fusion":
                pass
            if s == t:
                continue
            maps = out.attentions[(t, s)]
            assert len(maps) >= 1
            for w in maps:
                assert w.shape[0] == 3 and w.shape[2:] == (STEPS[t], STEPS[s])
                assert torch.isfinite(w).all()
    assert set(out.lengths) == set(mods)
    # the fused path (no weights) gives the same predictions
    plain = model(inputs, lengths)
    assert plain.attentions == {}
    torch.testing.assert_close(plain.predictions, out.predictions, atol=1e-5, rtol=1e-5)


# the models whose embedding can be a temporal convolution (``kernel_sizes``)
CONV_MODELS = ("mult", "early-fusion", "coattention", "lxmert")


@pytest.mark.parametrize(
    "name,n_mod,extra",
    [(name, n, {}) for name, n in CASES]
    + [(name, 2, {"kernel_sizes": {"a": 3, "t": 5}}) for name in CONV_MODELS],
)
def test_padding_invariance(name, n_mod, extra):
    model = make_model(name, n_mod, **extra)
    inputs, lengths = make_batch(n_mod)
    out = model(inputs, lengths, return_attention=True)
    g = torch.Generator().manual_seed(7)
    padded = {
        m: torch.cat([x, 50 * torch.randn(x.shape[0], 4, x.shape[2], generator=g)], 1)
        for m, x in inputs.items()
    }
    # also scramble the content of the already-padded steps
    for m, x in padded.items():
        for b, n in enumerate(lengths[m].tolist()):
            x[b, n:] = 100.0
    out2 = model(padded, lengths, return_attention=True)
    torch.testing.assert_close(out2.predictions, out.predictions, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out2.pooled, out.pooled, atol=1e-5, rtol=1e-4)
    for key, maps in out.attentions.items():
        t, s = key
        for w, w2 in zip(maps, out2.attentions[key]):
            for b in range(3):
                nt, ns = int(lengths[t][b]), int(lengths[s][b])
                torch.testing.assert_close(
                    w2[b, :, :nt, :ns], w[b, :, :nt, :ns], atol=1e-5, rtol=1e-4
                )


@pytest.mark.parametrize("name", CONV_MODELS[1:])  # MulT's own Conv1d reads (B, D, T)
def test_temporal_convolution_reads_k_neighbours(name):
    """``kernel_sizes`` k: a frame's embedding depends on its k nearest frames, no others."""
    model = make_model(name, 2, kernel_sizes={"a": 3})
    x = torch.randn(1, 9, DIMS[2]["a"], generator=torch.Generator().manual_seed(3))
    moved = x.clone()
    moved[0, 6] += 1.0
    changed = (model.proj["a"](moved) - model.proj["a"](x)).abs().sum(-1)[0] > 0
    assert changed.nonzero().flatten().tolist() == [5, 6, 7]
    # the other modality keeps the per-frame projection
    x = torch.randn(1, 5, DIMS[2]["t"])
    moved = x.clone()
    moved[0, 2] += 1.0
    changed = (model.proj["t"](moved) - model.proj["t"](x)).abs().sum(-1)[0] > 0
    assert changed.nonzero().flatten().tolist() == [2]
    with pytest.raises(ValueError, match="kernel_sizes.* must be odd"):
        make_model(name, 2, kernel_sizes=4)


@pytest.mark.parametrize("name,n_mod", CASES)
def test_masked_positions_get_no_attention(name, n_mod):
    model = make_model(name, n_mod)
    inputs, lengths = make_batch(n_mod)
    out = model(inputs, lengths, return_attention=True)
    checked = 0
    for (t, s), maps in out.attentions.items():
        for w in maps:
            for b in range(3):
                ns = int(lengths[s][b])
                if ns < STEPS[s]:
                    nt = int(lengths[t][b])
                    assert float(w[b, :, :nt, ns:].detach().abs().max()) == 0.0
                    checked += 1
    assert checked > 0


@pytest.mark.parametrize("name,n_mod", CASES)
def test_gradients_reach_every_parameter(name, n_mod):
    model = make_model(name, n_mod).train()
    inputs, lengths = make_batch(n_mod)
    out = model(inputs, lengths)
    (out.predictions.square().mean() + out.pooled.square().mean()).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert float(p.grad.abs().sum()) > 0, pname


@pytest.mark.parametrize("name,n_mod", [(n, 2) for n in MODEL_NAMES] + [("mult", 3), ("mtag", 3)])
def test_overfits_a_tiny_batch(name, n_mod):
    extra = (
        {"dropout": 0.0}
        if name not in ("mult",)
        else {
            "embed_dropout": 0.0,
            "relu_dropout": 0.0,
            "res_dropout": 0.0,
            "attn_dropout": 0.0,
            "mem_attn_dropout": 0.0,
            "input_dropout": 0.0,
        }
    )
    if name in ("early-fusion", "coattention", "lxmert"):
        extra["attn_dropout"] = 0.0
    model = make_model(name, n_mod, **extra).train()
    inputs, lengths = make_batch(n_mod, batch=4)
    target = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(model(inputs, lengths).predictions, target)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05 * first


@pytest.mark.parametrize("name,n_mod", CASES)
def test_save_load_round_trip(name, n_mod, tmp_path):
    model = make_model(name, n_mod)
    inputs, lengths = make_batch(n_mod)
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "config.json").is_file()
    assert (tmp_path / "m" / "model.safetensors").is_file()
    loaded = from_pretrained(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.config == model.config
    again = type(model).from_pretrained(tmp_path / "m")
    a, b = model(inputs, lengths), loaded(inputs, lengths)
    assert torch.equal(a.predictions, b.predictions)
    assert torch.equal(again(inputs, lengths).pooled, a.pooled)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_batch_equals_loop(name):
    model = make_model(name, 3)
    inputs, lengths = make_batch(3)
    out = model(inputs, lengths).predictions
    for b in range(3):
        one = {m: x[b : b + 1, : int(lengths[m][b])] for m, x in inputs.items()}
        torch.testing.assert_close(model(one).predictions[0], out[b], atol=1e-5, rtol=1e-4)


def test_from_pretrained_rejects_wrong_class(tmp_path):
    from mmalign.implicit import MTAG

    make_model("mult", 2).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="holds a MulT, not a MTAG"):
        MTAG.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.json"):
        from_pretrained(tmp_path / "missing")
