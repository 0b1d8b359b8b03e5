"""Two-stream co-attentional Transformer in the manner of ViLBERT.

Lu, Batra, Parikh, Lee. "ViLBERT: Pretraining Task-Agnostic Visiolinguistic Representations
for Vision-and-Language Tasks." NeurIPS 2019.

Reads top to bottom: the layers (a Transformer layer, TRM, and a co-attention layer, Co-TRM),
the model (embeddings, per-stream TRMs, Co-TRM + TRM blocks, pooling, head).
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

__all__ = ["CoAttentionConfig", "CoAttentionTransformer"]


@dataclass
class CoAttentionConfig(ModelConfig):
    """Two-stream co-attention as in ViLBERT (Lu et al., NeurIPS 2019).

    Each modality is embedded to ``d_model``, runs ``n_self_layers`` self-attention layers of
    its own (per-stream depth), then ``n_coattn_layers`` co-attention blocks. In a block every
    stream queries the others (keys/values = the concatenation of all other streams; with two
    modalities exactly ViLBERT's co-attention), then its own FFN; a self-attention layer per
    stream follows (ViLBERT interleaves Co-TRM and TRM).

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
    n_self_layers : int or dict of str to int, default 1
        Self-attention layers per stream before co-attention (0 allowed; ViLBERT's text
        stream is deeper).
    n_coattn_layers : int, default 2
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

    model_name: ClassVar[str] = "coattention"

    d_model: int = 64
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    attn_dropout: float = 0.1
    positions: str = "learned"
    max_positions: int = 512
    norm_first: bool = False
    n_self_layers: IntOrMap = 1
    n_coattn_layers: int = 2
    pooling: str = "cls"
    kernel_sizes: IntOrMap = 1

    def _validate(self) -> None:
        check_bert(self)
        check_self_layers(self)
        check_positive_int(self.n_coattn_layers, "n_coattn_layers")


class SelfLayer(nn.Module):
    """ViLBERT's TRM: self-attention, then FFN."""

    def __init__(self, config: CoAttentionConfig) -> None:
        super().__init__()
        Attention, FeedForward = sublayers(config.norm_first)
        d = config.d_model
        self.self_attn = Attention(d, config.n_heads, config.dropout, config.attn_dropout)
        self.ffn = FeedForward(d, config.ff_mult, config.dropout)

    def forward(self, x: Tensor, mask: Tensor | None, need_weights: bool):
        x, w = self.self_attn(x, mask=mask, need_weights=need_weights)  # (B, T, d)
        return self.ffn(x), w


class CoLayer(nn.Module):
    """ViLBERT's Co-TRM for one stream: its queries attend to the other streams' keys and
    values (their concatenation), then its own FFN."""

    def __init__(self, config: CoAttentionConfig) -> None:
        super().__init__()
        Attention, FeedForward = sublayers(config.norm_first)
        d = config.d_model
        self.cross_attn = Attention(d, config.n_heads, config.dropout, config.attn_dropout)
        self.ffn = FeedForward(d, config.ff_mult, config.dropout)

    def forward(self, x, others, mask_others, need_weights):
        # x (B, T, d) queries others (B, T_o, d) -> (B, T, d)
        x, w_cross = self.cross_attn(x, others, mask=mask_others, need_weights=need_weights)
        return self.ffn(x), w_cross


class CoAttentionTransformer(PretrainedMixin, nn.Module):
    """Per-stream TRMs, then co-attention blocks (ViLBERT).

    Embedding per stream: ``LayerNorm(c Linear(x) + position)`` (post-LN layout) or
    ``c Linear(x) + position`` (``norm_first``), then dropout, with ``c = sqrt(d)`` against
    sinusoidal positions or in the pre-LN layout, else 1 (BERT's learned positions); with ``pooling="cls"`` a
    learned summary token leads the stream (ViLBERT's [CLS] and [IMG]). Each block: a Co-TRM
    for every stream from the same inputs (with two modalities exactly ViLBERT's co-attention;
    with more, a stream attends to the others concatenated), then a TRM per stream. Pooled
    (B, M d): per stream the summary token through BERT's pooler ``tanh(Linear)`` (or the mean /
    last step), concatenated (ViLBERT multiplies its two); head: ``Linear -> GELU -> LayerNorm
    -> Linear`` (ViLBERT's SimpleClassifier).

    Parameters
    ----------
    config : CoAttentionConfig
    """

    config_class = CoAttentionConfig

    def __init__(self, config: CoAttentionConfig) -> None:
        super().__init__()
        if not isinstance(config, CoAttentionConfig):
            raise TypeError(f"config must be a CoAttentionConfig, got {type(config).__name__}.")
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
        # per-stream TRMs before co-attention
        self.self_layers = nn.ModuleDict(
            {
                m: nn.ModuleList(
                    SelfLayer(config) for _ in range(config.per_modality("n_self_layers", m))
                )
                for m in mods
            }
        )
        # co-attention blocks: a Co-TRM, then a TRM, per stream
        self.co_layers = nn.ModuleList(
            nn.ModuleDict({m: CoLayer(config) for m in mods}) for _ in range(config.n_coattn_layers)
        )
        self.post_layers = nn.ModuleList(
            nn.ModuleDict({m: SelfLayer(config) for m in mods})
            for _ in range(config.n_coattn_layers)
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

        ``attentions[(t, s)]`` (s != t) lists the co-attention weights of every block;
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

        # 1. embeddings and per-stream TRMs
        h = {}
        for m, x in zip(mods, xs):
            z = self.embed(m, x)  # (B, lead + T_m, d)
            for layer in self.self_layers[m]:
                z, w = layer(z, key_padding_mask(masks[m]), return_attention)
                if return_attention:
                    attentions[(m, m)].append(w)
            h[m] = z

        # 2. co-attention blocks: every stream's Co-TRM reads the same inputs, then its TRM
        for co_block, post_block in zip(self.co_layers, self.post_layers):
            new = {}
            for t in mods:
                sources = [s for s in mods if s != t]
                others = torch.cat([h[s] for s in sources], dim=1)  # (B, sum T_s, d)
                others_mask = torch.cat([masks[s] for s in sources], dim=1)
                new[t], w_cross = co_block[t](
                    h[t], others, key_padding_mask(others_mask), return_attention
                )
                if return_attention:  # split the co-attention map per source modality
                    sizes = [h[s].shape[1] for s in sources]
                    for s, w in zip(sources, torch.split(w_cross, sizes, dim=-1)):
                        attentions[(t, s)].append(w)
            for t in mods:
                new[t], w_self = post_block[t](new[t], key_padding_mask(masks[t]), return_attention)
                if return_attention:
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
