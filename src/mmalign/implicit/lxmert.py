"""Cross-modality encoder in the manner of LXMERT.

Tan, Bansal. "LXMERT: Learning Cross-Modality Encoder Representations from Transformers."
EMNLP 2019.

Reads top to bottom: embeddings, the layers (a single-modality layer and the cross-modality
layer), the model (per-stream encoders, cross-modality layers, pooling, head).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmalign.implicit._common import (
    ClassifierHead,
    PositionEmbedding,
    PretrainedMixin,
    input_projection,
    key_padding_mask,
    pool_stream,
    pooled_width,
    prepare_inputs,
    sublayers,
)
from mmalign.implicit.config import (
    IntOrMap,
    ModelConfig,
    check_bert,
    check_positive_int,
    check_self_layers,
)
from mmalign.implicit.outputs import ModelOutput

__all__ = ["LXMERTConfig", "LXMERT"]


@dataclass
class LXMERTConfig(ModelConfig):
    """LXMERT-style encoder (Tan & Bansal, EMNLP 2019).

    Per-modality self-attention encoders (``n_self_layers`` each; LXMERT uses 9 for language
    and 5 for objects), then ``n_cross_layers`` cross-modality layers; in each, per stream:
    cross-attention to the other streams (concatenated, as in :class:`CoAttentionConfig`),
    then self-attention, then FFN.

    Parameters
    ----------
    d_model : int, default 64
    n_heads : int, default 4
        Must divide ``d_model``.
    ff_mult : int, default 4
        FFN width is ``ff_mult * d_model`` (GELU).
    dropout : float, default 0.1
        Embedding, residual and FFN dropout.
    attn_dropout : float, default 0.1
    positions : {"learned", "sinusoidal"}, default "learned"
        ``"learned"``: a position table initialised N(0, 0.02), as BERT and the model's paper
        (small next to the content at the start); ``"sinusoidal"``: fixed unit-scale
        sinusoids (any length; at initialisation they outweigh the projected content).
    max_positions : int, default 512
        Length of the learned position table (longest stream accepted).
    norm_first : bool, default False
        Pre-LN sub-layers and ``sqrt(d_model)``-scaled embeddings without LayerNorm, plus a
        final LayerNorm per stream (MulT's layout) instead of the paper's post-LN (BERT) layout.
    n_self_layers : int or dict of str to int, default 2
    n_cross_layers : int, default 2
    pooling : {"cls", "mean", "last", "last-mean"}, default "cls"
        ``"cls"``: every stream starts with a learned summary token (BERT's [CLS]; ViLBERT's
        [IMG]) and the pooled vector is their final states through BERT's pooler
        (``tanh(Linear)``), concatenated; ``"mean"``: the masked means of the streams;
        ``"last"``: each stream's last real step (MulT's read-out); ``"last-mean"``: both
        the last real step and the masked mean of each stream. Attention maps never include
        the summary tokens.
    kernel_sizes : int or dict of str to int, default 1
        Frames each modality's embedding reads (odd, one or one per modality): 1 is the
        Linear projection of each frame; k > 1 a temporal convolution over k frames
        (:class:`~mmalign.implicit._common.TemporalConv`, MulT's ``kernel_sizes``).
    """

    model_name: ClassVar[str] = "lxmert"

    d_model: int = 64
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    attn_dropout: float = 0.1
    positions: str = "learned"
    max_positions: int = 512
    norm_first: bool = False
    n_self_layers: IntOrMap = 2
    n_cross_layers: int = 2
    pooling: str = "cls"
    kernel_sizes: IntOrMap = 1

    def _validate(self) -> None:
        check_bert(self)
        check_self_layers(self)
        check_positive_int(self.n_cross_layers, "n_cross_layers")


class SelfLayer(nn.Module):
    """One single-modality layer: self-attention, then FFN (LXMERT's language / object layers)."""

    def __init__(self, config: LXMERTConfig) -> None:
        super().__init__()
        Attention, FeedForward = sublayers(config.norm_first)
        d = config.d_model
        self.self_attn = Attention(d, config.n_heads, config.dropout, config.attn_dropout)
        self.ffn = FeedForward(d, config.ff_mult, config.dropout)

    def forward(self, x: Tensor, mask: Tensor | None, need_weights: bool):
        x, w = self.self_attn(x, mask=mask, need_weights=need_weights)  # (B, T, d)
        return self.ffn(x), w


class CrossLayer(nn.Module):
    """One cross-modality layer for one stream: cross-attention to the other streams (their
    concatenation), self-attention, FFN."""

    def __init__(self, config: LXMERTConfig) -> None:
        super().__init__()
        Attention, FeedForward = sublayers(config.norm_first)
        d = config.d_model
        self.cross_attn = Attention(d, config.n_heads, config.dropout, config.attn_dropout)
        self.self_attn = Attention(d, config.n_heads, config.dropout, config.attn_dropout)
        self.ffn = FeedForward(d, config.ff_mult, config.dropout)

    def forward(self, x, others, mask_others, mask_self, need_weights):
        # x (B, T, d) queries others (B, T_o, d) -> (B, T, d)
        x, w_cross = self.cross_attn(x, others, mask=mask_others, need_weights=need_weights)
        x, w_self = self.self_attn(x, mask=mask_self, need_weights=need_weights)
        return self.ffn(x), w_cross, w_self


class LXMERT(PretrainedMixin, nn.Module):
    """Per-modality self-attention encoders, then cross-modality layers (LXMERT).

    Embedding per stream: ``LayerNorm(c Linear(x) + position)`` (post-LN layout) or
    ``c Linear(x) + position`` (``norm_first``), then dropout, with ``c = sqrt(d)`` against
    sinusoidal positions or in the pre-LN layout, else 1 (BERT's learned positions); with ``pooling="cls"`` a
    learned summary token leads the stream. Each cross-modality layer updates every stream from
    the same inputs: cross-attention to the other streams (concatenated; with two modalities
    LXMERT's two-way cross-attention), self-attention, FFN. Pooled (B, M d): per stream the
    summary token through BERT's pooler ``tanh(Linear)`` (or the mean / last step), concatenated;
    head: ``Linear -> GELU -> LayerNorm -> Linear`` (LXMERT's answer head).

    Parameters
    ----------
    config : LXMERTConfig
    """

    config_class = LXMERTConfig

    def __init__(self, config: LXMERTConfig) -> None:
        super().__init__()
        if not isinstance(config, LXMERTConfig):
            raise TypeError(f"config must be an LXMERTConfig, got {type(config).__name__}.")
        self.config = config
        mods, d = config.modalities, config.d_model
        # embeddings
        self.proj = nn.ModuleDict({m: input_projection(config, m) for m in mods})
        self.positions = nn.ModuleDict(
            {m: PositionEmbedding(d, config.positions, config.max_positions) for m in mods}
        )
        self.embed_norm = (
            None if config.norm_first else nn.ModuleDict({m: nn.LayerNorm(d) for m in mods})
        )
        self.summary = (
            nn.ParameterDict({m: nn.Parameter(torch.randn(d) * 0.02) for m in mods})
            if config.pooling == "cls"
            else None
        )
        # single-modality encoders
        self.self_layers = nn.ModuleDict(
            {
                m: nn.ModuleList(
                    SelfLayer(config) for _ in range(config.per_modality("n_self_layers", m))
                )
                for m in mods
            }
        )
        # cross-modality encoder
        self.cross_layers = nn.ModuleList(
            nn.ModuleDict({m: CrossLayer(config) for m in mods})
            for _ in range(config.n_cross_layers)
        )
        # pre-LN stacks end with a LayerNorm (post-LN ones already end normalised)
        self.final_norm = (
            nn.ModuleDict({m: nn.LayerNorm(d) for m in mods}) if config.norm_first else None
        )
        # pooling and head
        self.pooler = (
            nn.ModuleDict({m: nn.Linear(d, d) for m in mods}) if config.pooling == "cls" else None
        )
        self.head = ClassifierHead(len(mods) * pooled_width(config.pooling, d), d, config.n_outputs)

    def embed(self, m: str, x: Tensor) -> Tensor:
        """(B, T, D_m) -> (B, T [+ 1 summary token], d)."""
        cfg, d = self.config, self.config.d_model
        pos = self.positions[m](x.shape[1], x.device).to(x.dtype)  # (T, d)
        # content at the scale of its positions: sqrt(d) against unit-scale sinusoids (as the
        # original Transformer and MulT), 1 against BERT's learned N(0, 0.02) table
        scale = math.sqrt(d) if cfg.norm_first or cfg.positions == "sinusoidal" else 1.0
        h = scale * self.proj[m](x) + pos
        if self.embed_norm is not None:
            h = self.embed_norm[m](h)
        h = F.dropout(h, p=cfg.dropout, training=self.training)
        if self.summary is not None:
            h = torch.cat([self.summary[m].to(h.dtype).expand(len(h), 1, d), h], dim=1)
        return h

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
        xs, lens, step_masks = prepare_inputs(cfg, inputs, lengths)
        lead = 1 if self.summary is not None else 0  # the summary token leads every stream
        masks = {  # (B, lead + T_m), True = may be attended
            m: F.pad(mask, (lead, 0), value=True) for m, mask in zip(mods, step_masks)
        }
        attentions = {(t, s): [] for t in mods for s in mods} if return_attention else {}

        # 1. embeddings and single-modality encoders
        h = {}
        for m, x in zip(mods, xs):
            z = self.embed(m, x)  # (B, lead + T_m, d)
            for layer in self.self_layers[m]:
                z, w = layer(z, key_padding_mask(masks[m]), return_attention)
                if return_attention:
                    attentions[(m, m)].append(w)
            h[m] = z

        # 2. cross-modality layers: every stream is updated from the same inputs
        for block in self.cross_layers:
            new = {}
            for t in mods:
                sources = [s for s in mods if s != t]
                others = torch.cat([h[s] for s in sources], dim=1)  # (B, sum T_s, d)
                others_mask = torch.cat([masks[s] for s in sources], dim=1)
                new[t], w_cross, w_self = block[t](
                    h[t],
                    others,
                    key_padding_mask(others_mask),
                    key_padding_mask(masks[t]),
                    return_attention,
                )
                if return_attention:  # split the cross map per source modality
                    sizes = [h[s].shape[1] for s in sources]
                    for s, w in zip(sources, torch.split(w_cross, sizes, dim=-1)):
                        attentions[(t, s)].append(w)
                    attentions[(t, t)].append(w_self)
            h = new
        if self.final_norm is not None:
            h = {m: self.final_norm[m](z) for m, z in h.items()}

        # 3. pooling and head
        pooled = []
        for m, mask, n in zip(mods, step_masks, lens):
            v = pool_stream(h[m], mask, n, cfg.pooling, summary=bool(lead))  # (B, d) or (B, 2 d)
            pooled.append(torch.tanh(self.pooler[m](v)) if self.pooler is not None else v)
        pooled = torch.cat(pooled, dim=-1)  # (B, M d), (B, 2 M d) for last-mean
        if lead:  # the maps describe the inputs only: drop the summary tokens' rows and columns
            attentions = {k: [w[..., 1:, 1:] for w in ws] for k, ws in attentions.items()}
        return ModelOutput(
            predictions=self.head(pooled),
            pooled=pooled,
            attentions=attentions,
            lengths=dict(zip(mods, lens)),
            sequences={m: z[:, lead:] for m, z in h.items()},  # (B, T_m, d), no summary token
        )
