"""MulT: the Multimodal Transformer for unaligned sequences.

Tsai, Bai, Liang, Kolter, Morency, Salakhutdinov. "Multimodal Transformer for Unaligned
Multimodal Language Sequences." ACL 2019. Built as the reference code builds it
(yaohungt/Multimodal-Transformer): with :meth:`MulTConfig.reference` the module has the same
parameters (names aside) and, for the same weights and unpadded inputs, the same outputs.

Beyond the reference: real padding masks (right padding, per-modality lengths), any number of
modalities >= 2, the future mask as an option, and torch's fused attention kernel whenever the
attention weights are not requested.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmalign.implicit._common import (
    MultiheadAttention,
    PretrainedMixin,
    combine_masks,
    key_padding_mask,
    last_valid,
    prepare_inputs,
    sinusoidal_embedding,
)
from mmalign.implicit.config import MulTConfig
from mmalign.implicit.outputs import ModelOutput

__all__ = ["MulT", "future_mask"]


def _linear(d_in: int, d_out: int) -> nn.Linear:
    m = nn.Linear(d_in, d_out)
    nn.init.xavier_uniform_(m.weight)
    nn.init.zeros_(m.bias)
    return m


def future_mask(len_q: Tensor, len_k: Tensor, t_q: int, t_k: int) -> Tensor:
    """MulT's "future" mask with per-sample valid lengths.

    Query ``i`` may attend to key ``j`` iff ``j <= i + |L_k - L_q|`` (the reference's
    ``triu(-inf, 1 + |L_k - L_q|)`` computed from the valid lengths, so padding changes nothing).

    Returns
    -------
    BoolTensor of shape (B, 1, T_q, T_k)
        True = may attend.
    """
    offset = (len_k - len_q).abs()  # (B,)
    i = torch.arange(t_q, device=len_q.device)
    j = torch.arange(t_k, device=len_q.device)
    return (j[None, None, :] <= i[None, :, None] + offset[:, None, None])[:, None]


def _future(enabled: bool, len_q: Tensor, len_k: Tensor, t_q: int, t_k: int) -> Tensor | None:
    """The future mask, or None when it is off or masks nothing (e.g. a short source)."""
    if not enabled:
        return None
    mask = future_mask(len_q, len_k, t_q, t_k)
    return None if bool(mask.all()) else mask


class _Layer(nn.Module):
    """Pre-LN Transformer layer; for crossmodal blocks one LayerNorm normalises Q and K/V."""

    def __init__(self, dim: int, n_heads: int, attn_dropout: float, relu_dropout, res_dropout):
        super().__init__()
        self.attn = MultiheadAttention(dim, n_heads, attn_dropout)
        self.fc1 = _linear(dim, 4 * dim)
        self.fc2 = _linear(4 * dim, dim)
        self.norm_attn = nn.LayerNorm(dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.relu_dropout, self.res_dropout = relu_dropout, res_dropout

    def forward(self, x, k=None, v=None, *, mask=None, need_weights=False):
        # x (B, T_q, d); k, v (B, T_k, d) or None for self-attention
        residual = x
        x = self.norm_attn(x)
        if k is None:
            h, weights = self.attn(x, mask=mask, need_weights=need_weights)
        else:
            k_n = self.norm_attn(k)
            v_n = k_n if v is k else self.norm_attn(v)
            h, weights = self.attn(x, k_n, v_n, mask=mask, need_weights=need_weights)
        x = residual + F.dropout(h, p=self.res_dropout, training=self.training)
        residual = x
        h = F.relu(self.fc1(self.norm_ffn(x)))
        h = F.dropout(h, p=self.relu_dropout, training=self.training)
        h = F.dropout(self.fc2(h), p=self.res_dropout, training=self.training)
        return residual + h, weights


class _Encoder(nn.Module):
    """The reference ``TransformerEncoder``: scale by sqrt(d), add sinusoidal positions,
    embedding dropout, pre-LN layers (keys/values fixed across layers), final LayerNorm."""

    def __init__(
        self, dim, n_heads, n_layers, attn_dropout, relu_dropout, res_dropout, embed_dropout
    ):
        super().__init__()
        self.dim, self.embed_dropout = dim, embed_dropout
        self.layers = nn.ModuleList(
            _Layer(dim, n_heads, attn_dropout, relu_dropout, res_dropout) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def embed(self, x: Tensor, mask: Tensor) -> Tensor:
        # (B, T, d); padded steps get no position (the reference's padding index 0)
        pos = sinusoidal_embedding(x.shape[1], self.dim, device=x.device).to(x.dtype)
        pos = pos[None] * mask[:, :, None].to(x.dtype)
        return math.sqrt(self.dim) * x + pos

    def forward(self, x, mask, kv=None, kv_mask=None, *, attn_mask=None, need_weights=False):
        drop = self.embed_dropout if self.training else 0.0
        x = F.dropout(self.embed(x, mask), p=drop)
        k = v = None
        if kv is not None:
            e = self.embed(kv, kv_mask)
            k = F.dropout(e, p=drop)
            # keys and values get independent dropout masks, as in the reference
            v = F.dropout(e, p=drop) if drop > 0 else k
        weights = []
        for layer in self.layers:
            x, w = layer(x, k, v, mask=attn_mask, need_weights=need_weights)
            weights.append(w)
        return self.norm(x), weights


class MulT(PretrainedMixin, nn.Module):
    """Multimodal Transformer (Tsai et al., ACL 2019) for any number of modalities.

    For every target modality ``t`` and every other modality ``s``, a crossmodal Transformer
    lets ``t`` (queries) attend to the projected low-level features of ``s`` (keys/values, the
    same at every layer). The ``M - 1`` streams of each target are concatenated and run
    through a self-attention Transformer; its last valid step is the target's summary. The
    summaries are concatenated (``M (M - 1) d_model``) and read by a residual MLP head.

    Parameters
    ----------
    config : MulTConfig

    Examples
    --------
    >>> import torch
    >>> from mmalign.implicit import MulT, MulTConfig
    >>> model = MulT(MulTConfig({"text": 8, "audio": 4}, n_outputs=1, d_model=10, n_heads=2,
    ...                         n_layers=1)).eval()
    >>> out = model({"text": torch.randn(2, 5, 8), "audio": torch.randn(2, 7, 4)})
    >>> tuple(out.predictions.shape), tuple(out.pooled.shape)
    ((2, 1), (2, 20))
    """

    config_class = MulTConfig

    def __init__(self, config: MulTConfig) -> None:
        super().__init__()
        if not isinstance(config, MulTConfig):
            raise TypeError(f"config must be a MulTConfig, got {type(config).__name__}.")
        self.config = config
        mods, d = config.modalities, config.d_model
        n_streams = len(mods) - 1
        proj = {}
        for m in mods:
            k = config.per_modality("kernel_sizes", m)
            # as in the reference: a modality already of width d with kernel 1 is not projected
            if config.input_dims[m] == d and k == 1:
                proj[m] = nn.Identity()
            else:
                proj[m] = nn.Conv1d(config.input_dims[m], d, k, padding=(k - 1) // 2, bias=False)
        self.proj = nn.ModuleDict(proj)

        def encoder(dim, n_layers, attn_dropout):
            return _Encoder(
                dim,
                config.n_heads,
                n_layers,
                attn_dropout,
                config.relu_dropout,
                config.res_dropout,
                config.embed_dropout,
            )

        self.cross = nn.ModuleDict(
            {
                t: nn.ModuleDict(
                    {
                        s: encoder(d, config.n_layers, config.source_attn_dropout(s))
                        for s in mods
                        if s != t
                    }
                )
                for t in mods
            }
        )
        self.mem = nn.ModuleDict(
            {t: encoder(n_streams * d, config.mem_layers, config.mem_attn_dropout) for t in mods}
        )
        combined = len(mods) * n_streams * d
        self.proj1 = nn.Linear(combined, combined)
        self.proj2 = nn.Linear(combined, combined)
        self.out_layer = nn.Linear(combined, config.n_outputs)

    def forward(
        self,
        inputs: dict[str, Tensor],
        lengths: dict[str, Tensor] | None = None,
        *,
        return_attention: bool = False,
    ) -> ModelOutput:
        """Run the model.

        Parameters
        ----------
        inputs : dict of str to Tensor of shape (B, T_m, D_m)
            Right-padded features per modality.
        lengths : dict of str to LongTensor of shape (B,), optional
            Valid lengths; None = full length.
        return_attention : bool, default False
            Compute and return the attention weights (slower: the fused kernel is bypassed).

        Returns
        -------
        ModelOutput
            ``attentions[(t, s)]`` holds the crossmodal weights of every layer (s != t) and
            ``attentions[(t, t)]`` the self-attention weights over t's concatenated streams.
        """
        cfg = self.config
        mods = cfg.modalities
        xs, lens, masks = prepare_inputs(cfg, inputs, lengths)
        feats = {}
        for m, x in zip(mods, xs):
            p_in = cfg.input_dropout_of(m)
            x = F.dropout(x, p=p_in, training=self.training)
            proj = self.proj[m]
            feats[m] = (
                x if isinstance(proj, nn.Identity) else proj(x.transpose(1, 2)).transpose(1, 2)
            )
        L = dict(zip(mods, lens))
        M = dict(zip(mods, masks))
        pads = {m: key_padding_mask(M[m]) for m in mods}
        if all(p is None for p in pads.values()):
            # no padding anywhere: one future mask serves the whole batch
            L = {m: n[:1] for m, n in L.items()}
        attentions: dict[tuple[str, str], list[Tensor]] = {}
        summaries, sequences = [], {}
        for t in mods:
            t_len = feats[t].shape[1]
            streams = []
            for s in mods:
                if s == t:
                    continue
                fut = _future(cfg.future_mask, L[t], L[s], t_len, feats[s].shape[1])
                h, w = self.cross[t][s](
                    feats[t],
                    M[t],
                    feats[s],
                    M[s],
                    attn_mask=combine_masks(pads[s], fut),
                    need_weights=return_attention,
                )
                streams.append(h)  # (B, T_t, d)
                if return_attention:
                    attentions[(t, s)] = w
            h = torch.cat(streams, dim=-1)  # (B, T_t, (M-1) d)
            fut = _future(cfg.future_mask, L[t], L[t], t_len, t_len)
            h, w = self.mem[t](
                h, M[t], attn_mask=combine_masks(pads[t], fut), need_weights=return_attention
            )
            if return_attention:
                attentions[(t, t)] = w
            sequences[t] = h  # (B, T_t, (M-1) d)
            summaries.append(last_valid(h, lens[mods.index(t)]))
        pooled = torch.cat(summaries, dim=-1)  # (B, M (M-1) d)
        h = F.dropout(F.relu(self.proj1(pooled)), p=cfg.out_dropout, training=self.training)
        h = self.proj2(h) + pooled
        return ModelOutput(
            predictions=self.out_layer(h),
            pooled=pooled,
            attentions=attentions,
            lengths=dict(zip(mods, lens)),
            sequences=sequences,
        )
