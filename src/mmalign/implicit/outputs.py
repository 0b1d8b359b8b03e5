"""The output dataclass shared by every implicit alignment model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

__all__ = ["ModelOutput"]


@dataclass
class ModelOutput:
    """What a model's forward pass returns.

    Attributes
    ----------
    predictions : Tensor of shape (B, n_outputs)
        Raw logits or regression outputs; for the ``grounding`` task, (B, T_first, T_second)
        logits of each step of the first modality over the steps of the second.
    pooled : Tensor of shape (B, d_pooled)
        The representation the head reads.
    attentions : dict of (str, str) to list of Tensor
        ``(target modality, source modality)`` -> one tensor per layer of attention weights of
        shape ``(B, n_heads, T_target, T_source)`` (rows sum to 1 over the valid source steps;
        rows of padded target steps are meaningless). Filled only when the forward pass is
        called with ``return_attention=True``; empty otherwise (the fused kernels that make
        training fast never materialise the weights).
    lengths : dict of str to Tensor of shape (B,)
        The valid length of every modality that the model used.
    loss : Tensor or None
        A training objective the model computes itself because it needs the whole batch (the
        grounding model's in-batch contrastive loss); None for the models whose loss is their
        task's, computed by the trainer from ``predictions`` and the labels.
    sequences : dict of str to Tensor of shape (B, T_m, d_m)
        The model's last hidden state of every modality, one vector per input step (padded
        steps meaningless), as the pre-training objectives read it (masked modelling predicts
        a masked step's input from its vector); ``d_m`` depends on the model.
    """

    predictions: Tensor
    pooled: Tensor
    attentions: dict[tuple[str, str], list[Tensor]] = field(default_factory=dict)
    lengths: dict[str, Tensor] = field(default_factory=dict)
    loss: Tensor | None = None
    sequences: dict[str, Tensor] = field(default_factory=dict)
