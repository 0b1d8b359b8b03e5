"""Single-stream early fusion in the manner of VisualBERT.

Li, Yatskar, Yin, Hsieh, Chang. "VisualBERT: A Simple and Performant Baseline for Vision and
Language." arXiv:1908.03557, 2019.

Reads top to bottom: the encoder layer, the model (embeddings, joint encoder, pooling, head).
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
    masked_mean,
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
)
from mmalign.implicit.outputs import ModelOutput

__all__ = ["EarlyFusionConfig", "EarlyFusionTransformer"]


@dataclass
class EarlyFusionConfig(ModelConfig):
    """Single-stream early fusion as in VisualBERT (Li et al., 2019).

    Each modality is projected to ``d_model`` and gets a learned modality-type embedding and a
    position embedding; the streams are concatenated after a learned [CLS] vector, and one
    Transformer encoder runs over the joint sequence with the joint padding mask. The head
    reads the pooled [CLS] output (``tanh(Linear)``, BERT's pooler).

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
    n_layers : int, default 4
    pooling : {"cls", "mean", "last", "last-mean"}, default "cls"
        ``"cls"``: the [CLS] output; ``"mean"``: the mean of every valid step of every
        modality; ``"last"``: the last valid step of each modality, concatenated;
        ``"last-mean"``: the last valid step and the mean of the valid steps of each
        modality, concatenated (a label that needs every word, as ``ink_pair``, reads the
        mean; a query word placed last, as ``text_vision``'s, the last step).
    kernel_sizes : int or dict of str to int, default 1
        Frames each modality's embedding reads (odd, one or one per modality): 1 is the
        Linear projection of each frame; k > 1 a temporal convolution over k frames
        (:class:`~mmalign.implicit._common.TemporalConv`, MulT's ``kernel_sizes``).
    """

    model_name: ClassVar[str] = "early-fusion"

    d_model: int = 64
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    attn_dropout: float = 0.1
    positions: str = "learned"
    max_positions: int = 512
    norm_first: bool = False
    n_layers: int = 4
    pooling: str = "cls"
    kernel_sizes: IntOrMap = 1

    def _validate(self) -> None:
        check_bert(self)
        check_positive_int(self.n_layers, "n_layers")


class EncoderLayer(nn.Module):
    """A BERT encoder layer over the joint sequence: self-attention, then FFN."""

    def __init__(self, config: EarlyFusionConfig) -> None:
        super().__init__()
        Attention, FeedForward = sublayers(config.norm_first)
        d = config.d_model
        self.self_attn = Attention(d, config.n_heads, config.dropout, config.attn_dropout)
        self.ffn = FeedForward(d, config.ff_mult, config.dropout)

    def forward(self, x: Tensor, mask: Tensor | None, need_weights: bool):
        x, w = self.self_attn(x, mask=mask, need_weights=need_weights)  # (B, T, d)
        return self.ffn(x), w


class EarlyFusionTransformer(PretrainedMixin, nn.Module):
    """One Transformer over the concatenation of all modalities (VisualBERT-style).

    ``[CLS] | proj_1(x_1) + type_1 + pos_1 | ... | proj_M(x_M) + type_M + pos_M`` (positions
    count from 0 within each modality; the content scaled by ``sqrt(d)`` against sinusoidal
    positions or in the pre-LN layout) -> LayerNorm (post-LN layout only) and dropout -> ``n_layers`` encoder layers with the joint
    padding mask -> the [CLS] output through BERT's pooler ``tanh(Linear)`` (or the mean / last
    steps) -> head ``Linear -> GELU -> LayerNorm -> Linear``.

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
        mods, d = config.modalities, config.d_model
        # embeddings
        self.proj = nn.ModuleDict({m: input_projection(config, m) for m in mods})
        self.type_embed = nn.Parameter(torch.randn(len(mods), d) * 0.02)
        self.positions = PositionEmbedding(d, config.positions, config.max_positions)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.embed_norm = None if config.norm_first else nn.LayerNorm(d)
        # joint encoder
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(d) if config.norm_first else None
        # pooling and head
        per_stream = config.pooling in ("last", "last-mean")
        d_pooled = len(mods) * pooled_width(config.pooling, d) if per_stream else d
        self.pooler = nn.Linear(d, d) if config.pooling == "cls" else None
        self.head = ClassifierHead(d_pooled, d, config.n_outputs)

    def forward(
        self,
        inputs: dict[str, Tensor],
        lengths: dict[str, Tensor] | None = None,
        *,
        return_attention: bool = False,
    ) -> ModelOutput:
        """inputs: modality -> (B, T_m, D_m), right-padded; lengths: modality -> (B,) or None."""
        cfg = self.config
        mods, d = cfg.modalities, cfg.d_model
        xs, lens, masks = prepare_inputs(cfg, inputs, lengths)
        bsz = xs[0].shape[0]

        # 1. embeddings: [CLS], then every modality with its type and positions
        parts = [self.cls.to(xs[0].dtype).expand(bsz, 1, d)]
        for i, (m, x) in enumerate(zip(mods, xs)):
            pos = self.positions(x.shape[1], x.device).to(x.dtype)  # (T_m, d)
            content = self.proj[m](x)  # (B, T_m, d)
            # content at the scale of its positions: sqrt(d) against unit-scale sinusoids (as
            # the original Transformer and MulT), 1 against BERT's learned N(0, 0.02) table
            if cfg.norm_first or cfg.positions == "sinusoidal":
                content = math.sqrt(d) * content
            parts.append(content + self.type_embed[i] + pos)
        h = torch.cat(parts, dim=1)  # (B, 1 + sum T_m, d)
        if self.embed_norm is not None:
            h = self.embed_norm(h)
        h = F.dropout(h, p=cfg.dropout, training=self.training)
        joint_mask = torch.cat([masks[0].new_ones(bsz, 1), *masks], dim=1)  # (B, 1 + sum T_m)

        # 2. joint encoder
        attn_mask = key_padding_mask(joint_mask)
        maps = []
        for layer in self.layers:
            h, w = layer(h, attn_mask, return_attention)
            maps.append(w)
        if self.final_norm is not None:
            h = self.final_norm(h)

        # 3. pooling and head
        bounds, start = {}, 1  # where each modality sits in the joint sequence
        for m, x in zip(mods, xs):
            bounds[m] = (start, start + x.shape[1])
            start += x.shape[1]
        if cfg.pooling == "cls":
            pooled = torch.tanh(self.pooler(h[:, 0]))  # (B, d)
        elif cfg.pooling == "mean":
            pooled = masked_mean(h[:, 1:], joint_mask[:, 1:])  # (B, d)
        else:  # per modality (its last valid step, and its mean), concatenated: (B, M d | 2 M d)
            pooled = torch.cat(
                [
                    pool_stream(h[:, slice(*bounds[m])], mk, n, cfg.pooling, summary=False)
                    for m, mk, n in zip(mods, masks, lens)
                ],
                dim=-1,
            )
        attentions: dict[tuple[str, str], list[Tensor]] = {}
        if return_attention:
            for t in mods:
                for s in mods:
                    (a, b), (c, e) = bounds[t], bounds[s]
                    attentions[(t, s)] = [w[:, :, a:b, c:e] for w in maps]
        return ModelOutput(
            predictions=self.head(pooled),
            pooled=pooled,
            attentions=attentions,
            lengths=dict(zip(mods, lens)),
            sequences={m: h[:, slice(*bounds[m])] for m in mods},  # (B, T_m, d)
        )
