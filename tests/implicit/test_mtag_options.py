"""MTAG's small-data options: readout of the last nodes, dot-product attention, residual,
pre-LN, content scale and head width (shapes and behaviour)."""

from __future__ import annotations

import pytest
import torch

from mmalign.implicit import build_model
from mmalign.implicit.config import MTAGConfig

DIMS = {"text": 5, "vision": 7}


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = {"text": torch.randn(3, 4, 5, generator=g), "vision": torch.randn(3, 9, 7, generator=g)}
    lengths = {"text": torch.tensor([4, 2, 3]), "vision": torch.tensor([9, 5, 7])}
    return x, lengths


def _model(**kw):
    torch.manual_seed(0)
    kw = {"d_model": 8, "n_heads": 2, "n_layers": 2, **kw}
    return build_model("mtag", DIMS, 3, **kw).eval()


def test_last_pooling_concatenates_the_last_real_node_of_each_modality():
    model = _model(pooling="last", head_hidden=6)
    x, lengths = _batch()
    out = model(x, lengths)
    assert out.pooled.shape == (3, 16) and out.predictions.shape == (3, 3)
    assert model.head[0].in_features == 16 and model.head[0].out_features == 6
    # padding beyond each length changes nothing: the last *real* node is read
    x2 = {m: v.clone() for m, v in x.items()}
    x2["text"][1, 2:] = 100.0
    x2["vision"][1, 5:] = -50.0
    torch.testing.assert_close(model(x2, lengths).pooled, out.pooled)
    # and the readout follows the length: a text step of sample 1 after its end, made real,
    # changes what is read
    longer = {"text": torch.tensor([4, 3, 3]), "vision": lengths["vision"]}
    assert not torch.allclose(model(x2, longer).pooled[1], out.pooled[1])


def test_mean_pooling_is_the_reference_default():
    cfg = MTAGConfig(input_dims=DIMS, n_outputs=3)
    assert (cfg.pooling, cfg.attention, cfg.residual, cfg.norm_first) == (
        "mean",
        "gat",
        False,
        False,
    )
    assert cfg.content_scale is False and cfg.head_hidden is None
    model = _model()
    assert model.head[0].out_features == 2  # d // 4
    assert model(*_batch()).pooled.shape == (3, 8)


def test_dot_attention_depends_on_the_target_content():
    # GAT's additive score ranks a node's neighbours of one edge type the same way for every
    # target (strictly so with a linear LeakyReLU); the dot-product term does not.
    from mmalign.implicit.mtag import Graph, MTGATLayer

    src = torch.tensor([2, 3, 4, 5, 2, 3, 4, 5])
    dst = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    graph = Graph(src, dst, torch.zeros(8, dtype=torch.long), torch.zeros(8, dtype=torch.long), 6)
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    for dot in (False, True):
        torch.manual_seed(0)
        layer = MTGATLayer(8, 1, 1, 1, dropout=0.0, slope=1.0, dot=dot).eval()
        _, alpha = layer(x, [slice(0, 6)], graph)
        order0, order1 = alpha[:4, 0].argsort(), alpha[4:, 0].argsort()
        assert torch.equal(order0, order1) is not dot
        torch.testing.assert_close(alpha[:4].sum(0), torch.ones(1))
    assert _model(attention="dot").layers[0].query.shape == (2, 8, 8)


def test_residual_norm_and_scale_change_the_output_and_keep_shapes():
    x, lengths = _batch()
    base = _model(pooling="last", head_hidden=16)(x, lengths).predictions
    for kw in ({"residual": True}, {"norm_first": True}, {"content_scale": True}):
        model = _model(pooling="last", head_hidden=16, **kw)
        out = model(x, lengths)
        assert out.predictions.shape == (3, 3) and torch.isfinite(out.predictions).all()
        assert not torch.allclose(out.predictions, base), kw
    assert len(_model(norm_first=True).norms) == 3 and len(_model().norms) == 0


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"pooling": "cls"}, "pooling"),
        ({"attention": "gatv2"}, "attention"),
        ({"head_hidden": 0}, "head_hidden"),
        ({"residual": 1}, "residual"),
        ({"norm_first": "yes"}, "norm_first"),
        ({"content_scale": None}, "content_scale"),
    ],
)
def test_bad_options_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        MTAGConfig(input_dims=DIMS, n_outputs=3, **kw)


def test_save_and_reload_keeps_the_options(tmp_path):
    model = _model(pooling="last", attention="dot", residual=True, norm_first=True, head_hidden=5)
    x, lengths = _batch()
    model.save_pretrained(tmp_path)
    from mmalign.implicit import from_pretrained

    again = from_pretrained(tmp_path)
    torch.testing.assert_close(again(x, lengths).predictions, model(x, lengths).predictions)
