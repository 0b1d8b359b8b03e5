"""Multi-stream encoders shared by the ViLBERT-style and LXMERT-style models.

Each modality keeps its own stream of width ``d_model``. A cross-attention step lets every
stream query the concatenation of all the other streams (keys/values), under their joint
padding mask; with two modalities this is exactly the two-way co-attention of ViLBERT and
LXMERT.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmalign.implicit._common import (
    PostLNLayer,
    key_padding_mask,
    last_valid,
    masked_mean,
    prepare_inputs,
    sinusoidal_embedding,
)
from mmalign.implicit.outputs import ModelOutput


class StreamEmbedding(nn.Module):
    """Per modality: ``LayerNorm(Linear(x) + positions)`` (BERT), or with ``norm_first``
    ``sqrt(d) * Linear(x) + positions`` (MulT / the original Transformer: the pre-LN layers
    normalise); then dropout. Positions are sinusoidal."""

    def __init__(
        self, input_dims: dict[str, int], d: int, dropout: float, norm_first: bool = False
    ) -> None:
        super().__init__()
        self.d, self.dropout = d, dropout
        self.proj = nn.ModuleDict({m: nn.Linear(k, d) for m, k in input_dims.items()})
        self.norm = None if norm_first else nn.ModuleDict({m: nn.LayerNorm(d) for m in input_dims})

    def forward(self, m: str, x: Tensor) -> Tensor:
        pos = sinusoidal_embedding(x.shape[1], self.d, offset=0, device=x.device).to(x.dtype)
        if self.norm is None:
            h = math.sqrt(self.d) * self.proj[m](x) + pos
        else:
            h = self.norm[m](self.proj[m](x) + pos)
        return F.dropout(h, p=self.dropout, training=self.training)


def cross_attend(
    layer: PostLNLayer,
    target: str,
    h: dict[str, Tensor],
    masks: dict[str, Tensor],
    need_weights: bool,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Stream ``target`` queries the concatenation of the other streams.

    Returns the new target stream (B, T_t, d) and, if asked, the weights split per source
    modality: source -> (B, H, T_t, T_s) (a row sums to 1 over all sources together).
    """
    sources = [s for s in h if s != target]
    kv = torch.cat([h[s] for s in sources], dim=1)
    kv_mask = torch.cat([masks[s] for s in sources], dim=1)
    out, w = layer(h[target], kv, mask=key_padding_mask(kv_mask), need_weights=need_weights)
    split = {}
    if w is not None:
        sizes = [h[s].shape[1] for s in sources]
        split = dict(zip(sources, torch.split(w, sizes, dim=-1)))
    return out, split


class MultiStreamModel(nn.Module):
    """Embedding, per-stream self-attention encoders, a cross block stack, pooling and head.

    Subclasses build ``self.cross_blocks`` and implement :meth:`cross_block`.
    """

    def _build_common(self, config) -> None:
        d = config.d_model
        self.embed = StreamEmbedding(config.input_dims, d, config.dropout, config.norm_first)
        # pre-LN stacks end with a LayerNorm per stream (post-LN ones already end normalised)
        self.final_norm = (
            nn.ModuleDict({m: nn.LayerNorm(d) for m in config.modalities})
            if config.norm_first
            else None
        )

        self.self_layers = nn.ModuleDict(
            {
                m: nn.ModuleList(
                    self._layer() for _ in range(config.per_modality("n_self_layers", m))
                )
                for m in config.modalities
            }
        )
        # [CLS]-like summary tokens, one per stream (pooling="cls")
        self.summary = None
        if config.pooling == "cls":
            self.summary = nn.ParameterDict(
                {m: nn.Parameter(torch.randn(d) * 0.02) for m in config.modalities}
            )
        n_mod = len(config.input_dims)
        self.head = nn.Sequential(
            nn.Linear(n_mod * d, d),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(d, config.n_outputs),
        )

    def _layer(self, ffn: bool = True) -> PostLNLayer:
        cfg = self.config
        return PostLNLayer(
            cfg.d_model,
            cfg.n_heads,
            cfg.ff_mult,
            cfg.dropout,
            cfg.attn_dropout,
            ffn=ffn,
            norm_first=cfg.norm_first,
        )

    def cross_block(self, i, h, masks, attentions, need_weights):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(
        self,
        inputs: dict[str, Tensor],
        lengths: dict[str, Tensor] | None = None,
        *,
        return_attention: bool = False,
    ) -> ModelOutput:
        """inputs: modality -> (B, T_m, D_m), right-padded; lengths: modality -> (B,) or None.

        ``attentions[(t, s)]`` (s != t) lists the cross-attention weights of every cross layer;
        ``attentions[(t, t)]`` the self-attention weights of stream t, in order of computation.
        """
        cfg = self.config
        mods = cfg.modalities
        xs, lens, mask_list = prepare_inputs(cfg, inputs, lengths)
        masks = dict(zip(mods, mask_list))
        attentions: dict[tuple[str, str], list[Tensor]] = {}
        if return_attention:
            attentions = {(t, s): [] for t in mods for s in mods}
        h = {}
        lead = 0 if self.summary is None else 1  # summary tokens lead every stream
        if lead:
            masks = {
                m: torch.cat([torch.ones_like(masks[m][:, :1]), masks[m]], dim=1) for m in mods
            }
        for m, x in zip(mods, xs):
            z = self.embed(m, x)
            if lead:
                z = torch.cat([self.summary[m].to(z.dtype).expand(len(z), 1, -1), z], dim=1)
            pad = key_padding_mask(masks[m])
            for layer in self.self_layers[m]:
                z, w = layer(z, mask=pad, need_weights=return_attention)
                if return_attention:
                    attentions[(m, m)].append(w)
            h[m] = z
        for i in range(len(self.cross_blocks)):
            h = self.cross_block(i, h, masks, attentions, return_attention)
        if self.final_norm is not None:
            h = {m: self.final_norm[m](z) for m, z in h.items()}
        if lead:
            pooled = torch.cat([h[m][:, 0] for m in mods], dim=-1)  # (B, M d)
            # the maps describe the inputs only: drop the summary tokens' rows and columns
            attentions = {k: [w[..., 1:, 1:] for w in ws] for k, ws in attentions.items()}
        elif cfg.pooling == "last":  # each stream's last real step, as MulT reads its streams
            pooled = torch.cat([last_valid(h[m], lens_m) for m, lens_m in zip(mods, lens)], dim=-1)
        else:
            pooled = torch.cat([masked_mean(h[m], masks[m]) for m in mods], dim=-1)  # (B, M d)
        return ModelOutput(
            predictions=self.head(pooled),
            pooled=pooled,
            attentions=attentions,
            lengths=dict(zip(mods, lens)),
        )
