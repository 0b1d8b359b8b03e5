"""Weakly supervised grounding: word-region correspondence learned from image-caption pairs only.

A two-tower model embeds the steps of two streams (caption words and image regions) into one
space. It is trained contrastively on whole pairs with a late-interaction score (each word
takes its best region, averaged over the words; as in FILIP [1]_), optionally plus UNITER's
word-region OT loss [2]_; or, as an upper bound, on the true word-region pairs. Its attention
is the softmax over regions of every word's similarities, so each word's peak is the region it
points at (scored with the pointing accuracy [3]_ by :func:`mmalign.train.evaluate`, or with
:func:`mmalign.connections.pointing_accuracy`).

Train it on digit-scenes as the other models are trained: ``fit(load_dataset("digit-scenes"),
TrainConfig(model="grounding"))`` or ``mmalign train --model grounding --data digit-scenes``.

References
----------
.. [1] Yao et al., "FILIP: Fine-grained Interactive Language-Image Pre-Training", ICLR 2022.
.. [2] Chen et al., "UNITER: UNiversal Image-TExt Representation Learning", ECCV 2020.
.. [3] Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016 (the
   pointing game).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmalign._utils import check_option
from mmalign.implicit._common import PretrainedMixin, prepare_inputs
from mmalign.implicit.config import ModelConfig, check_positive_int
from mmalign.implicit.outputs import ModelOutput

__all__ = ["GroundingConfig", "GroundingModel", "OBJECTIVES"]

OBJECTIVES = ("contrastive", "supervised")


@dataclass
class GroundingConfig(ModelConfig):
    """Two-tower word-region grounding (late-interaction contrastive, as FILIP; UNITER's WRA).

    The first modality is the words, the second the regions (exactly two).

    Parameters
    ----------
    vocab_size : int or None, default None
        An int: the words are token ids (one feature per step, 0 = padding), embedded by a
        learned table of this size (digit-scenes: 18). None: the words are feature vectors
        (e.g. frozen MiniLM states), LayerNorm'd and projected.
    dim : int, default 64
        Joint embedding size.
    hidden : int, default 128
        Hidden width of the word and region MLPs.
    temperature : float, default 0.1
        Softmax temperature of the cosine scores.
    objective : {"contrastive", "supervised"}, default "contrastive"
        ``"contrastive"``: whole pairs only; the caption-image score is the mean over words of
        the word's best region, and the loss is the symmetric InfoNCE over the batch (captions
        against images and back). ``"supervised"``: cross-entropy of each word over its image's
        regions against the dataset's labels (the true word-region pairs: an upper bound).
    wra_weight : float, default 0.0
        Weight of UNITER's word-region alignment loss (IPOT distance of matched pairs against
        mismatched ones, :func:`mmalign.explicit.ot_torch.word_region_alignment_loss`) added to
        the contrastive loss; 0 = off.
    n_outputs : int
        Not read (the data's number of region slots).
    """

    model_name: ClassVar[str] = "grounding"

    vocab_size: int | None = None
    dim: int = 64
    hidden: int = 128
    temperature: float = 0.1
    objective: str = "contrastive"
    wra_weight: float = 0.0

    def _validate(self) -> None:
        if len(self.input_dims) != 2:
            raise ValueError(
                f"the grounding model takes exactly two modalities (words, regions), got "
                f"{list(self.input_dims)}; select two with dataset.select([...])."
            )
        if self.vocab_size is not None:
            check_positive_int(self.vocab_size, "vocab_size", minimum=2)
            if self.input_dims[self.modalities[0]] != 1:
                raise ValueError(
                    f"with vocab_size the words are token ids, one feature per step; "
                    f"{self.modalities[0]!r} has {self.input_dims[self.modalities[0]]}. Drop "
                    "vocab_size to project feature vectors."
                )
        check_positive_int(self.dim, "dim")
        check_positive_int(self.hidden, "hidden")
        check_option(self.objective, "objective", OBJECTIVES)
        for name in ("temperature", "wra_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}.")


class GroundingModel(PretrainedMixin, nn.Module):
    """Word tower and region tower into one space; attention = softmax over regions.

    ``forward`` returns :class:`ModelOutput` with ``predictions`` the word-region logits
    (B, T_words, T_regions) (cosine / temperature; padded regions -inf), ``pooled`` the mean
    word embedding (B, dim), ``attentions[(words, regions)]`` one (B, 1, T_words, T_regions)
    map when asked, and, for the contrastive objective, ``loss``: the in-batch contrastive loss
    (the model's own training objective, which needs the whole batch).

    Examples
    --------
    >>> import torch
    >>> from mmalign.implicit import GroundingConfig, GroundingModel
    >>> cfg = GroundingConfig({"text": 1, "regions": 68}, 5, vocab_size=17, dim=8, hidden=16)
    >>> model = GroundingModel(cfg)
    >>> x = {"text": torch.randint(1, 17, (3, 6, 1)).float(), "regions": torch.rand(3, 5, 68)}
    >>> out = model(x, {"text": torch.tensor([6, 4, 5]), "regions": torch.tensor([5, 2, 3])})
    >>> tuple(out.predictions.shape), out.loss.ndim
    ((3, 6, 5), 0)
    """

    config_class = GroundingConfig

    def __init__(self, config: GroundingConfig) -> None:
        super().__init__()
        if not isinstance(config, GroundingConfig):
            raise TypeError(f"config must be a GroundingConfig, got {type(config).__name__}.")
        self.config = config
        h, d = config.hidden, config.dim
        words, regions = config.modalities
        if config.vocab_size is not None:
            self.word_in = nn.Embedding(config.vocab_size, h, padding_idx=0)
        else:  # frozen encoder states: normalise their scale before projecting
            d_words = config.input_dims[words]
            self.word_in = nn.Sequential(nn.LayerNorm(d_words), nn.Linear(d_words, h))
        self.word_mlp = nn.Sequential(nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))
        self.region_mlp = nn.Sequential(
            nn.Linear(config.input_dims[regions], h),
            nn.GELU(),
            nn.Linear(h, h),
            nn.GELU(),
            nn.Linear(h, d),
        )

    def embed(self, words: Tensor, regions: Tensor) -> tuple[Tensor, Tensor]:
        """Unit-norm embeddings of words (B, T, 1) ids or (B, T, D_w) and regions (B, R, D_r):
        (B, T, dim) and (B, R, dim)."""
        if self.config.vocab_size is not None:
            words = words[..., 0].long()  # (B, T) token ids
        w = self.word_mlp(self.word_in(words))  # (B, T, dim)
        r = self.region_mlp(regions)  # (B, R, dim)
        return F.normalize(w, dim=-1), F.normalize(r, dim=-1)

    def contrastive_loss(self, w: Tensor, r: Tensor, w_mask: Tensor, r_mask: Tensor) -> Tensor:
        """Symmetric InfoNCE over the batch on the late-interaction score, plus the WRA loss."""
        tau, b = self.config.temperature, w.shape[0]
        sim = torch.einsum("btd,crd->bctr", w, r)  # caption b vs image c: (B, B, T, R)
        sim = sim.masked_fill(~r_mask[None, :, None, :], float("-inf")).amax(-1)  # (B, B, T)
        score = (sim * w_mask[:, None, :]).sum(-1) / w_mask.sum(-1, keepdim=True) / tau
        labels = torch.arange(b, device=w.device)
        loss = 0.5 * (F.cross_entropy(score, labels) + F.cross_entropy(score.T, labels))
        if self.config.wra_weight > 0:
            from mmalign.explicit.ot_torch import word_region_alignment_loss

            shift = torch.roll(torch.arange(b, device=w.device), 1)  # mismatched: next image
            matched = torch.cat([torch.ones(b, dtype=torch.bool), torch.zeros(b, dtype=torch.bool)])
            loss = loss + self.config.wra_weight * word_region_alignment_loss(
                torch.cat([w, w]),
                torch.cat([r, r[shift]]),
                torch.cat([w_mask, w_mask]),
                torch.cat([r_mask, r_mask[shift]]),
                matched=matched.to(w.device),
            )
        return loss

    def forward(
        self,
        inputs: dict[str, Tensor],
        lengths: dict[str, Tensor] | None = None,
        *,
        return_attention: bool = False,
    ) -> ModelOutput:
        (words, regions), lens, (w_mask, r_mask) = prepare_inputs(self.config, inputs, lengths)
        w, r = self.embed(words, regions)  # (B, T, dim), (B, R, dim)
        logits = torch.einsum("btd,brd->btr", w, r) / self.config.temperature  # (B, T, R)
        logits = logits.masked_fill(~r_mask[:, None, :], float("-inf"))
        pooled = (w * w_mask[..., None]).sum(1) / w_mask.sum(1, keepdim=True)  # (B, dim)
        loss = None
        if self.config.objective == "contrastive" and w.shape[0] > 1:
            loss = self.contrastive_loss(w, r, w_mask, r_mask)
        attentions = {}
        if return_attention:
            key = tuple(self.config.modalities)
            attentions[key] = [logits.softmax(-1)[:, None]]  # (B, 1, T, R)
        lengths_out = dict(zip(self.config.modalities, lens))
        sequences = dict(zip(self.config.modalities, (w, r)))  # per-step vectors (objectives)
        return ModelOutput(logits, pooled, attentions, lengths_out, loss=loss, sequences=sequences)
