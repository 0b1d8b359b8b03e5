"""One LightningModule for every model, and the LightningDataModule that feeds it.

The module builds its network with :func:`mmalign.implicit.build_model` from hyperparameters
it saves in every checkpoint (model name, input dims, outputs, task, model options), so a
checkpoint alone rebuilds the model (:meth:`MultimodalModule.load_from_checkpoint`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from mmalign.data._types import MultimodalDataset, MultimodalSplit
from mmalign.train.trainer import HEAD_INITS, LR_SCHEDULES

__all__ = [
    "MultimodalModule",
    "MultimodalDataModule",
    "collate",
    "task_loss",
    "decode",
    "lr_factor",
    "drop_modalities",
    "zero_output_layer",
]


class _SplitDataset(Dataset):
    """Index -> (index) of one split; the collate function reads the arrays directly."""

    def __init__(self, split: MultimodalSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> int:
        return i


class collate:  # noqa: N801 - used like a function
    """Gather samples of a split into a batch, trimmed to the longest sequence in the batch.

    Returns a dict with ``inputs`` {modality: (B, T_m, D_m) float32}, ``lengths``
    {modality: (B,) int64}, ``labels`` and ``index`` (B,).

    With ``augment`` (a dataset's :attr:`~mmalign.data.MultimodalDataset.augment`), every
    sample is replaced by ``augment({modality: (T_m, D_m) frames}, rng)`` before padding; the
    generator is seeded by ``(seed, epoch, index)``, so each epoch sees a fresh draw and a run
    is reproducible (and a resumed one too). :class:`MultimodalDataModule` sets ``epoch``.
    """

    def __init__(
        self,
        split: MultimodalSplit,
        augment: Callable[[dict[str, np.ndarray], np.random.Generator], dict] | None = None,
        seed: int = 0,
    ) -> None:
        self.split = split
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    def __call__(self, indices: list[int]) -> dict[str, Any]:
        idx = np.asarray(indices, dtype=np.int64)
        s = self.split
        inputs, lengths = {}, {}
        if self.augment is not None:
            samples = [self._augmented(int(i)) for i in idx]
            for m in s.features:
                n = np.array([len(x[m]) for x in samples], np.int64)
                batch = np.zeros(
                    (len(idx), max(int(n.max()), 1), s.features[m].shape[2]), np.float32
                )
                for b, x in enumerate(samples):
                    batch[b, : len(x[m])] = x[m]
                inputs[m] = torch.from_numpy(batch)
                lengths[m] = torch.from_numpy(np.maximum(n, 1))
        else:
            for m, x in s.features.items():
                n = s.lengths[m][idx]
                t = max(int(n.max()), 1)
                inputs[m] = torch.from_numpy(np.ascontiguousarray(x[idx, :t]))
                lengths[m] = torch.from_numpy(np.maximum(n, 1).astype(np.int64))
        return {
            "inputs": inputs,
            "lengths": lengths,
            "labels": torch.from_numpy(np.asarray(s.labels[idx])),
            "index": torch.from_numpy(idx),
        }

    def _augmented(self, i: int) -> dict[str, np.ndarray]:
        s = self.split
        sample = {m: s.features[m][i, : max(int(s.lengths[m][i]), 1)] for m in s.features}
        rng = np.random.default_rng([self.seed, self.epoch, i])
        out = self.augment(sample, rng)
        bad = [
            m
            for m in s.features
            if m not in out
            or np.ndim(out[m]) != 2
            or np.shape(out[m])[1] != s.features[m].shape[2]
            or len(out[m]) < 1
        ]
        if bad:
            raise ValueError(
                f"the dataset's augment returned no (n_frames >= 1, {s.features[bad[0]].shape[2]}) "
                f"array for modality {bad[0]!r}; it must return every modality with its feature "
                "dimension unchanged."
            )
        return {m: np.asarray(out[m], np.float32) for m in s.features}


class MultimodalDataModule(L.LightningDataModule):
    """Data loaders over a :class:`MultimodalDataset` (splits ``train``, ``valid``, ``test``).

    Parameters
    ----------
    dataset : MultimodalDataset
        Needs a ``train`` split; without a ``valid`` split there is no validation loader
        (train for a fixed number of epochs). Its ``augment``, when set, is applied to every
        training sample, drawn afresh every epoch (see :class:`collate`).
    batch_size : int, default 32
    num_workers : int, default 0
    seed : int, default 0
        Seeds the shuffling of the training loader and the augmentation.
    """

    def __init__(
        self,
        dataset: MultimodalDataset,
        *,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(dataset, MultimodalDataset):
            raise TypeError(f"dataset must be a MultimodalDataset, got {type(dataset).__name__}.")
        if "train" not in dataset.splits:
            raise ValueError(
                f"dataset needs a 'train' split for training, it has {list(dataset.splits)}."
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self._train_collate = collate(dataset["train"], dataset.augment, seed)

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentation of epoch ``epoch`` (called at the start of every epoch)."""
        self._train_collate.epoch = int(epoch)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        s = self.dataset[split]
        gen = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            _SplitDataset(s),
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=self._train_collate if split == "train" else collate(s),
            num_workers=self.num_workers,
            generator=gen,
            # workers keep a copy of the collate function: with augmentation they are started
            # afresh every epoch, so that they see its new epoch
            persistent_workers=self.num_workers > 0 and self.dataset.augment is None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("valid", False) if "valid" in self.dataset.splits else []

    def test_dataloader(self) -> DataLoader:
        return self._loader("test" if "test" in self.dataset.splits else "valid", False)


def zero_output_layer(model: torch.nn.Module) -> str:
    """Set the last layer of ``model``'s task head (:func:`mmalign.implicit._common.
    output_layer`) to zero, weights and bias, and return its name in ``model``.

    Fine-tuning heads start at zero in BiT (Kolesnikov et al., ECCV 2020) and ViT (Dosovitskiy
    et al., ICLR 2021) for the same reason as here: a random head sends random gradients into
    the pre-trained layers (Kumar et al., ICLR 2022, "fine-tuning can distort pretrained
    features"). At zero the first predictions are uniform, the label's first gradient reaches
    only this layer, and the layers below move once it reads what they carry. On digits-av's
    ``ink_pair`` the sign of the label's first pull on a word's attention to its own image is
    set by the random head (benchmarks/alignment_pull.py ``--head-seeds``), but a zero head did
    not cure LXMERT's failing seed (README), so no recipe uses it."""
    from mmalign.implicit._common import output_layer

    layer = output_layer(model)
    with torch.no_grad():
        layer.weight.zero_()
        if layer.bias is not None:
            layer.bias.zero_()
    return next(name for name, m in model.named_modules() if m is layer)


def drop_modalities(
    inputs: dict[str, Tensor], p: float, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """Modality dropout: each sample, with probability ``p``, has one of its streams (chosen
    uniformly) replaced by zeros, so that a fused model cannot lean on one stream alone
    (Neverova et al., "ModDrop", TPAMI 2016). Never more than one stream of a sample, so one
    always remains. ``inputs`` {modality: (B, T_m, D_m)}; returns new tensors (the inputs are
    not changed); drawn from ``generator`` (torch's global generator when None)."""
    mods = list(inputs)
    if len(mods) < 2 or p <= 0:
        return dict(inputs)
    first = inputs[mods[0]]
    b = first.shape[0]
    drop = torch.rand(b, generator=generator) < p  # (B,)
    which = torch.randint(len(mods), (b,), generator=generator)  # (B,)
    out = {}
    for k, m in enumerate(mods):
        keep = ~(drop & (which == k))  # (B,)
        out[m] = inputs[m] * keep.to(inputs[m].dtype).to(inputs[m].device)[:, None, None]
    return out


def mix_batch(
    inputs: dict[str, Tensor],
    lengths: dict[str, Tensor],
    labels: Tensor,
    n_classes: int,
    alpha: float,
    generator: torch.Generator | None = None,
) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor]:
    """Mixup (Zhang et al., ICLR 2018) of a batch of sequences: every sample becomes
    ``lam * itself + (1 - lam) * partner``, frame by frame in every stream, with a random
    partner from the batch and one ``lam ~ Beta(alpha, alpha)`` per batch; a mixed stream is
    as long as the longer of the two (the shorter one's padding is zeros, the mean of
    standardised features). Returns the mixed inputs, their lengths and the mixed targets
    (B, ``n_classes``) class probabilities; drawn from ``generator`` (torch's global one when
    None)."""
    b = len(labels)
    perm = torch.randperm(b, generator=generator)
    draw = int(torch.randint(2**31 - 1, (1,), generator=generator))
    lam = float(np.random.default_rng(draw).beta(alpha, alpha))
    mixed, lens = {}, {}
    for m, x in inputs.items():
        keep = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[m][:, None]
        x = x * keep[..., None].to(x.dtype)  # padding as zeros, whatever the batch held
        mixed[m] = lam * x + (1.0 - lam) * x[perm.to(x.device)]
        lens[m] = torch.maximum(lengths[m], lengths[m][perm.to(lengths[m].device)])
    onehot = F.one_hot(labels.long(), n_classes).to(mixed[next(iter(mixed))].dtype)
    return mixed, lens, lam * onehot + (1.0 - lam) * onehot[perm.to(onehot.device)]


def task_loss(
    predictions: Tensor, labels: Tensor, task: str, label_smoothing: float = 0.0
) -> Tensor:
    """L1 for regression (as MulT), cross-entropy for classification (its targets smoothed by
    ``label_smoothing``; labels are class indices, or (B, k) class probabilities), mean CE
    over 2-way heads for multilabel. ``predictions`` (B, n_outputs). For grounding,
    ``predictions`` (B, T, R) and ``labels`` (B, >= T): cross-entropy of every step that has a
    label (>= 0) over the steps of the other modality (the supervised upper bound of weak
    grounding)."""
    if task == "regression":
        return F.l1_loss(predictions[:, 0], labels.float())
    if task == "classification":  # labels: class indices (B,), or probabilities (B, k)
        target = labels if labels.is_floating_point() and labels.ndim == 2 else labels.long()
        return F.cross_entropy(predictions, target, label_smoothing=label_smoothing)
    if task == "grounding":
        target = labels[:, : predictions.shape[1]].long()  # batches are trimmed, labels not
        keep = target >= 0
        return F.cross_entropy(predictions[keep], target[keep])
    b, k = labels.shape
    return F.cross_entropy(predictions.reshape(b * k, 2), labels.reshape(-1).long())


def decode(predictions: Tensor, task: str, width: int | None = None) -> np.ndarray:
    """Model outputs -> predictions in label space: (N,) scores, (N,) classes or (N, K); for
    grounding (N, width): the step each step points at, padded with -1 to ``width`` (the
    labels' width; batches are trimmed to their longest sequence)."""
    p = predictions.detach().float().cpu()
    if task == "regression":
        return p[:, 0].numpy()
    if task == "classification":
        return p.argmax(dim=1).numpy()
    if task == "grounding":
        pointed = p.argmax(dim=2).numpy()  # (N, T)
        out = np.full((len(pointed), max(width or 0, pointed.shape[1])), -1, np.int64)
        out[:, : pointed.shape[1]] = pointed
        return out
    return p.reshape(p.shape[0], -1, 2).argmax(dim=2).numpy()


def split_metrics(pred: np.ndarray, labels: np.ndarray, task: str) -> dict[str, float]:
    """The task's metrics as a flat dict (see :mod:`mmalign.train.metrics`); for grounding the
    pointing accuracy (the fraction of labelled steps whose peak is their true step)."""
    from mmalign.train.metrics import classification_metrics, multilabel_metrics, sentiment_metrics

    if task == "regression":
        return sentiment_metrics(pred, labels).to_dict()
    if task == "classification":
        return classification_metrics(pred, labels).to_dict()
    if task == "grounding":
        scored = labels >= 0
        n = int(scored.sum())
        correct = int((pred[:, : labels.shape[1]][scored] == labels[scored]).sum())
        return {"pointing_accuracy": correct / max(n, 1), "n_words": n}
    return multilabel_metrics(pred, labels).to_dict()


class MultimodalModule(L.LightningModule):
    """Train any :mod:`mmalign.implicit` model on any :class:`MultimodalDataset`.

    Parameters
    ----------
    model_name : str
        A model of the registry (``mmalign.implicit.MODEL_NAMES``).
    input_dims : dict of str to int
    n_outputs : int
    task : {"regression", "classification", "multilabel", "grounding"}
    model_options : dict, optional
        Overrides of the model's config fields.
    lr : float, default 1e-3
    weight_decay : float, default 0.0
        AdamW weight decay (0 = Adam, as MulT).
    lr_patience : int, default 10
        ReduceLROnPlateau patience (factor 0.1) on the validation loss, as MulT (there 20).
    lr_schedule : {"plateau", "cosine", "constant"}, default "plateau"
        See :class:`mmalign.train.TrainConfig`.
    warmup_steps : int, default 0
        Linear warm-up steps (``"cosine"`` and ``"constant"``).
    objectives : tuple of str, default ("label",)
        What the loss sums: ``"label"`` (the dataset's task), ``"matching"`` and ``"masked"``
        (the pre-training objectives, :mod:`mmalign.train.objectives`).
    mask_prob, mask_span, token_columns
        Options of ``"masked"`` (see :class:`mmalign.train.TrainConfig`).
    modality_dropout : float, default 0.0
        Probability that a training sample loses one of its streams, drawn at random (its
        frames set to zero, the mean of standardised features); see :func:`drop_modalities`.
    label_smoothing : float, default 0.0
        The training label's cross-entropy is taken against targets smoothed by this much
        (classification only; validation and test losses are not).
    mixup : float, default 0.0
        Mixup's ``alpha`` (0: off): the label term of every training batch is taken on mixed
        samples and targets (:func:`mix_batch`); the other objectives see the batch as it is.
    head_init : {"default", "zero"}, default "default"
        ``"zero"``: the last layer of the task head starts at zero (weights and bias), so that
        the first predictions are uniform and no random head decides which way the label's
        gradient first pulls the layers below (:func:`zero_output_layer`).
    """

    def __init__(
        self,
        model_name: str,
        input_dims: dict[str, int],
        n_outputs: int,
        task: str,
        model_options: dict[str, Any] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_patience: int = 10,
        lr_schedule: str = "plateau",
        warmup_steps: int = 0,
        objectives: tuple[str, ...] = ("label",),
        mask_prob: float = 0.15,
        mask_span: int = 1,
        token_columns: dict[str, int] | None = None,
        modality_dropout: float = 0.0,
        label_smoothing: float = 0.0,
        mixup: float = 0.0,
        head_init: str = "default",
    ) -> None:
        super().__init__()
        if not 0.0 <= float(modality_dropout) < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout!r}.")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}.")
        if float(mixup) < 0 or (float(mixup) > 0 and task != "classification"):
            raise ValueError(
                f"mixup must be >= 0 and applies to classification only, got {mixup!r} on a "
                f"{task} task; leave it at 0."
            )
        from mmalign._utils import check_option
        from mmalign.data._types import TASKS
        from mmalign.implicit import build_model

        check_option(task, "task", TASKS)
        check_option(lr_schedule, "lr_schedule", LR_SCHEDULES)
        check_option(head_init, "head_init", HEAD_INITS)
        self.save_hyperparameters()
        self.model = build_model(
            model_name, dict(input_dims), int(n_outputs), **(model_options or {})
        )
        if head_init == "zero":
            zero_output_layer(self.model)
        self.task = task
        self.objectives = tuple(objectives)
        self.pretraining = tuple(o for o in self.objectives if o != "label")
        # built after the model, so that the model's initial weights do not depend on them
        self.pretrain_heads = (
            self._pretraining_heads(dict(input_dims)) if self.pretraining else None
        )
        self._val: list[tuple[np.ndarray, np.ndarray]] = []
        self._val_loss: list[tuple[float, int]] = []

    def _pretraining_heads(self, input_dims: dict[str, int]):
        """The objectives' heads, sized by one forward pass of a two-step dummy batch."""
        from mmalign.train.objectives import PretrainingHeads

        was = self.model.training
        self.model.eval()
        with torch.no_grad():
            out = self.model(
                {m: torch.zeros(1, 2, d) for m, d in input_dims.items()},
                {m: torch.full((1,), 2, dtype=torch.long) for m in input_dims},
            )
        self.model.train(was)
        dims = {m: int(h.shape[-1]) for m, h in out.sequences.items()}
        return PretrainingHeads(int(out.pooled.shape[-1]), dims, input_dims)

    def forward(self, inputs: dict[str, Tensor], lengths: dict[str, Tensor] | None = None, **kw):
        return self.model(inputs, lengths, **kw)

    def _task_loss(self, out: Any, labels: Tensor) -> Tensor:
        """The model's own objective when it computes one (``out.loss``), else the task's
        (with ``label_smoothing`` while training)."""
        if out.loss is not None:
            return out.loss
        smoothing = float(self.hparams.get("label_smoothing", 0.0)) if self.training else 0.0
        return task_loss(out.predictions, labels, self.task, smoothing)

    def losses(
        self, batch: dict[str, Any], generator: torch.Generator | None = None
    ) -> tuple[Tensor, dict[str, Tensor], Any]:
        """The summed loss of ``objectives`` on one batch, every term (and the objectives'
        accuracies), and the model's output on the clean inputs (None without ``"label"``, or
        while training with ``mixup``, whose label term sees mixed inputs).
        The pre-training objectives see a corrupted copy of the batch (streams swapped, steps
        masked; drawn from ``generator``, the global generator when None)."""
        from mmalign.train.objectives import corrupt_batch, objective_losses

        terms: dict[str, Tensor] = {}
        out = None
        if "label" in self.objectives:
            alpha = float(self.hparams.get("mixup", 0.0)) if self.training else 0.0
            if alpha > 0:
                k = int(self.hparams.n_outputs)
                inputs, lengths, target = mix_batch(
                    batch["inputs"], batch["lengths"], batch["labels"], k, alpha, generator
                )
                terms["label"] = self._task_loss(self.model(inputs, lengths), target)
            else:
                out = self.model(batch["inputs"], batch["lengths"])
                terms["label"] = self._task_loss(out, batch["labels"])
        if self.pretraining:
            hp = self.hparams
            vocab = dict(hp.get("token_columns") or {})
            corrupted = corrupt_batch(
                batch["inputs"],
                batch["lengths"],
                self.pretraining,
                mask_prob=float(hp.get("mask_prob", 0.15)),
                mask_span=int(hp.get("mask_span", 1)),
                token_modalities=tuple(vocab),
                generator=generator,
            )
            pre = self.model(corrupted.inputs, corrupted.lengths)
            terms.update(
                objective_losses(pre, corrupted, self.pretrain_heads, self.pretraining, vocab)
            )
        loss = sum(terms[o] for o in self.objectives)
        return loss, terms, out

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        p = float(self.hparams.get("modality_dropout", 0.0))
        if p > 0:
            batch = {**batch, "inputs": drop_modalities(batch["inputs"], p)}
        loss, terms, _ = self.losses(batch)
        n = len(batch["labels"])
        self.log("train_loss", loss, prog_bar=True, batch_size=n)
        for k, v in terms.items():
            if k not in self.objectives or len(self.objectives) > 1:
                self.log(f"train_{k}", v, batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        # the same corruption every epoch: a generator seeded by the batch's position
        gen = torch.Generator().manual_seed(10_000 + batch_idx) if self.pretraining else None
        loss, terms, out = self.losses(batch, generator=gen)
        n = len(batch["labels"])
        self.log("val_loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        for k, v in terms.items():
            if k != "label":
                self.log(f"val_{k}", v, batch_size=n, sync_dist=True)
        self._val_loss.append((float(loss.detach()), n))
        if out is not None:
            labels = batch["labels"]
            width = labels.shape[1] if labels.ndim > 1 else None
            self._val.append((decode(out.predictions, self.task, width), labels.cpu().numpy()))

    def on_validation_epoch_end(self) -> None:
        if not self._val and not self._val_loss:
            return
        mean_loss = sum(v * n for v, n in self._val_loss) / max(
            1, sum(n for _, n in self._val_loss)
        )
        if self._val and self.task != "grounding":
            pred = np.concatenate([p for p, _ in self._val])
            labels = np.concatenate([y for _, y in self._val])
            m = split_metrics(pred, labels, self.task)
            # One "higher is better" number to select checkpoints on.
            score = -m["mae"] if self.task == "regression" else m["accuracy"]
        else:
            # Pre-training only, or grounding: the lower the loss of the model's own objectives,
            # the better (a weakly supervised model is never selected on word-region labels).
            score = -mean_loss
        self._val.clear()
        self._val_loss.clear()
        self.log("val_score", float(score), prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        hp = self.hparams
        if hp.weight_decay:
            opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            opt = torch.optim.Adam(self.parameters(), lr=hp.lr)
        schedule = hp.get("lr_schedule", "plateau")
        if schedule == "plateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode="min", factor=0.1, patience=hp.lr_patience
            )
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val_loss"}}
        factor = lr_factor(
            schedule,
            int(hp.get("warmup_steps", 0)),
            max(1, int(self.trainer.estimated_stepping_batches)),
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def lr_factor(schedule: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The multiplier of the base rate at optimizer step ``s``: linear warm-up over
    ``warmup_steps``, then constant or a cosine decay reaching 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        done = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))

    return factor
