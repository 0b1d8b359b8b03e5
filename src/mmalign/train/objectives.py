"""The pre-training objectives of the vision-and-language Transformers, for every model.

ViLBERT (Lu et al., NeurIPS 2019), LXMERT (Tan & Bansal, EMNLP 2019) and VisualBERT (Li et
al., 2019) are trained first on two tasks that need no labels:

* **cross-modal matching** -- is this text paired with this video? A negative is made by
  replacing one stream of a sample with the same stream of another sample of the batch
  (ViLBERT's "multimodal alignment prediction", LXMERT's "cross-modality matching"); a linear
  classifier on the model's pooled vector answers.
* **replaced-step detection** -- an extension of matching to single steps (ELECTRA's
  replaced-token detection, Clark et al., ICLR 2020, made cross-modal): steps of every stream
  (spans of ``mask_span`` steps in non-token streams) take the features of another sample's
  step, and a linear classifier on the model's vector at each step says whether it was
  replaced. Sample-level matching is answered from the pooled vector; here every step is asked.
  (On digits-av it did not help MulT: after 20 epochs it told replaced words from kept ones no
  better than chance.)
* **masked multimodal modelling** -- steps of every stream are masked (their features set to
  zero, as LXMERT zeroes a masked object's features) and predicted from the model's vector at
  that step: a token class by cross-entropy for a token stream (BERT's masked LM; the first
  ``vocab`` columns of its features are a one-hot token) and the features by squared error
  otherwise (LXMERT's RoI-feature regression). Frames of a video repeat, so non-token streams
  are masked in spans of ``mask_span`` steps, else a masked frame is copied from its neighbour.

Here they are plain functions over a batch (``corrupt_batch``, ``objective_losses``) and one
module of heads (:class:`PretrainingHeads`); :class:`mmalign.train.MultimodalModule` applies them
when ``TrainConfig.objectives`` names them, alone (pre-training) or beside the label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "OBJECTIVES",
    "CorruptedBatch",
    "corrupt_batch",
    "swap_streams",
    "mask_steps",
    "replace_steps",
    "PretrainingHeads",
    "objective_losses",
]

OBJECTIVES = ("label", "matching", "masked", "replaced")


@dataclass
class CorruptedBatch:
    """A batch after :func:`corrupt_batch`.

    Attributes
    ----------
    inputs : dict of str to Tensor (B, T_m, D_m)
        Features with the swapped streams and the masked steps.
    lengths : dict of str to LongTensor (B,)
    is_match : LongTensor (B,)
        1 where every stream still belongs to the sample, 0 where one was swapped.
    masked : dict of str to BoolTensor (B, T_m)
        The masked steps (only in matched samples).
    targets : dict of str to Tensor (B, T_m, D_m)
        The original features.
    replaced : dict of str to BoolTensor (B, T_m)
        The steps that now hold another sample's features (different from their own).
    scored : dict of str to BoolTensor (B, T_m)
        The steps that replaced-step detection scores: the valid steps of matched samples.
    """

    inputs: dict[str, Tensor]
    lengths: dict[str, Tensor]
    is_match: Tensor
    masked: dict[str, Tensor] = field(default_factory=dict)
    targets: dict[str, Tensor] = field(default_factory=dict)
    replaced: dict[str, Tensor] = field(default_factory=dict)
    scored: dict[str, Tensor] = field(default_factory=dict)


def swap_streams(
    inputs: dict[str, Tensor],
    lengths: dict[str, Tensor],
    *,
    p: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor]:
    """Replace one stream of a fraction ``p`` of the samples with another sample's.

    For each chosen sample, one modality (uniformly) takes the features and length of sample
    ``(i + r) mod B`` of the batch, ``r`` drawn once per call in ``1 .. B - 1``.

    Returns
    -------
    inputs, lengths : dicts as given (new tensors)
    is_match : LongTensor (B,)
        0 for the samples that received another sample's stream, 1 otherwise (all 1 when
        ``B == 1``).
    """
    mods = list(inputs)
    bsz = next(iter(inputs.values())).shape[0]
    device = next(iter(inputs.values())).device
    is_match = torch.ones(bsz, dtype=torch.long)
    if bsz < 2 or p <= 0:
        return dict(inputs), dict(lengths), is_match.to(device)
    chosen = torch.rand(bsz, generator=generator) < p
    which = torch.randint(len(mods), (bsz,), generator=generator)
    shift = int(torch.randint(1, bsz, (1,), generator=generator))
    donor = (torch.arange(bsz) + shift) % bsz
    out_x, out_n = {}, {}
    for i, m in enumerate(mods):
        sel = (chosen & (which == i)).to(device)
        x, n = inputs[m], lengths[m]
        d = donor.to(device)
        out_x[m] = torch.where(sel[:, None, None], x[d], x)
        out_n[m] = torch.where(sel, n[d], n)
    is_match[chosen] = 0
    return out_x, out_n, is_match.to(device)


def mask_steps(
    inputs: dict[str, Tensor],
    lengths: dict[str, Tensor],
    *,
    prob: float = 0.15,
    span: int = 1,
    token_modalities: tuple[str, ...] = (),
    generator: torch.Generator | None = None,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Zero the features of random valid steps of every modality.

    A step starts a masked span with probability ``prob / span`` (``span`` consecutive steps;
    single steps for ``token_modalities``), so about ``prob`` of the steps are masked; a
    sample with no masked step in a modality gets one at random, so every sample teaches.

    Returns
    -------
    inputs : dict of str to Tensor
        Copies with the masked steps set to 0.
    masked : dict of str to BoolTensor (B, T_m)
    """
    out, masked = {}, {}
    for m, x in inputs.items():
        width = 1 if m in token_modalities else max(1, int(span))
        mask = _pick_steps(x.shape[0], x.shape[1], lengths[m], prob, width, generator)
        mask = mask.to(x.device)
        out[m] = x.masked_fill(mask[:, :, None], 0.0)
        masked[m] = mask
    return out, masked


def _pick_steps(bsz: int, t: int, lengths: Tensor, prob: float, width: int, generator) -> Tensor:
    """(B, T) bool: spans of ``width`` valid steps, each step starting one with probability
    ``prob / width``; at least one step per sample."""
    n = lengths.cpu()
    valid = torch.arange(t)[None, :] < n[:, None]
    starts = torch.rand(bsz, t, generator=generator) < prob / width
    pick = (torch.rand(bsz, generator=generator) * n.clamp_min(1)).long()
    none = ~(starts & valid).any(dim=1)
    starts[none, pick[none]] = True
    mask = starts.clone()
    for k in range(1, width):
        mask[:, k:] |= starts[:, :-k]
    return mask & valid


def replace_steps(
    inputs: dict[str, Tensor],
    lengths: dict[str, Tensor],
    *,
    prob: float = 0.15,
    span: int = 1,
    token_modalities: tuple[str, ...] = (),
    generator: torch.Generator | None = None,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Give random valid steps of every modality the features of another sample's step.

    Steps are chosen as by :func:`mask_steps`; step ``t`` of sample ``i`` takes step ``t mod
    n_j`` of sample ``j = (i + r) mod B`` (``r`` drawn once per call in ``1 .. B - 1``).

    Returns
    -------
    inputs : dict of str to Tensor
        Copies with the replaced steps.
    replaced : dict of str to BoolTensor (B, T_m)
        The steps whose features changed (a step replaced by an identical one is not).
    """
    out, replaced = {}, {}
    for m, x in inputs.items():
        bsz, t = x.shape[:2]
        if bsz < 2:
            out[m], replaced[m] = x, torch.zeros(bsz, t, dtype=torch.bool, device=x.device)
            continue
        width = 1 if m in token_modalities else max(1, int(span))
        chosen = _pick_steps(bsz, t, lengths[m], prob, width, generator).to(x.device)
        shift = int(torch.randint(1, bsz, (1,), generator=generator))
        donor = (torch.arange(bsz, device=x.device) + shift) % bsz
        n_donor = lengths[m].to(x.device)[donor].clamp_min(1)  # (B,)
        step = torch.arange(t, device=x.device)[None, :] % n_donor[:, None]  # (B, T)
        other = x[donor[:, None], step]  # (B, T, D)
        new = torch.where(chosen[:, :, None], other, x)
        out[m] = new
        replaced[m] = chosen & (new != x).any(dim=-1)
    return out, replaced


def corrupt_batch(
    inputs: dict[str, Tensor],
    lengths: dict[str, Tensor],
    objectives: tuple[str, ...],
    *,
    mask_prob: float = 0.15,
    mask_span: int = 1,
    token_modalities: tuple[str, ...] = (),
    generator: torch.Generator | None = None,
) -> CorruptedBatch:
    """Swap streams (``"matching"`` in ``objectives``), replace steps (``"replaced"``), then
    mask other steps (``"masked"``). The steps' objectives are scored on the samples that kept
    their own streams: LXMERT computes its masked losses on matched pairs only, since a swapped
    stream says nothing about the other's masked steps."""
    x, n = dict(inputs), dict(lengths)
    bsz = next(iter(inputs.values())).shape[0]
    is_match = torch.ones(bsz, dtype=torch.long, device=next(iter(inputs.values())).device)
    if "matching" in objectives:
        x, n, is_match = swap_streams(x, n, generator=generator)
    keep = is_match.bool()[:, None]
    replaced: dict[str, Tensor] = {}
    scored: dict[str, Tensor] = {}
    if "replaced" in objectives:
        x, replaced = replace_steps(
            x,
            n,
            prob=mask_prob,
            span=mask_span,
            token_modalities=token_modalities,
            generator=generator,
        )
        for m, v in x.items():
            valid = torch.arange(v.shape[1], device=v.device)[None, :] < n[m][:, None]
            scored[m] = valid & keep
    masked: dict[str, Tensor] = {}
    if "masked" in objectives:
        x, masked = mask_steps(
            x,
            n,
            prob=mask_prob,
            span=mask_span,
            token_modalities=token_modalities,
            generator=generator,
        )
        for m in masked:  # a swapped sample keeps its (masked) inputs but is not scored
            masked[m] = masked[m] & keep
            if m in replaced:  # a replaced step is not also masked (its target is its own)
                masked[m] = masked[m] & ~replaced[m]
                scored[m] = scored[m] & ~masked[m]
    return CorruptedBatch(x, n, is_match, masked, dict(inputs), replaced, scored)


class PretrainingHeads(nn.Module):
    """The heads of the objectives: ``match`` (pooled -> 2 logits) and, per modality,
    ``predict[m]`` (the step's vector -> the step's ``D_m`` features; for a token modality the
    first ``vocab[m]`` outputs are the token logits) and ``detect[m]`` (the step's vector ->
    the logit of "replaced").

    Parameters
    ----------
    pooled_dim : int
    sequence_dims : dict of str to int
        Width of the model's per-step vectors (``ModelOutput.sequences``) per modality.
    input_dims : dict of str to int
    """

    def __init__(
        self, pooled_dim: int, sequence_dims: dict[str, int], input_dims: dict[str, int]
    ) -> None:
        super().__init__()
        self.match = nn.Linear(pooled_dim, 2)
        self.predict = nn.ModuleDict(
            {m: nn.Linear(sequence_dims[m], input_dims[m]) for m in sequence_dims}
        )
        self.detect = nn.ModuleDict({m: nn.Linear(sequence_dims[m], 1) for m in sequence_dims})


def objective_losses(
    out,
    batch: CorruptedBatch,
    heads: PretrainingHeads,
    objectives: tuple[str, ...],
    vocab: dict[str, int],
) -> dict[str, Tensor]:
    """The losses (and accuracies, detached) of the pre-training objectives for one forward
    pass ``out`` (a :class:`~mmalign.implicit.ModelOutput`) over ``batch``.

    Returns a dict with ``"matching"`` (cross-entropy) and ``"matching_acc"``; ``"masked"``
    (the sum over modalities of the token cross-entropy and the mean squared error of the
    other features at the masked steps), ``"masked_<m>_acc"`` for token modalities and
    ``"masked_<m>_mse"``; ``"replaced"`` (the sum over modalities of the binary cross-entropy
    at the scored steps) and ``"replaced_<m>_acc"`` (balanced: the mean of the accuracies on
    replaced and on kept steps).
    """
    res: dict[str, Tensor] = {}
    if "replaced" in objectives:
        total = out.pooled.new_zeros(())
        for m, scored in batch.scored.items():
            if m not in out.sequences or not bool(scored.any()):
                continue
            logit = heads.detect[m](out.sequences[m][scored])[:, 0]  # (n_scored,)
            target = batch.replaced[m][scored].float()
            total = total + F.binary_cross_entropy_with_logits(logit, target)
            hit = ((logit > 0).float() == target).float()
            pos, neg = target > 0.5, target < 0.5
            parts = [hit[pos].mean() if bool(pos.any()) else None]
            parts.append(hit[neg].mean() if bool(neg.any()) else None)
            parts = [p for p in parts if p is not None]
            res[f"replaced_{m}_acc"] = (sum(parts) / len(parts)).detach()
        res["replaced"] = total
    if "matching" in objectives:
        logits = heads.match(out.pooled)  # (B, 2)
        res["matching"] = F.cross_entropy(logits, batch.is_match)
        res["matching_acc"] = (logits.argmax(1) == batch.is_match).float().mean().detach()
    if "masked" in objectives:
        total = out.pooled.new_zeros(())
        for m, mask in batch.masked.items():
            if m not in out.sequences or not bool(mask.any()):
                continue
            h = out.sequences[m][mask]  # (n_masked, d_m)
            pred = heads.predict[m](h)  # (n_masked, D_m)
            target = batch.targets[m][mask]  # (n_masked, D_m)
            k = int(vocab.get(m, 0))
            if k:
                cls = target[:, :k].argmax(1)
                total = total + F.cross_entropy(pred[:, :k], cls)
                res[f"masked_{m}_acc"] = (pred[:, :k].argmax(1) == cls).float().mean().detach()
            if target.shape[1] > k:
                mse = F.mse_loss(pred[:, k:], target[:, k:])
                total = total + mse
                res[f"masked_{m}_mse"] = mse.detach()
        res["masked"] = total
    return res
