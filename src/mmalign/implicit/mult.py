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

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

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
from mmalign.implicit.config import (
    FloatOrMap,
    IntOrMap,
    ModelConfig,
    check_kernel_sizes,
    check_per_modality,
    check_positive_int,
    check_rate,
)
from mmalign.implicit.outputs import ModelOutput

__all__ = ["MulTConfig", "MulT", "future_mask"]


@dataclass
class MulTConfig(ModelConfig):
    """Multimodal Transformer (MulT; Tsai et al., ACL 2019).

    The defaults are the reference code's (yaohungt/Multimodal-Transformer, ``main.py``):
    d 30, Conv1d kernel 1, 5 heads, 5 layers, 3+ layers in the self-attention ("memory")
    Transformers, the same dropouts, the first modality in the role of the reference's text.
    Two departures by default, both switchable: real padding masks (the reference has none)
    and ``future_mask=False`` (the reference applies its triangular "future" mask by default).
    :meth:`reference` reproduces the reference exactly (same parameter count, same outputs for
    the same weights).

    Parameters
    ----------
    d_model : int, default 30
        Width of every projected modality stream (the paper's appendix uses 40 on MOSEI).
    kernel_sizes : int or dict of str to int, default 1
        Conv1d kernel size of the temporal projection, per modality (odd; padding keeps T).
        As in the reference, a modality whose feature dim already equals ``d_model`` (with
        kernel 1) is not projected.
    n_heads : int, default 5
        Attention heads; must divide ``d_model``.
    n_layers : int, default 5
        Layers of each crossmodal Transformer (``--nlevels``).
    n_mem_layers : int or None, default None
        Layers of the per-target self-attention Transformer; None = ``max(n_layers, 3)``.
    attn_dropout : float, dict of str to float, or None, default None
        Attention dropout of a crossmodal block, taken from its SOURCE modality. None = the
        reference's rule: 0.1 for the first modality (its text), 0.0 for the others.
    mem_attn_dropout : float, default 0.1
        Attention dropout of the self-attention Transformers.
    relu_dropout, res_dropout : float, default 0.1
        Dropout after the FFN's ReLU and on each residual branch.
    embed_dropout : float, default 0.25
        Dropout on every Transformer's scaled input plus positions (queries, keys, values).
    input_dropout : float, dict of str to float, or None, default None
        Dropout on the raw input features. None = the reference's rule: 0.25 on the first
        modality (its text), none on the others.
    out_dropout : float, default 0.0
        Dropout inside the residual MLP head.
    future_mask : bool, default False
        Triangular mask: query ``i`` sees keys ``j <= i + |L_k - L_q|`` (valid lengths).
    """

    model_name: ClassVar[str] = "mult"

    d_model: int = 30
    kernel_sizes: IntOrMap = 1
    n_heads: int = 5
    n_layers: int = 5
    n_mem_layers: int | None = None
    attn_dropout: FloatOrMap | None = None
    mem_attn_dropout: float = 0.1
    relu_dropout: float = 0.1
    res_dropout: float = 0.1
    embed_dropout: float = 0.25
    input_dropout: FloatOrMap | None = None
    out_dropout: float = 0.0
    future_mask: bool = False

    def _validate(self) -> None:
        mods = self.modalities
        check_positive_int(self.d_model, "d_model")
        check_positive_int(self.n_heads, "n_heads")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads ({self.n_heads}) must divide d_model ({self.d_model}); "
                f"e.g. d_model={self.n_heads * max(1, self.d_model // self.n_heads)}."
            )
        check_positive_int(self.n_layers, "n_layers")
        if self.n_mem_layers is not None:
            check_positive_int(self.n_mem_layers, "n_mem_layers")

        check_kernel_sizes(self)
        for name in ("attn_dropout", "input_dropout"):
            if getattr(self, name) is not None:
                check_per_modality(getattr(self, name), name, mods + ["default"], check_rate)
        for name in ("mem_attn_dropout", "relu_dropout", "res_dropout", "embed_dropout"):
            check_rate(getattr(self, name), name)
        check_rate(self.out_dropout, "out_dropout")

    @property
    def mem_layers(self) -> int:
        """Depth of the self-attention Transformers."""
        return self.n_mem_layers if self.n_mem_layers is not None else max(self.n_layers, 3)

    def source_attn_dropout(self, modality: str) -> float:
        """Attention dropout of crossmodal blocks whose source is ``modality``."""
        value = self.per_modality("attn_dropout", modality)
        if value is None:
            return 0.1 if modality == self.modalities[0] else 0.0
        return float(value)

    def input_dropout_of(self, modality: str) -> float:
        """Dropout on the raw features of ``modality``."""
        value = self.per_modality("input_dropout", modality)
        if value is None:
            return 0.25 if modality == self.modalities[0] else 0.0
        return float(value)

    @classmethod
    def reference(cls, input_dims: dict[str, int], n_outputs: int = 1) -> MulTConfig:
        """The reference code's defaults exactly (``main.py`` of yaohungt/Multimodal-Transformer).

        The first modality plays the reference's text: its raw input gets dropout 0.25 and
        attention dropout 0.1; the others get attention dropout 0.0. The future mask is on.
        """
        mods = list(input_dims)
        return cls(
            input_dims=dict(input_dims),
            n_outputs=n_outputs,
            attn_dropout={m: (0.1 if i == 0 else 0.0) for i, m in enumerate(mods)},
            input_dropout={m: (0.25 if i == 0 else 0.0) for i, m in enumerate(mods)},
            future_mask=True,
        )

    @classmethod
    def paper(cls, input_dims: dict[str, int], n_outputs: int = 1) -> MulTConfig:
        """The paper's unaligned-MOSEI appendix setting: d 40, kernels 1 (first) / 3 (others)."""
        mods = list(input_dims)
        base = cls.reference(input_dims, n_outputs)
        return dataclasses.replace(
            base, d_model=40, kernel_sizes={m: (1 if i == 0 else 3) for i, m in enumerate(mods)}
        )


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
