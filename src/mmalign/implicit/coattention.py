"""Co-attentional Transformer in the manner of ViLBERT.

Lu, Batra, Parikh, Lee. "ViLBERT: Pretraining Task-Agnostic Visiolinguistic Representations
for Vision-and-Language Tasks." NeurIPS 2019.
"""

from __future__ import annotations

from torch import nn

from mmalign.implicit._common import PretrainedMixin, key_padding_mask
from mmalign.implicit._streams import MultiStreamModel, cross_attend
from mmalign.implicit.config import CoAttentionConfig

__all__ = ["CoAttentionTransformer"]


class CoAttentionTransformer(PretrainedMixin, MultiStreamModel):
    """Per-stream self-attention (per-stream depths), then co-attention blocks.

    A co-attention block (ViLBERT's Co-TRM followed by a TRM) does, for every stream ``m`` at
    once: ``m`` queries the other streams (keys/values = their concatenation; with two
    modalities: the other stream) with residual + LayerNorm, then ``m``'s own FFN with
    residual + LayerNorm; then one self-attention layer per stream. Pooled (B, M d_model): the
    final states of the streams' summary tokens (``pooling="cls"``, default; ViLBERT's [CLS]
    and [IMG]) or their masked means (``"mean"``), concatenated; head: MLP.

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
        self._build_common(config)
        mods = config.modalities
        self.cross_blocks = nn.ModuleList(
            nn.ModuleDict({m: self._layer() for m in mods}) for _ in range(config.n_coattn_layers)
        )
        self.post_self = nn.ModuleList(
            nn.ModuleDict({m: self._layer() for m in mods}) for _ in range(config.n_coattn_layers)
        )

    def cross_block(self, i, h, masks, attentions, need_weights):
        new = {}
        for t in h:  # co-attention + FFN, all streams from the same inputs
            new[t], split = cross_attend(self.cross_blocks[i][t], t, h, masks, need_weights)
            for s, w in split.items():
                attentions[(t, s)].append(w)
        for t in new:  # then a self-attention layer per stream
            new[t], w = self.post_self[i][t](
                new[t], mask=key_padding_mask(masks[t]), need_weights=need_weights
            )
            if need_weights:
                attentions[(t, t)].append(w)
        return new
