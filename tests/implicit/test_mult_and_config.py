"""MulT specifics (reference parameter counts, future mask) and the config / registry boundary."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from mmalign.implicit import (
    MODEL_NAMES,
    CoAttentionConfig,
    LXMERTConfig,
    MTAGConfig,
    MulT,
    MulTConfig,
    build_model,
)
from mmalign.implicit.mult import future_mask

torch.set_num_threads(1)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "dims,expected",
    [((300, 74, 35), 1_073_731), ((300, 5, 20), 1_071_211)],
    ids=["mosei", "mosi"],
)
def test_reference_parameter_count(dims, expected):
    input_dims = dict(zip(("text", "audio", "vision"), dims))
    assert n_params(MulT(MulTConfig.reference(input_dims))) == expected
    assert n_params(build_model("mult", input_dims, 1)) == expected


def test_reference_and_paper_presets():
    dims = {"text": 300, "audio": 74, "vision": 35}
    ref = MulTConfig.reference(dims)
    assert ref.future_mask and ref.source_attn_dropout("audio") == 0.0
    assert ref.source_attn_dropout("text") == 0.1
    assert ref.input_dropout_of("text") == 0.25 and ref.input_dropout_of("vision") == 0.0
    default = MulTConfig(dims)  # the same dropouts by the first-modality rule, no future mask
    assert not default.future_mask
    for m in dims:
        assert default.source_attn_dropout(m) == ref.source_attn_dropout(m)
        assert default.input_dropout_of(m) == ref.input_dropout_of(m)
    custom = MulTConfig(dims, attn_dropout={"audio": 0.3})
    assert custom.source_attn_dropout("audio") == 0.3 and custom.source_attn_dropout("text") == 0.1
    assert ref.mem_layers == 5
    paper = MulTConfig.paper(dims)
    model = MulT(paper)
    assert model.proj["audio"].kernel_size == (3,) and model.proj["text"].kernel_size == (1,)
    out = model.eval()({m: torch.randn(2, 6, d) for m, d in dims.items()})
    assert out.pooled.shape == (2, 6 * 40)


def test_future_mask_semantics():
    mask = future_mask(torch.tensor([3]), torch.tensor([5]), 3, 5)[0, 0]
    # query i sees keys j <= i + |5 - 3|
    expected = torch.tensor([[j <= i + 2 for j in range(5)] for i in range(3)])
    assert torch.equal(mask, expected)
    # audio (long) attending to text (short): offset 2 again, nothing masked beyond it
    assert future_mask(torch.tensor([5]), torch.tensor([3]), 5, 3)[0, 0].all()


def test_future_mask_weights_and_padding():
    torch.manual_seed(0)
    cfg = MulTConfig({"t": 4, "a": 3}, 1, d_model=8, n_heads=2, n_layers=2, future_mask=True)
    model = MulT(cfg).eval()
    x = {"t": torch.randn(2, 4, 4), "a": torch.randn(2, 6, 3)}
    lengths = {"t": torch.tensor([4, 2]), "a": torch.tensor([6, 5])}
    out = model(x, lengths, return_attention=True)
    w = out.attentions[("t", "a")][0]  # (B, H, 4, 6)
    for b in range(2):
        lt, la = int(lengths["t"][b]), int(lengths["a"][b])
        for i in range(lt):
            assert float(w[b, :, i, i + abs(la - lt) + 1 :].detach().abs().sum()) == 0.0
            torch.testing.assert_close(w[b, :, i].sum(-1), torch.ones(2))
    self_w = out.attentions[("t", "t")][0].detach()
    assert float(torch.triu(self_w[0, 0], 1).abs().max()) == 0.0  # causal
    longer = {"t": torch.cat([x["t"], torch.randn(2, 3, 4)], 1), "a": x["a"]}
    torch.testing.assert_close(model(longer, lengths).predictions, out.predictions)


def test_identity_projection_when_width_matches():
    model = MulT(MulTConfig({"t": 30, "a": 5}, 1))
    assert isinstance(model.proj["t"], torch.nn.Identity)
    assert isinstance(model.proj["a"], torch.nn.Conv1d)


def test_config_module_imports_no_torch():
    code = (
        "import sys, mmalign.implicit.config, mmalign.implicit, mmalign.implicit.registry; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_config_round_trip_and_unknown_keys():
    cfg = CoAttentionConfig({"t": 3, "a": 2}, 4, n_self_layers={"t": 2})
    assert CoAttentionConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"Unknown CoAttentionConfig fields \['bogus'\]; valid"):
        CoAttentionConfig.from_dict({**cfg.to_dict(), "bogus": 1})


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(input_dims={"t": 3}), "at least 2"),
        (dict(input_dims={"t": 3, "a": 0}), r"input_dims\['a'\] must be an int >= 1"),
        (dict(input_dims={"t.x": 3, "a": 2}), "without '.'"),
        (dict(input_dims={"t": 3, "a": 2}, n_heads=4), "must divide d_model"),
        (dict(input_dims={"t": 3, "a": 2}, kernel_sizes={"t": 2}), "must be odd"),
        (dict(input_dims={"t": 3, "a": 2}, attn_dropout={"x": 0.1}), "unknown modalities"),
        (
            dict(input_dims={"t": 3, "a": 2}, relu_dropout=1.5),
            r"relu_dropout must be a float in \[0, 1\)",
        ),
    ],
)
def test_mult_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MulTConfig(**kwargs)


def test_registry_is_the_one_list_of_models():
    from mmalign.implicit import MODELS, config
    from mmalign.implicit.registry import CONFIG_CLASSES, MODEL_CLASSES

    assert tuple(MODELS) == MODEL_NAMES
    for name, spec in MODELS.items():
        assert spec.config.model_name == name and CONFIG_CLASSES[name] is spec.config
        assert MODEL_CLASSES[name].config_class is spec.config
        assert spec.summary and ("digits-av" in spec.presets or "digit-scenes" in spec.presets)
    # the old import path still answers, from the registry
    assert config.MODEL_NAMES == MODEL_NAMES and config.config_class("mtag") is MTAGConfig


@pytest.mark.parametrize("name", ["early-fusion", "coattention", "lxmert"])
def test_learned_and_sinusoidal_positions(name):
    dims = {"t": 3, "v": 5}
    x = {"t": torch.randn(2, 4, 3), "v": torch.randn(2, 7, 5)}
    torch.manual_seed(0)
    learned = build_model(name, dims, 2, d_model=8, n_heads=2, max_positions=16)
    fixed = build_model(name, dims, 2, d_model=8, n_heads=2, positions="sinusoidal")
    n_tables = len(dims) if name != "early-fusion" else 1
    extra = sum(p.numel() for p in learned.parameters()) - sum(
        p.numel() for p in fixed.parameters()
    )
    assert extra == n_tables * 16 * 8  # one (max_positions, d) table per stream (shared: 1)
    assert learned(x).predictions.shape == fixed(x).predictions.shape == (2, 2)
    too_long = {"t": torch.randn(1, 17, 3), "v": torch.randn(1, 7, 5)}
    with pytest.raises(ValueError, match="longer than max_positions=16"):
        learned(too_long)
    fixed(too_long)  # sinusoids take any length
    with pytest.raises(ValueError, match="Unknown positions 'rope'"):
        build_model(name, dims, 2, positions="rope")


@pytest.mark.parametrize("cls", [CoAttentionConfig, LXMERTConfig])
def test_stream_config_validation(cls):
    with pytest.raises(
        ValueError, match="Unknown pooling 'max'; valid options are: cls, mean, last, last-mean"
    ):
        cls({"t": 3, "a": 2}, pooling="max")
    with pytest.raises(ValueError, match="n_self_layers"):
        cls({"t": 3, "a": 2}, n_self_layers={"t": -1})
    with pytest.raises(ValueError, match="dropout must be a float"):
        cls({"t": 3, "a": 2}, dropout=1.0)
    with pytest.raises(ValueError, match="norm_first"):
        cls({"t": 3, "a": 2}, norm_first="yes")


@pytest.mark.parametrize("name", ["early-fusion", "coattention", "lxmert"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_last_step_pooling_and_pre_ln(name, norm_first):
    torch.manual_seed(0)
    dims = {"t": 3, "v": 5}
    x = {"t": torch.randn(2, 4, 3), "v": torch.randn(2, 7, 5)}
    lengths = {"t": torch.tensor([4, 2]), "v": torch.tensor([7, 5])}
    kw = dict(d_model=8, n_heads=2, pooling="last", norm_first=norm_first)
    model = build_model(name, dims, 2, **kw).eval()
    out = model(x, lengths)
    # the pooled vector of sample 1 is its streams' last REAL steps: padding cannot reach it
    x2 = {m: v.clone() for m, v in x.items()}
    x2["t"][1, 2:] = 50.0
    x2["v"][1, 5:] = -50.0
    torch.testing.assert_close(model(x2, lengths).pooled, out.pooled)
    # ... and changing a real last step does change it
    x2["t"][1, 1] += 1.0
    assert not torch.allclose(model(x2, lengths).pooled[1], out.pooled[1])
    n_norms = sum(isinstance(m, torch.nn.LayerNorm) for m in model.modules())
    plain = build_model(name, dims, 2, **{**kw, "norm_first": False})
    # pre-LN drops the embedding LayerNorm(s) and adds one final LayerNorm per stream (or one)
    assert n_norms == sum(isinstance(m, torch.nn.LayerNorm) for m in plain.modules())
    out.predictions.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", ["early-fusion", "coattention", "lxmert", "mtag"])
def test_last_mean_pooling_reads_the_last_step_and_the_mean_of_each_stream(name):
    torch.manual_seed(0)
    dims = {"t": 3, "v": 5}
    x = {"t": torch.randn(2, 4, 3), "v": torch.randn(2, 7, 5)}
    lengths = {"t": torch.tensor([4, 2]), "v": torch.tensor([7, 5])}
    model = build_model(name, dims, 2, d_model=8, n_heads=2, pooling="last-mean").eval()
    out = model(x, lengths)
    assert out.pooled.shape == (2, 2 * 2 * 8)  # (last, mean) of each of the two streams
    seq = out.sequences  # the final states the read-out pools
    for i, m in enumerate(("t", "v")):
        n = int(lengths[m][1])
        last, mean = out.pooled[1, 16 * i : 16 * i + 8], out.pooled[1, 16 * i + 8 : 16 * (i + 1)]
        torch.testing.assert_close(last, seq[m][1, n - 1])
        torch.testing.assert_close(mean, seq[m][1, :n].mean(0))
    # padding cannot reach it
    x2 = {m: v.clone() for m, v in x.items()}
    x2["t"][1, 2:] = 50.0
    x2["v"][1, 5:] = -50.0
    torch.testing.assert_close(model(x2, lengths).pooled, out.pooled)
    out.predictions.sum().backward()


@pytest.mark.parametrize("name", ["coattention", "lxmert"])
def test_summary_tokens_pool_and_stay_out_of_the_maps(name):
    torch.manual_seed(0)
    dims = {"t": 3, "v": 5}
    x = {"t": torch.randn(2, 4, 3), "v": torch.randn(2, 7, 5)}
    lengths = {"t": torch.tensor([4, 2]), "v": torch.tensor([7, 5])}
    cls_model = build_model(name, dims, 2, d_model=8, n_heads=2, pooling="cls").eval()
    mean_model = build_model(name, dims, 2, d_model=8, n_heads=2, pooling="mean").eval()
    n_cls = sum(p.numel() for p in cls_model.parameters())
    # one token and one BERT pooler (Linear 8 -> 8) per stream
    assert n_cls - sum(p.numel() for p in mean_model.parameters()) == 2 * 8 + 2 * (8 * 8 + 8)
    out = cls_model(x, lengths, return_attention=True)
    for (t, s), ws in out.attentions.items():
        for w in ws:  # (B, H, T_t, T_s): the inputs' steps only
            assert w.shape == (2, 2, x[t].shape[1], x[s].shape[1])
            assert float(w[1, :, :, lengths[s][1] :].abs().sum()) == 0.0
    # the pooled vector is the summary tokens' states: padding content cannot reach it
    x2 = {m: v.clone() for m, v in x.items()}
    x2["t"][1, 2:] = 100.0
    torch.testing.assert_close(cls_model(x2, lengths).pooled, out.pooled)


def test_mtag_config_validation():
    with pytest.raises(ValueError, match=r"keep_ratio must be in \(0, 1\]"):
        MTAGConfig({"t": 3, "a": 2}, keep_ratio=0.0)


def test_build_model_errors():
    assert MODEL_NAMES == ("mult", "early-fusion", "coattention", "lxmert", "mtag", "grounding")
    with pytest.raises(
        ValueError, match="Unknown model 'bert'; valid models are: mult, early-fusion"
    ):
        build_model("bert", {"t": 3, "a": 2}, 1)
    with pytest.raises(
        ValueError, match=r"Unknown MulTConfig options \['depth'\].*valid options are: d_model"
    ):
        build_model("mult", {"t": 3, "a": 2}, 1, depth=3)


def test_input_validation_messages():
    model = build_model("early-fusion", {"t": 3, "a": 2}, 1, d_model=8, n_heads=2, n_layers=1)
    good = {"t": torch.randn(2, 4, 3), "a": torch.randn(2, 5, 2)}
    with pytest.raises(ValueError, match=r"exactly the modalities \['t', 'a'\]"):
        model({"t": good["t"]})
    with pytest.raises(ValueError, match=r"inputs\['a'\] must have shape \(B, T, 2\)"):
        model({"t": good["t"], "a": torch.randn(2, 5, 3)})
    with pytest.raises(TypeError, match=r"inputs\['t'\] must be a float Tensor"):
        model({"t": torch.ones(2, 4, 3, dtype=torch.long), "a": good["a"]})
    with pytest.raises(ValueError, match="batch size 3 but an earlier modality has 2"):
        model({"t": good["t"], "a": torch.randn(3, 5, 2)})
    with pytest.raises(ValueError, match=r"lengths\['a'\] must lie in \[1, 5\]"):
        model(good, {"a": torch.tensor([0, 5])})
    with pytest.raises(ValueError, match="lengths names unknown modalities"):
        model(good, {"v": torch.tensor([1, 1])})
    with pytest.raises(ValueError, match=r"must be an integer tensor of shape \(2,\)"):
        model(good, {"a": torch.tensor([1.0, 2.0])})
