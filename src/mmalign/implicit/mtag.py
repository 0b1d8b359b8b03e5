"""MTAG: Modal-Temporal Attention Graph for unaligned multimodal sequences.

Yang, Wang, Yi, Liang, Morency. "MTAG: Modal-Temporal Attention Graph for Unaligned Human
Multimodal Language Sequences." NAACL 2021 (reference code: jedyang97/MTAG).

Pure torch: the graph is an edge list, attention is normalised with ``scatter_reduce`` and
messages are summed with ``index_add_`` (no torch_geometric).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmalign._utils import check_option
from mmalign.implicit._common import PretrainedMixin, pool_stream, prepare_inputs
from mmalign.implicit.config import (
    ModelConfig,
    check_bool,
    check_per_modality,
    check_positive_int,
    check_rate,
    check_width,
)
from mmalign.implicit.outputs import ModelOutput

__all__ = ["MTAGConfig", "MTAG", "pseudo_alignment_windows", "build_graph", "Graph"]


@dataclass
class MTAGConfig(ModelConfig):
    """Modal-Temporal Attention Graph (MTAG; Yang et al., NAACL 2021).

    Defaults follow the reference ``run.sh`` for unaligned MOSI (d 64, 4 heads, 6 layers,
    keep 0.8 of the edges after each layer).

    Parameters
    ----------
    d_model : int, default 64
    n_heads : int, default 4
        Must divide ``d_model`` (heads are concatenated).
    n_layers : int, default 6
    keep_ratio : float, default 0.8
        Fraction of edges kept (by head-averaged attention) after each layer; 1.0 = no pruning.
    window_factor : float, default 2.0
        Width factor of the pseudo-alignment window between sequences of different lengths.
    all_to_all_within : bool, default False
        Within a modality link every pair of steps (past/future by order) instead of adjacent
        steps only.
    vision_conv : dict of str to bool, default {}
        Modalities whose input projection is a Conv1d(k=3) instead of a Linear (the reference
        does this for vision).
    dropout : float, default 0.1
        Dropout on the node embeddings and on the attention coefficients.
    negative_slope : float, default 0.2
        LeakyReLU slope of the attention logits.
    attention : {"gat", "dot"}, default "gat"
        ``"gat"``: the reference's additive (GAT) attention, whose ranking of a node's neighbours
        of one edge type is the same for every target node; ``"dot"`` adds a scaled dot-product
        query-key term per head (``q_i . k_j / sqrt(c)``, content-dependent), which lets a node
        pick the neighbours that match it (e.g. a word its image).
    content_scale : bool, default False
        Scale the projected content by ``sqrt(d_model)`` against the unit-scale sinusoidal
        positions (as the original Transformer and MulT); the reference adds them unscaled.
    pooling : {"mean", "last", "last-mean"}, default "mean"
        ``"mean"``: the reference's mean over all real nodes (d); ``"last"``: the last real node of
        every modality, concatenated (M d), as MulT reads its last steps; ``"last-mean"``: the
        last real node and the mean of the real nodes of every modality, concatenated (2 M d).
    head_hidden : int or None, default None
        Width of the MLP head's two hidden layers; None = the reference's ``d_model // 4``.
    residual : bool, default False
        Add each graph layer's input to its output (``x + layer(x)``); the reference chains the
        layers with neither residual nor activation, so a node's own content is one message
        among all its neighbours' after the first layer.
    norm_first : bool, default False
        LayerNorm on each graph layer's input and on the nodes before the readout (pre-LN, as
        MulT); the reference has no normalisation.
    """

    model_name: ClassVar[str] = "mtag"

    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 6
    keep_ratio: float = 0.8
    window_factor: float = 2.0
    all_to_all_within: bool = False
    vision_conv: dict[str, bool] = field(default_factory=dict)
    dropout: float = 0.1
    negative_slope: float = 0.2
    attention: str = "gat"
    content_scale: bool = False
    pooling: str = "mean"
    head_hidden: int | None = None
    residual: bool = False
    norm_first: bool = False

    def _validate(self) -> None:
        check_width(self)
        check_positive_int(self.n_layers, "n_layers")
        check_option(self.attention, "attention", ("gat", "dot"))
        check_bool(self.content_scale, "content_scale")
        check_option(self.pooling, "pooling", ("mean", "last", "last-mean"))
        check_bool(self.residual, "residual")
        check_bool(self.norm_first, "norm_first")
        if self.head_hidden is not None:
            check_positive_int(self.head_hidden, "head_hidden")
        if not isinstance(self.keep_ratio, int | float) or not 0.0 < self.keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio must be in (0, 1], got {self.keep_ratio!r}.")
        if not isinstance(self.window_factor, int | float) or self.window_factor <= 0:
            raise ValueError(f"window_factor must be > 0, got {self.window_factor!r}.")
        check_per_modality(
            self.vision_conv, "vision_conv", self.modalities, lambda v, n: check_bool(v, n)
        )
        check_rate(self.dropout, "dropout")
        if not isinstance(self.negative_slope, int | float) or self.negative_slope < 0:
            raise ValueError(f"negative_slope must be >= 0, got {self.negative_slope!r}.")


PAST, PRESENT, FUTURE = 0, 1, 2


def pseudo_alignment_windows(n_short: int, n_long: int, window_factor: float = 2.0) -> Tensor:
    """The reference's pseudo-alignment of a shorter sequence onto a longer one.

    Node ``i`` of the shorter sequence (``n_short <= n_long``) is "present" with the nodes
    ``start[i] .. end[i]`` (inclusive) of the longer one: windows of width 2 when the lengths
    are within a factor 2 (stride 2 for the first ``n_long mod n_short`` nodes, then 1),
    otherwise a stride of ``max(2, floor((n_long // (n_short - 1) + 1) / window_factor))`` and
    the width that makes the last window end at the last node.

    Returns
    -------
    LongTensor of shape (n_short, 2)
        ``[start, end]`` inclusive indices into the longer sequence.

    Examples
    --------
    >>> pseudo_alignment_windows(2, 5).tolist()
    [[0, 1], [3, 4]]
    >>> pseudo_alignment_windows(3, 4).tolist()
    [[0, 1], [1, 2], [2, 3]]
    """
    n, m = int(n_short), int(n_long)
    if not 1 <= n <= m:
        raise ValueError(f"need 1 <= n_short <= n_long, got n_short={n}, n_long={m}.")
    if m == 1:
        return torch.zeros(1, 2, dtype=torch.long)
    if m // n == 1:
        doubled = 1 if n == m else m % n
        first = torch.arange(doubled) * 2  # window 2, stride 2
        rest_start = 2 * doubled - 1
        rest = rest_start + torch.arange(n - doubled)  # window 2, stride 1
        starts = torch.cat([first, rest])
        if n == m:  # the reference drops the last stride-1 window and repeats the one before
            starts = torch.cat([first, rest[:-1]])
            starts = torch.cat([starts, starts[-1:]])
        return torch.stack([starts, starts + 1], dim=1)
    if n > 1:
        stride = m // (n - 1)
        stride = max(math.floor((stride + 1) / window_factor), 2)
        window = m - (n - 1) * stride
        if window < 2:
            window = 2
            stride = (m - window) // (n - 1)
    else:
        stride, window = m, m
    starts = torch.arange(n) * stride
    return torch.stack([starts, starts + window - 1], dim=1)


@dataclass
class Graph:
    """A batch of modal-temporal graphs as an edge list over all (also padded) steps.

    Node ``offsets[m] + b * T_m + t`` is step ``t`` of modality ``m`` in sample ``b``; padded
    steps are nodes without edges. Edge ``e`` goes from node ``src[e]`` to ``dst[e]`` with type
    ``(src modality * M + dst modality) * 3 + relation`` (relation of the source step to the
    target step: 0 past, 1 present, 2 future).
    """

    src: Tensor
    dst: Tensor
    edge_type: Tensor
    sample: Tensor
    n_nodes: int


def _within_edges(mask: Tensor, all_to_all: bool):
    """(b, target step, source step, relation) of the edges inside one modality."""
    b_idx, t_idx = mask.nonzero(as_tuple=True)
    parts = [(b_idx, t_idx, t_idx, torch.full_like(t_idx, PRESENT))]
    if all_to_all:
        grid = mask[:, :, None] & mask[:, None, :]
        grid = grid & ~torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)[None]
        b, i, j = grid.nonzero(as_tuple=True)  # target i, source j
        parts.append((b, i, j, torch.where(j < i, PAST, FUTURE)))
    else:
        pair = mask[:, :-1] & mask[:, 1:]  # steps t and t + 1 both real
        b, t = pair.nonzero(as_tuple=True)
        parts.append((b, t + 1, t, torch.full_like(t, PAST)))  # t -> t + 1: source in the past
        parts.append((b, t, t + 1, torch.full_like(t, FUTURE)))
    return [torch.cat(x) for x in zip(*parts)]


def _cross_relation(
    len_p: Tensor, len_q: Tensor, t_p: int, t_q: int, window_factor: float
) -> Tensor:
    """Relation of q's step j to p's step i, per sample: (B, T_p, T_q) in {past, present, future}.

    The shorter sequence (p on ties, as in the reference) is pseudo-aligned onto the longer.
    """
    bsz = len_p.shape[0]
    rel = torch.full((bsz, t_p, t_q), PRESENT, dtype=torch.long)
    i = torch.arange(t_p)[:, None]
    j = torch.arange(t_q)[None, :]
    for b in range(bsz):
        n_p, n_q = int(len_p[b]), int(len_q[b])
        if n_p <= n_q:
            win = pseudo_alignment_windows(n_p, n_q, window_factor)
            start = torch.zeros(t_p, dtype=torch.long)
            end = torch.zeros(t_p, dtype=torch.long)
            start[:n_p], end[:n_p] = win[:, 0], win[:, 1]
            rel[b] = torch.where(
                j < start[:, None], PAST, torch.where(j > end[:, None], FUTURE, PRESENT)
            )
        else:
            win = pseudo_alignment_windows(n_q, n_p, window_factor)
            start = torch.zeros(t_q, dtype=torch.long)
            end = torch.zeros(t_q, dtype=torch.long)
            start[:n_q], end[:n_q] = win[:, 0], win[:, 1]
            # p's step i before q's window -> q's step is in p's future
            rel[b] = torch.where(
                i < start[None, :], FUTURE, torch.where(i > end[None, :], PAST, PRESENT)
            )
    return rel


def build_graph(
    lengths: list[Tensor], steps: list[int], *, window_factor: float = 2.0, all_to_all: bool = False
) -> tuple[Graph, Tensor, Tensor]:
    """Build the modal-temporal graph of a batch.

    Parameters
    ----------
    lengths : list of M LongTensor (B,)
        Real steps per modality (right padding).
    steps : list of M int
        Padded lengths ``T_m``.

    Returns
    -------
    graph : Graph
    dst_step, src_step : LongTensor (E,)
        The time steps of each edge's target and source (for dense attention maps).
    """
    device = lengths[0].device
    lens = [n.cpu() for n in lengths]
    bsz, n_mod = lens[0].shape[0], len(lens)
    masks = [torch.arange(t)[None, :] < n[:, None] for n, t in zip(lens, steps)]
    offsets = [0]
    for t in steps:
        offsets.append(offsets[-1] + bsz * t)
    src, dst, etype, sample, dst_step, src_step = [], [], [], [], [], []

    def add(b, i, j, rel, m_dst, m_src):
        dst.append(offsets[m_dst] + b * steps[m_dst] + i)
        src.append(offsets[m_src] + b * steps[m_src] + j)
        etype.append((m_src * n_mod + m_dst) * 3 + rel)
        sample.append(b)
        dst_step.append(i)
        src_step.append(j)

    for m in range(n_mod):
        add(*_within_edges(masks[m], all_to_all), m, m)
    for p in range(n_mod):
        for q in range(p + 1, n_mod):
            rel = _cross_relation(lens[p], lens[q], steps[p], steps[q], window_factor)
            grid = masks[p][:, :, None] & masks[q][:, None, :]
            b, i, j = grid.nonzero(as_tuple=True)
            r = rel[b, i, j]  # q's step relative to p's step
            add(b, i, j, r, p, q)  # q -> p
            add(b, j, i, 2 - r, q, p)  # p -> q
    cat = [torch.cat(x).to(device) for x in (src, dst, etype, sample, dst_step, src_step)]
    graph = Graph(src=cat[0], dst=cat[1], edge_type=cat[2], sample=cat[3], n_nodes=offsets[-1])
    return graph, cat[4], cat[5]


def _interleaved_positions(n: int, dim: int, device=None) -> Tensor:
    """The reference's PositionalEncoding table (sin on even, cos on odd channels), (n, dim)."""
    pos = torch.arange(n, dtype=torch.float32, device=device)[:, None]
    div = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim)
    )
    pe = torch.zeros(n, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe


class MTGATLayer(nn.Module):
    """Modal-temporal graph attention (the reference's MTGATConv, concatenated heads).

    ``alpha_ij = softmax_j(LeakyReLU(a_src[r] . W_type(j) x_j + a_dst[r] . W_type(i) x_i))`` over
    all incoming edges of node i, with r the type of edge j -> i; ``x_i' = sum_j alpha_ij W_type(j)
    x_j`` per head, heads concatenated, plus a bias.
    """

    def __init__(
        self,
        d: int,
        n_heads: int,
        n_node_types: int,
        n_edge_types: int,
        dropout,
        slope,
        dot: bool = False,
    ):
        super().__init__()
        self.h, self.c = n_heads, d // n_heads
        self.weight = nn.Parameter(torch.empty(n_node_types, d, d))
        self.att_src = nn.Parameter(torch.empty(n_edge_types, n_heads, self.c))
        self.att_dst = nn.Parameter(torch.empty(n_edge_types, n_heads, self.c))
        self.bias = nn.Parameter(torch.zeros(d))
        self.dropout, self.slope = dropout, slope
        params = [self.weight, self.att_src, self.att_dst]
        # optional content-dependent term: a query of the target, a key of the source per type
        self.query = nn.Parameter(torch.empty(n_node_types, d, d)) if dot else None
        self.key = nn.Parameter(torch.empty(n_node_types, d, d)) if dot else None
        if dot:
            params += [self.query, self.key]
        for p in params:
            bound = math.sqrt(6.0 / (p.shape[-2] + p.shape[-1]))
            nn.init.uniform_(p, -bound, bound)

    def forward(
        self, x: Tensor, node_type_slices: list[slice], graph: Graph
    ) -> tuple[Tensor, Tensor]:
        """x (N, d) -> (N, d) and the attention of every edge (E, H)."""
        xw = torch.cat([x[sl] @ self.weight[m] for m, sl in enumerate(node_type_slices)])
        xw = xw.view(-1, self.h, self.c)  # (N, H, C)
        s_src = torch.einsum("nhc,rhc->nrh", xw, self.att_src)  # (N, R, H)
        s_dst = torch.einsum("nhc,rhc->nrh", xw, self.att_dst)
        logits = s_src[graph.src, graph.edge_type] + s_dst[graph.dst, graph.edge_type]  # (E, H)
        logits = F.leaky_relu(logits, self.slope)
        if self.query is not None:  # + q_i . k_j / sqrt(c): which neighbour matches the target
            q = torch.cat([x[sl] @ self.query[m] for m, sl in enumerate(node_type_slices)])
            k = torch.cat([x[sl] @ self.key[m] for m, sl in enumerate(node_type_slices)])
            q, k = q.view(-1, self.h, self.c), k.view(-1, self.h, self.c)
            logits = logits + (q[graph.dst] * k[graph.src]).sum(-1) / math.sqrt(self.c)
        n = x.shape[0]
        idx = graph.dst[:, None].expand_as(logits)
        peak = torch.full((n, self.h), float("-inf"), dtype=logits.dtype, device=x.device)
        peak = peak.scatter_reduce(0, idx, logits, reduce="amax", include_self=True)
        ex = torch.exp(logits - peak[graph.dst].detach())
        denom = torch.zeros(n, self.h, dtype=ex.dtype, device=x.device).index_add_(0, graph.dst, ex)
        alpha = ex / denom[graph.dst]
        dropped = F.dropout(alpha, p=self.dropout, training=self.training)
        messages = xw[graph.src] * dropped[:, :, None]  # (E, H, C)
        out = torch.zeros_like(xw).index_add_(0, graph.dst, messages)
        return out.reshape(n, -1) + self.bias, alpha


def _prune(graph: Graph, alpha: Tensor, keep: float, dst_step: Tensor, src_step: Tensor):
    """Keep the top ``floor(keep * E_b)`` edges of every sample by head-averaged attention."""
    score = alpha.detach().mean(1).double()
    key = graph.sample.double() * 4.0 - score  # grouped by sample, best first
    order = torch.sort(key, stable=True).indices
    sample_sorted = graph.sample[order]
    counts = torch.bincount(
        graph.sample, minlength=int(graph.sample.max()) + 1 if graph.sample.numel() else 0
    )
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(order.numel(), device=order.device) - starts[sample_sorted]
    n_keep = torch.floor(counts.double() * keep).long()
    kept = order[rank < n_keep[sample_sorted]]
    kept = kept.sort().values  # keep the original edge order
    g = Graph(
        graph.src[kept], graph.dst[kept], graph.edge_type[kept], graph.sample[kept], graph.n_nodes
    )
    return g, dst_step[kept], src_step[kept]


class MTAG(PretrainedMixin, nn.Module):
    """Modal-Temporal Attention Graph (Yang et al., NAACL 2021) for any number of modalities.

    One node per real time step (node type = modality): ``Linear(D_m -> d)`` (optionally
    ``Conv1d(k=3) + ReLU`` first) plus sinusoidal positions and dropout. Edges, rebuilt at every
    forward pass from the lengths: inside a modality {self, past, future} between adjacent
    steps (or all pairs); across each pair of modalities every step of one to every step of
    the other, both ways, typed {past, present, future} by the reference's pseudo-alignment
    window. ``n_layers`` graph-attention layers (no activation or residual between them, as in
    the reference), each followed by top-k edge pruning; mean readout over real nodes; MLP
    ``d -> d/4 -> d/4 -> n_outputs``. That is the default; the options for training from scratch on
    small data (``pooling="last"``, ``attention="dot"``, ``residual``, ``norm_first``,
    ``content_scale``, ``head_hidden``; see :class:`MTAGConfig`) depart from it.

    Parameters
    ----------
    config : MTAGConfig

    Notes
    -----
    Departures from the reference, for batch and padding invariance: nodes are the steps
    within ``lengths`` (the reference drops all-zero frames); edge types are (source modality,
    target modality, relation of the source step to the target step), whereas the reference
    orients cross-modal types from the shorter to the longer sequence of each sample; pruning
    keeps the top fraction of each sample's edges (the reference ranks the whole batch).
    ``attentions[(t, s)]`` holds, per layer, the edge attentions scattered into dense
    (B, H, T_t, T_s) maps; a row sums to 1 over all source modalities together.
    """

    config_class = MTAGConfig

    def __init__(self, config: MTAGConfig) -> None:
        super().__init__()
        if not isinstance(config, MTAGConfig):
            raise TypeError(f"config must be an MTAGConfig, got {type(config).__name__}.")
        self.config = config
        d, mods = config.d_model, config.modalities
        convs, projs = {}, {}
        for m in mods:
            k = config.input_dims[m]
            if config.per_modality("vision_conv", m):
                convs[m] = nn.Conv1d(k, d, kernel_size=3)
                k = d
            projs[m] = nn.Linear(k, d)
        self.conv = nn.ModuleDict(convs)
        self.proj = nn.ModuleDict(projs)
        n_mod = len(mods)
        self.layers = nn.ModuleList(
            MTGATLayer(
                d,
                config.n_heads,
                n_mod,
                3 * n_mod * n_mod,
                config.dropout,
                config.negative_slope,
                dot=config.attention == "dot",
            )
            for _ in range(config.n_layers)
        )
        n_norms = config.n_layers + 1 if config.norm_first else 0
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(n_norms))
        n_in = {"last": d * n_mod, "last-mean": 2 * d * n_mod}.get(config.pooling, d)
        hidden = config.head_hidden or (d // 4 or 1)
        self.head = nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, config.n_outputs),
        )

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
        nodes, slices, start = [], [], 0
        for m, x in zip(mods, xs):
            if m in self.conv:  # the reference appends 2 zero frames so that T is kept
                z = F.pad(x.transpose(1, 2), (0, 2))
                x = F.relu(self.conv[m](z)).transpose(1, 2)
            content = self.proj[m](x)  # (B, T_m, d)
            if cfg.content_scale:  # sqrt(d) against unit-scale sinusoids, as MulT
                content = math.sqrt(d) * content
            h = content + _interleaved_positions(x.shape[1], d, x.device).to(x.dtype)
            h = F.dropout(h, p=cfg.dropout, training=self.training)
            nodes.append(h.reshape(-1, d))  # (B T_m, d)
            slices.append(slice(start, start + h.shape[0] * h.shape[1]))
            start += h.shape[0] * h.shape[1]
        x = torch.cat(nodes)  # (N, d)
        steps = [t.shape[1] for t in xs]
        graph, dst_step, src_step = build_graph(
            lens, steps, window_factor=cfg.window_factor, all_to_all=cfg.all_to_all_within
        )
        attentions: dict[tuple[str, str], list[Tensor]] = {}
        if return_attention:
            attentions = {(t, s): [] for t in mods for s in mods}
        for i, layer in enumerate(self.layers):
            out, alpha = layer(self.norms[i](x) if cfg.norm_first else x, slices, graph)
            x = x + out if cfg.residual else out
            if return_attention:
                self._scatter_maps(attentions, alpha, graph, dst_step, src_step, bsz, steps)
            if cfg.keep_ratio < 1.0:
                graph, dst_step, src_step = _prune(graph, alpha, cfg.keep_ratio, dst_step, src_step)
        if cfg.norm_first:
            x = self.norms[-1](x)
        if cfg.pooling in ("last", "last-mean"):  # per modality, concatenated (B, M d | 2 M d)
            pooled = torch.cat(
                [
                    pool_stream(x[sl].view(bsz, t, d), mk, n, cfg.pooling, summary=False)
                    for sl, t, n, mk in zip(slices, steps, lens, masks)
                ],
                dim=-1,
            )
        else:  # the reference's mean over the real nodes (B, d)
            real = torch.cat([mk.reshape(-1) for mk in masks]).to(x.dtype)  # (N,)
            sample_of = torch.cat(
                [torch.arange(bsz, device=x.device).repeat_interleave(t) for t in steps]
            )
            total = torch.zeros(bsz, d, dtype=x.dtype, device=x.device).index_add_(
                0, sample_of, x * real[:, None]
            )
            count = torch.zeros(bsz, dtype=x.dtype, device=x.device).index_add_(0, sample_of, real)
            pooled = total / count[:, None]
        return ModelOutput(
            predictions=self.head(pooled),
            pooled=pooled,
            attentions=attentions,
            lengths=dict(zip(mods, lens)),
            sequences={m: x[sl].view(bsz, t, d) for m, sl, t in zip(mods, slices, steps)},
        )

    def _scatter_maps(self, attentions, alpha, graph, dst_step, src_step, bsz, steps) -> None:
        mods = self.config.modalities
        n_mod = len(mods)
        pair = graph.edge_type // 3  # src modality * M + dst modality
        a = alpha.detach()
        for t_i, t in enumerate(mods):
            for s_i, s in enumerate(mods):
                sel = pair == s_i * n_mod + t_i
                dense = a.new_zeros(bsz, a.shape[1], steps[t_i], steps[s_i])
                b, i, j = graph.sample[sel], dst_step[sel], src_step[sel]
                dense[b, :, i, j] = a[sel]
                attentions[(t, s)].append(dense)
