"""Single-stream early fusion in the manner of VisualBERT.

Li, Yatskar, Yin, Hsieh, Chang. "VisualBERT: A Simple and Performant Baseline for Vision and
Language." arXiv:1908.03557, 2019.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmalign.implicit._common import (
    PostLNLayer,
    PretrainedMixin,
    key_padding_mask,
    prepare_inputs,
    sinusoidal_embedding,
)
from mmalign.implicit.config import EarlyFusionConfig
from mmalign.implicit.outputs import ModelOutput

__all__ = ["EarlyFusionTransformer"]


class EarlyFusionTransformer(PretrainedMixin, nn.Module):
    """One Transformer over the concatenation of all modalities (VisualBERT-style).

    ``[CLS] | proj_1(x_1) + type_1 + pos | ... | proj_M(x_M) + type_M + pos`` -> LayerNorm,
    dropout -> ``n_layers`` post-LN encoder layers with the joint padding mask -> the [CLS]
    output through ``tanh(Linear)`` (the pooled vector) -> ``Linear`` head.

    Parameters
    ----------
    config : EarlyFusionConfig

    Notes
    -----
    ``attentions[(t, s)]`` are the blocks of the joint self-attention map with target rows in
    modality ``t`` and source columns in modality ``s`` (the [CLS] row and column left out), so
    a row sums to 1 only over all source blocks together (and [CLS]).
    """

    config_class = EarlyFusionConfig

    def __init__(self, config: EarlyFusionConfig) -> None:
        super().__init__()
        if not isinstance(config, EarlyFusionConfig):
            raise TypeError(f"config must be an EarlyFusionConfig, got {type(config).__name__}.")
        self.config = config
        d = config.d_model
        self.proj = nn.ModuleDict({m: nn.Linear(k, d) for m, k in config.input_dims.items()})
        self.type_embed = nn.Parameter(torch.randn(len(config.input_dims), d) * 0.02)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.norm = nn.LayerNorm(d)
        self.layers = nn.ModuleList(
            PostLNLayer(d, config.n_heads, config.ff_mult, config.dropout, config.attn_dropout)
            for _ in range(config.n_layers)
        )
        self.pooler = nn.Linear(d, d)
        self.head = nn.Linear(d, config.n_outputs)

    def forward(
        self,
        inputs: dict[str, Tensor],
        lengths: dict[str, Tensor] | None = None,
        *,
        return_attention: bool = False,
    ) -> ModelOutput:
        """inputs: modality -> (B, T_m, D_m), right-padded; lengths: modality -> (B,) or None."""
        cfg = self.config
        mods = cfg.modalities
        xs, lens, masks = prepare_inputs(cfg, inputs, lengths)
        bsz, d = xs[0].shape[0], cfg.d_model
        parts = [self.cls.expand(bsz, 1, d)]
        joint_mask = [masks[0].new_ones(bsz, 1)]
        for i, (m, x, mask) in enumerate(zip(mods, xs, masks)):
            pos = sinusoidal_embedding(x.shape[1], d, offset=0, device=x.device).to(x.dtype)
            parts.append(self.proj[m](x) + self.type_embed[i] + pos)  # (B, T_m, d)
            joint_mask.append(mask)
        h = torch.cat(parts, dim=1)  # (B, 1 + sum T_m, d)
        mask = torch.cat(joint_mask, dim=1)
        h = F.dropout(self.norm(h), p=cfg.dropout, training=self.training)
        attn_mask = key_padding_mask(mask)
        maps = []
        for layer in self.layers:
            h, w = layer(h, mask=attn_mask, need_weights=return_attention)
            maps.append(w)
        attentions: dict[tuple[str, str], list[Tensor]] = {}
        if return_attention:
            bounds, start = {}, 1
            for m, x in zip(mods, xs):
                bounds[m] = (start, start + x.shape[1])
                start += x.shape[1]
            for t in mods:
                for s in mods:
                    (a, b), (c, e) = bounds[t], bounds[s]
                    attentions[(t, s)] = [w[:, :, a:b, c:e] for w in maps]
        pooled = torch.tanh(self.pooler(h[:, 0]))  # (B, d)
        return ModelOutput(
            predictions=self.head(pooled),
            pooled=pooled,
            attentions=attentions,
            lengths=dict(zip(mods, lens)),
        )
