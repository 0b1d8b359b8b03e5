"""Cross-modality encoder in the manner of LXMERT.

Tan, Bansal. "LXMERT: Learning Cross-Modality Encoder Representations from Transformers."
EMNLP 2019.
"""

from __future__ import annotations

from torch import nn

from mmalign.implicit._common import PretrainedMixin, key_padding_mask
from mmalign.implicit._streams import MultiStreamModel, cross_attend
from mmalign.implicit.config import LXMERTConfig

__all__ = ["LXMERT"]


class LXMERT(PretrainedMixin, MultiStreamModel):
    """Per-modality self-attention encoders, then cross-modality layers.

    Each cross-modality layer, per stream ``m`` (all streams from the same inputs): cross
    attention to the other streams (their concatenation) + residual + LayerNorm; then
    self-attention + residual + LayerNorm; then FFN + residual + LayerNorm. Pooled (B, M d_model): the final
    states of the streams' summary tokens (``pooling="cls"``, default) or their masked means
    (``"mean"``), concatenated; head: MLP.

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
        self._build_common(config)
        mods = config.modalities
        self.cross_blocks = nn.ModuleList(
            nn.ModuleDict({m: self._layer(ffn=False) for m in mods})
            for _ in range(config.n_cross_layers)
        )
        # self-attention then FFN, per stream
        self.self_ffn = nn.ModuleList(
            nn.ModuleDict({m: self._layer() for m in mods}) for _ in range(config.n_cross_layers)
        )

    def cross_block(self, i, h, masks, attentions, need_weights):
        new = {}
        for t in h:
            new[t], split = cross_attend(self.cross_blocks[i][t], t, h, masks, need_weights)
            for s, w in split.items():
                attentions[(t, s)].append(w)
        for t in new:
            new[t], w = self.self_ffn[i][t](
                new[t], mask=key_padding_mask(masks[t]), need_weights=need_weights
            )
            if need_weights:
                attentions[(t, t)].append(w)
        return new
