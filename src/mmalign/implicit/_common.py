"""Pieces every implicit model shares: input checks, masks, positions, attention and its
residual sub-layers (post-LN and pre-LN), the BERT-family answer head, pooling, save/load."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmalign._utils import atomic_path, atomic_write
from mmalign.implicit.config import ModelConfig
from mmalign.implicit.registry import config_class

__all__ = [
    "prepare_inputs",
    "sinusoidal_embedding",
    "PositionEmbedding",
    "MultiheadAttention",
    "FeedForward",
    "PostLNAttention",
    "PostLNFeedForward",
    "PreLNAttention",
    "PreLNFeedForward",
    "sublayers",
    "ClassifierHead",
    "output_layer",
    "pool_stream",
    "PretrainedMixin",
    "masked_mean",
    "key_padding_mask",
    "last_valid",
]


def prepare_inputs(
    config: ModelConfig,
    inputs: dict[str, Tensor],
    lengths: dict[str, Tensor] | None,
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """Validate a batch and return per-modality features, lengths and validity masks.

    Parameters
    ----------
    inputs : dict of str to Tensor of shape (B, T_m, D_m)
        Right-padded float features, one entry per modality of ``config.input_dims``.
    lengths : dict of str to LongTensor of shape (B,), or None
        Valid lengths (1 <= length <= T_m); a missing modality (or None) is full length.

    Returns
    -------
    xs : list of Tensor (B, T_m, D_m)
        In config order, with padded steps set to 0 (so that padding content never leaks).
    lens : list of LongTensor (B,)
    masks : list of BoolTensor (B, T_m)
        True on valid steps.
    """
    mods = config.modalities
    if not isinstance(inputs, dict):
        raise TypeError(
            f"inputs must be a dict modality name -> Tensor (B, T, D), got {type(inputs).__name__}."
        )
    if set(inputs) != set(mods):
        raise ValueError(
            f"inputs must have exactly the modalities {mods} (config.input_dims), got "
            f"{sorted(inputs)}; pass one tensor per modality."
        )
    if lengths is None:
        lengths = {}
    if not isinstance(lengths, dict):
        raise TypeError(
            f"lengths must be a dict modality name -> LongTensor (B,) or None, got "
            f"{type(lengths).__name__}."
        )
    unknown = sorted(set(lengths) - set(mods))
    if unknown:
        raise ValueError(f"lengths names unknown modalities {unknown}; valid ones are {mods}.")
    batch = None
    xs, lens, masks = [], [], []
    for m in mods:
        x = inputs[m]
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(
                f"inputs[{m!r}] must be a float Tensor of shape (B, T, {config.input_dims[m]}), "
                f"got {type(x).__name__}{'' if not isinstance(x, Tensor) else ' ' + str(x.dtype)}."
            )
        if x.dim() != 3 or x.shape[-1] != config.input_dims[m] or x.shape[1] == 0:
            raise ValueError(
                f"inputs[{m!r}] must have shape (B, T, {config.input_dims[m]}) with T >= 1, got "
                f"{tuple(x.shape)}; check the feature dim against config.input_dims."
            )
        if batch is None:
            batch = x.shape[0]
        elif x.shape[0] != batch:
            raise ValueError(
                f"inputs[{m!r}] has batch size {x.shape[0]} but an earlier modality has {batch}; "
                f"all modalities must share B."
            )
        steps = torch.arange(x.shape[1], device=x.device)
        if m in lengths and lengths[m] is not None:
            n = torch.as_tensor(lengths[m], device=x.device)
            if n.dim() != 1 or n.shape[0] != batch or n.is_floating_point():
                raise ValueError(
                    f"lengths[{m!r}] must be an integer tensor of shape ({batch},), got "
                    f"{tuple(n.shape)} {n.dtype}."
                )
            n = n.long()
            if bool((n < 1).any()) or bool((n > x.shape[1]).any()):
                raise ValueError(
                    f"lengths[{m!r}] must lie in [1, {x.shape[1]}] (T of inputs[{m!r}]), got "
                    f"min {int(n.min())}, max {int(n.max())}."
                )
            mask = steps[None, :] < n[:, None]
            x = x.masked_fill(~mask[:, :, None], 0.0)
        else:
            n = torch.full((batch,), x.shape[1], dtype=torch.long, device=x.device)
            mask = torch.ones(batch, x.shape[1], dtype=torch.bool, device=x.device)
        xs.append(x)
        lens.append(n)
        masks.append(mask)
    return xs, lens, masks


def sinusoidal_embedding(n_positions: int, dim: int, *, offset: int = 1, device=None) -> Tensor:
    """Sinusoidal position embeddings as fairseq builds them (sin half, then cos half).

    Row ``t`` encodes position ``t + offset`` (fairseq numbers real steps from 1):
    ``[sin(p w_0) .. sin(p w_{h-1}), cos(p w_0) .. cos(p w_{h-1})]`` with
    ``w_i = 10000^(-i / (h - 1))``, ``h = dim // 2``, and a zero column when ``dim`` is odd.

    Returns
    -------
    Tensor of shape (n_positions, dim)
    """
    half = dim // 2
    rate = math.log(10000) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=device) * -rate)
    pos = torch.arange(offset, offset + n_positions, dtype=torch.float32, device=device)
    angles = pos[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, emb.new_zeros(n_positions, 1)], dim=1)
    return emb


def key_padding_mask(mask: Tensor) -> Tensor | None:
    """(B, T_k) validity -> (B, 1, 1, T_k) attention mask, or None when nothing is padded."""
    if bool(mask.all()):
        return None
    return mask[:, None, None, :]


def combine_masks(*masks: Tensor | None) -> Tensor | None:
    """Logical AND of broadcastable boolean masks, skipping None."""
    out = None
    for m in masks:
        if m is None:
            continue
        out = m if out is None else out & m
    return out


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over valid steps: x (B, T, d), mask (B, T) -> (B, d)."""
    w = mask.to(x.dtype)[:, :, None]
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


def last_valid(x: Tensor, lengths: Tensor) -> Tensor:
    """The last valid step: x (B, T, d), lengths (B,) -> (B, d)."""
    idx = (lengths - 1).clamp_min(0)
    return x[torch.arange(x.shape[0], device=x.device), idx]


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    dropout: float,
    need_weights: bool,
) -> tuple[Tensor, Tensor | None]:
    """Scaled dot-product attention, fused unless the weights are needed.

    q (B, H, T_q, d_h), k and v (B, H, T_k, d_h); mask boolean, broadcastable to
    (B, H, T_q, T_k), True = may attend. Returns the output (B, H, T_q, d_h) and the weights
    (B, H, T_q, T_k) before dropout, or None.
    """
    if not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return out, None
    scores = torch.matmul(q * (q.shape[-1] ** -0.5), k.transpose(-1, -2))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)
    dropped = F.dropout(weights, p=dropout) if dropout > 0 else weights
    return torch.matmul(dropped, v), weights


class MultiheadAttention(nn.Module):
    """Multi-head attention with one packed input projection (as fairseq and MulT pack it).

    Parameters
    ----------
    dim : int
        Model width of queries, keys and values.
    n_heads : int
    dropout : float
        Dropout on the attention weights (training only).
    """

    def __init__(self, dim: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim, self.n_heads, self.dropout = dim, n_heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: Tensor) -> Tensor:  # (B, T, d) -> (B, H, T, d_h)
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.dim // self.n_heads).transpose(1, 2)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """query (B, T_q, d); key/value (B, T_k, d), None for self-attention.

        Returns the output (B, T_q, d) and the weights (B, H, T_q, T_k) or None.
        """
        w, b, d = self.in_proj_weight, self.in_proj_bias, self.dim
        if key is None:
            q, k, v = F.linear(query, w, b).chunk(3, dim=-1)
        else:
            q = F.linear(query, w[:d], b[:d])
            if value is None or value is key:
                k, v = F.linear(key, w[d:], b[d:]).chunk(2, dim=-1)
            else:
                k = F.linear(key, w[d : 2 * d], b[d : 2 * d])
                v = F.linear(value, w[2 * d :], b[2 * d :])
        p = self.dropout if self.training else 0.0
        out, weights = attend(self._heads(q), self._heads(k), self._heads(v), mask, p, need_weights)
        bsz, _, t_q, _ = out.shape
        out = out.transpose(1, 2).reshape(bsz, t_q, d)
        return self.out_proj(out), weights


class FeedForward(nn.Module):
    """Linear -> activation -> dropout -> Linear (width ``mult * dim``)."""

    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0, act: str = "gelu") -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, mult * dim)
        self.fc2 = nn.Linear(mult * dim, dim)
        self.dropout = dropout
        self.act = F.gelu if act == "gelu" else F.relu

    def forward(self, x: Tensor) -> Tensor:
        x = F.dropout(self.act(self.fc1(x)), p=self.dropout, training=self.training)
        return self.fc2(x)


class PositionEmbedding(nn.Module):
    """Position vectors for ``T`` steps: ``(T, dim)``.

    ``"learned"``: a table of ``max_positions`` vectors initialised N(0, 0.02), as BERT,
    VisualBERT, ViLBERT and LXMERT learn theirs (small next to the content at the start).
    ``"sinusoidal"``: the fixed fairseq table (:func:`sinusoidal_embedding`, row ``t`` =
    position ``t``; unit-scale entries, any length).
    """

    def __init__(self, dim: int, kind: str = "learned", max_positions: int = 512) -> None:
        super().__init__()
        self.dim, self.kind, self.max_positions = dim, kind, max_positions
        self.table = None
        if kind == "learned":
            self.table = nn.Parameter(torch.randn(max_positions, dim) * 0.02)

    def forward(self, steps: int, device=None) -> Tensor:
        if self.table is None:
            return sinusoidal_embedding(steps, self.dim, offset=0, device=device)
        if steps > self.max_positions:
            raise ValueError(
                f"a sequence of {steps} steps is longer than max_positions={self.max_positions} "
                f"of the learned position table; raise max_positions or use "
                f"positions='sinusoidal'."
            )
        return self.table[:steps]


class PostLNAttention(nn.Module):
    """BERT's attention sub-layer: ``x = LayerNorm(x + Dropout(Attn(x, kv)))`` (kv None = self)."""

    def __init__(self, dim: int, n_heads: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.attn = MultiheadAttention(dim, n_heads, attn_dropout)
        self.norm = nn.LayerNorm(dim)
        self.dropout = dropout

    def forward(self, x, kv=None, *, mask=None, need_weights=False):
        # x (B, T_q, d); kv (B, T_k, d) or None -> (B, T_q, d), weights (B, H, T_q, T_k) or None
        h, weights = self.attn(x, kv, kv, mask=mask, need_weights=need_weights)
        return self.norm(x + F.dropout(h, p=self.dropout, training=self.training)), weights


class PostLNFeedForward(nn.Module):
    """BERT's feed-forward sub-layer: ``x = LayerNorm(x + Dropout(FFN(x)))`` (GELU)."""

    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__()
        self.ffn = FeedForward(dim, mult, dropout)
        self.norm = nn.LayerNorm(dim)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x + F.dropout(self.ffn(x), p=self.dropout, training=self.training))


class PreLNAttention(nn.Module):
    """Pre-LN attention sub-layer (MulT, the original Transformer code):
    ``x = x + Dropout(Attn(LayerNorm(x), LayerNorm(kv)))``, one LayerNorm for both sides."""

    def __init__(self, dim: int, n_heads: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.attn = MultiheadAttention(dim, n_heads, attn_dropout)
        self.norm = nn.LayerNorm(dim)
        self.dropout = dropout

    def forward(self, x, kv=None, *, mask=None, need_weights=False):
        kv = None if kv is None else self.norm(kv)
        h, weights = self.attn(self.norm(x), kv, kv, mask=mask, need_weights=need_weights)
        return x + F.dropout(h, p=self.dropout, training=self.training), weights


class PreLNFeedForward(nn.Module):
    """Pre-LN feed-forward sub-layer: ``x = x + Dropout(FFN(LayerNorm(x)))`` (GELU)."""

    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__()
        self.ffn = FeedForward(dim, mult, dropout)
        self.norm = nn.LayerNorm(dim)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        return x + F.dropout(self.ffn(self.norm(x)), p=self.dropout, training=self.training)


def sublayers(norm_first: bool) -> tuple[type[nn.Module], type[nn.Module]]:
    """The (attention, feed-forward) sub-layer classes of a layout: BERT's post-LN ones, or
    the pre-LN ones with ``norm_first``."""
    if norm_first:
        return PreLNAttention, PreLNFeedForward
    return PostLNAttention, PostLNFeedForward


class TemporalConv(nn.Module):
    """A 1-D convolution over time, ``(B, T, D) -> (B, T, d)`` with the length kept (odd
    ``kernel``, zero padding): every step is projected together with its ``kernel // 2``
    neighbours on each side, MulT's temporal convolution (Tsai et al., ACL 2019, Sec. 3.2)."""

    def __init__(self, d_in: int, d_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d_in, d_out, kernel, padding=(kernel - 1) // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


def input_projection(config: Any, modality: str) -> nn.Module:
    """The embedding of one modality's features to ``d_model``: a Linear (``kernel_sizes`` 1,
    the default) or a :class:`TemporalConv` over that many frames."""
    kernel = config.per_modality("kernel_sizes", modality)
    d_in, d = config.input_dims[modality], config.d_model
    return nn.Linear(d_in, d) if kernel == 1 else TemporalConv(d_in, d, kernel)


class ClassifierHead(nn.Module):
    """BERT-family answer head: ``Linear -> GELU -> LayerNorm -> Linear`` (LXMERT's QA head,
    ViLBERT's SimpleClassifier), from ``d_in`` through ``2 * hidden``."""

    def __init__(self, d_in: int, hidden: int, n_outputs: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, 2 * hidden)
        self.norm = nn.LayerNorm(2 * hidden)
        self.fc2 = nn.Linear(2 * hidden, n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.norm(F.gelu(self.fc1(x))))


def output_layer(model: nn.Module) -> nn.Linear:
    """The last linear layer of a model's task head (the one that writes the predictions):
    the last ``nn.Linear`` of ``model.head`` (early fusion, co-attention, LXMERT, MTAG), else
    ``model.out_layer`` (MulT). ValueError for a model with neither."""
    head = getattr(model, "head", None)
    if isinstance(head, nn.Module):
        linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
        if linears:
            return linears[-1]
    out = getattr(model, "out_layer", None)
    if isinstance(out, nn.Linear):
        return out
    raise ValueError(
        f"{type(model).__name__} has no task head to initialise (neither a 'head' with a "
        "Linear layer nor an 'out_layer'); use head_init='default' with it."
    )


def pool_stream(h: Tensor, mask: Tensor, lengths: Tensor, pooling: str, summary: bool) -> Tensor:
    """One stream (B, T, d) -> (B, d): its leading summary token (``"cls"``, ``summary`` says
    whether the stream has one), the mean of its valid steps (``"mean"``) or its last valid
    step (``"last"``, MulT's read-out); ``"last-mean"``: both, concatenated (B, 2 d). ``mask``
    and ``lengths`` describe the steps after the summary token."""
    if pooling == "cls":
        return h[:, 0]
    body = h[:, 1:] if summary else h
    if pooling == "last":
        return last_valid(body, lengths)
    if pooling == "last-mean":
        return torch.cat([last_valid(body, lengths), masked_mean(body, mask)], dim=-1)
    return masked_mean(body, mask)


def pooled_width(pooling: str, d: int) -> int:
    """Width of one stream's :func:`pool_stream` output."""
    return 2 * d if pooling == "last-mean" else d


class PretrainedMixin:
    """``save_pretrained(dir)`` / ``from_pretrained(dir)`` with safetensors + JSON config."""

    config: ModelConfig

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` (model name + fields) and ``model.safetensors`` atomically.

        Returns the directory.
        """
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        with atomic_path(directory / "model.safetensors") as tmp:
            save_file(state, str(tmp))
        payload = {"model": self.config.model_name, "config": self.config.to_dict()}
        with atomic_write(directory / "config.json") as fh:
            json.dump(payload, fh, indent=2)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, *, map_location: str = "cpu") -> Any:
        """Rebuild a model saved with :meth:`save_pretrained`."""
        model = load_pretrained(directory, map_location=map_location)
        if not isinstance(model, cls):
            raise ValueError(
                f"{directory} holds a {type(model).__name__}, not a {cls.__name__}; load it "
                f"with mmalign.implicit.from_pretrained instead."
            )
        return model


def load_pretrained(directory: str | os.PathLike, *, map_location: str = "cpu") -> nn.Module:
    """Rebuild any implicit model from a ``save_pretrained`` directory."""
    from safetensors.torch import load_file

    from mmalign.implicit.registry import MODEL_CLASSES

    directory = Path(directory)
    cfg_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for p in (cfg_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p} not found; a pretrained directory holds config.json and model.safetensors "
                f"written by save_pretrained."
            )
    payload = json.loads(cfg_path.read_text(encoding="utf-8"))
    if not isinstance(payload, dict) or "model" not in payload or "config" not in payload:
        raise ValueError(f"{cfg_path} must hold {{'model': name, 'config': {{...}}}}.")
    cfg = config_class(payload["model"]).from_dict(payload["config"])
    model = MODEL_CLASSES[payload["model"]](cfg)
    model.load_state_dict(load_file(str(weights_path), device=map_location))
    model.eval()
    return model
