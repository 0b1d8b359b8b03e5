"""Training and evaluation entry points: :func:`fit` and :func:`evaluate`.

``fit`` trains any :mod:`mmalign.implicit` model on any :class:`MultimodalDataset` with PyTorch
Lightning (devices / nodes / DDP by configuration, mixed precision on GPU, early stopping, the
best checkpoint by validation score, resume from ``last.ckpt`` after an interrupt, seeded), then
evaluates the best checkpoint on the test split. ``evaluate`` scores a checkpoint: the task's
metrics and, where the data carry ground-truth alignment (digits-av), the alignment accuracy of
every cross-modal attention map (:func:`mmalign.implicit.alignment_accuracy`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmalign.data._types import MultimodalDataset

LR_SCHEDULES = ("plateau", "cosine", "constant")
HEAD_INITS = ("default", "zero")

__all__ = [
    "TrainConfig",
    "TrainResult",
    "EvalResult",
    "fit",
    "evaluate",
    "read_checkpoint",
    "run_record",
    "check_trainer_options",
    "load_pretrained",
    "write_metrics",
    "plot_attention_examples",
]


@dataclass
class TrainConfig:
    """How to train. Every field can be set from the CLI with ``--set key=value``.

    Attributes
    ----------
    model : str
        One of ``mmalign.implicit.MODEL_NAMES`` (default ``"mult"``).
    lr : float or None
        Learning rate. None (default): the dataset's recipe (:func:`~mmalign.train.presets.
        train_preset`: 3e-3 on digits-av), else 1e-3 (MulT's).
    weight_decay : float or None
        AdamW weight decay (decoupled, Loshchilov & Hutter, ICLR 2019); 0 uses Adam. None
        (default): the recipe's (0; 0.3 on digits-av's ``ink_pair``, where without it some
        seeds partly memorise, README). The pre-training of ``pretrain_epochs`` has its own,
        ``pretrain_weight_decay``.
    batch_size : int
        Default 32.
    max_epochs : int or None
        None (default): the recipe's (30; some models' recipes train longer, see
        :func:`~mmalign.train.presets.train_preset`).
    patience : int
        Early stopping: epochs without a better validation score (default 8).
    lr_schedule : {"plateau", "cosine", "constant"} or None
        None (default): the dataset's recipe (``"cosine"`` on digits-av), else ``"plateau"``.
        ``"plateau"`` (MulT's): divide the rate by 10 when the validation loss has not
        improved for ``lr_patience`` epochs. ``"cosine"``: linear warm-up over ``warmup_steps``
        steps, then cosine decay to 0 at the last step of ``max_epochs``. ``"constant"``: warm-up,
        then constant.
    warmup_steps : int or None
        Linear warm-up steps for ``"cosine"`` and ``"constant"``. None (default): the dataset's
        recipe (200 on digits-av), else 0.
    lr_patience : int
        ReduceLROnPlateau patience on the validation loss (default 10).
    grad_clip : float
        Gradient-norm clipping, 0 = none (default 0.8, MulT's).
    seed : int
        Seeds Python, numpy, torch and the loaders (default 0).
    accelerator, devices, num_nodes, strategy : str, str, int, str
        Passed to ``lightning.Trainer`` (defaults ``"auto"``, ``"auto"``, 1, ``"auto"``); use
        ``strategy="ddp"`` with ``devices`` > 1 or ``num_nodes`` > 1.
    precision : str
        ``"auto"`` = ``"bf16-mixed"`` (or ``"16-mixed"``) on a GPU, ``"32-true"`` on CPU.
    num_workers : int
        Data loader workers (default 0).
    deterministic : bool
        Deterministic torch algorithms (default True).
    progress_bar : bool
        Show Lightning's progress bar (default True).
    limit_train_batches : float
        Fraction (or count when > 1) of training batches per epoch (default 1.0).
    alignment_layers : str
        Layers averaged for the attention read-out: ``"last"`` or ``"all"`` (default ``"all"``).
    n_plots : int
        Test samples drawn for each cross-modal pair (default 3).
    threads : int
        ``torch.set_num_threads`` on CPU; 0 leaves torch's default (default 0).
    presets : bool
        Apply the model's options for the dataset from the model registry (small widths on
        digits-av) under the ``model_options`` given to :func:`fit` (default True).
    objectives : tuple of str or str or None
        What the model is trained on, summed (a comma-separated string is accepted); None
        (default): the recipe's (``("label",)``, or e.g. ``("label", "matching")`` where a
        model's recipe adds matching beside the label): ``"label"`` (the dataset's labels), ``"matching"`` (cross-modal matching: is
        every stream of this sample its own, or was one swapped with another sample's?) and
        ``"masked"`` (masked multimodal modelling: predict masked steps of every stream) and
        ``"replaced"`` (replaced-step detection: which steps hold another sample's features?).
        ``("matching", "masked")`` pre-trains without labels as ViLBERT and LXMERT do
        (``mmalign pretrain``); see :mod:`mmalign.train.objectives`.
    pretrain_epochs : int or None
        Pre-train this many epochs first (``objectives=("matching", "masked")`` on the same
        training inputs, without labels, into ``out_dir/pretrain``), then train from those
        weights, when ``init_from`` is None and ``"label"`` is an objective. None (default):
        the recipe's (0, or the model's recipe, e.g. MTAG's on digits-av).
    pretrain_weight_decay : float or None
        AdamW weight decay of that pre-training (0 uses Adam). None (default): the recipe's
        (0: on digits-av's ``ink_pair`` LXMERT's seed 1 fell from 89.6 % to 49.6 % test with
        0.3 in both phases; README).
    init_from : str or None
        A checkpoint of :func:`fit` (e.g. a pre-training run's ``best.ckpt``) whose weights
        start this run: every weight of the same name and shape (the same model and model
        options are required; a task head of another size is left at its initialisation).
    mask_prob : float
        Fraction of the steps of every stream masked by ``"masked"`` (and replaced by
        ``"replaced"``; default 0.15, BERT's).
    mask_span : int or None
        Masked steps come in spans of this many steps in non-token streams (frames repeat).
        None (default): the dataset's recipe (5 on digits-av), else 1.
    token_columns : dict of str to int, or None
        Streams whose first ``k`` feature columns are a one-hot token, predicted by
        cross-entropy when masked (the rest of the columns, and other streams, by squared
        error). None (default): the dataset's recipe (``{"text": 10}`` on digits-av), else none.
    label_smoothing : float
        Classification only: the label's cross-entropy against targets smoothed by this much
        (Szegedy et al., CVPR 2016; ``torch.nn.functional.cross_entropy``'s
        ``label_smoothing``; default 0). Validation loss and scores are unsmoothed.
    mixup : float
        Classification only: mixup's ``alpha`` (Zhang et al., ICLR 2018; default 0, off). The
        label term of every training batch is taken on mixed pairs of samples, ``lam * a +
        (1 - lam) * b`` frame by frame in every stream with ``lam ~ Beta(alpha, alpha)``, and
        their mixed targets (:func:`mmalign.train.module.mix_batch`).
    ema_decay : float
        Keep an exponential moving average of the weights (Polyak & Juditsky, 1992), updated
        after every optimiser step with this decay (default 0, off; 0.999 is usual: the last
        ~1,000 steps weigh most). Validation, the checkpoints (``best.ckpt``, ``last.ckpt``)
        and so :func:`evaluate` use the averaged weights; training goes on with the raw ones,
        which a checkpoint also keeps for resuming (Lightning's ``EMAWeightAveraging``).
    head_init : {"default", "zero"} or None
        How the last layer of the task head starts: the model's own random initialisation
        (``"default"``) or zero (``"zero"``, weights and bias: uniform first predictions, as
        BiT and ViT fine-tune; :func:`mmalign.train.module.zero_output_layer`); with
        ``"zero"`` a pre-training run's (never trained) task head is not copied by
        ``init_from``. None (default): the recipe's (``"default"``; on digits-av's ``ink_pair``
        ``"zero"`` did not help LXMERT's failing seed: 62.2 % vs 70.8 % test, README).
    """

    model: str = "mult"
    lr: float | None = None
    weight_decay: float | None = None
    batch_size: int = 32
    max_epochs: int | None = None
    patience: int = 8
    lr_schedule: str | None = None
    warmup_steps: int | None = None
    lr_patience: int = 10
    grad_clip: float = 0.8
    seed: int = 0
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    num_workers: int = 0
    deterministic: bool = True
    progress_bar: bool = True
    limit_train_batches: float = 1.0
    alignment_layers: str = "all"
    n_plots: int = 3
    threads: int = 0
    presets: bool = True
    objectives: tuple[str, ...] | None = None
    pretrain_epochs: int | None = None
    pretrain_weight_decay: float | None = None
    init_from: str | None = None
    mask_prob: float = 0.15
    mask_span: int | None = None
    token_columns: dict[str, int] | None = None
    modality_dropout: float = 0.0
    label_smoothing: float = 0.0
    mixup: float = 0.0
    ema_decay: float = 0.0
    head_init: str | None = None

    def __post_init__(self) -> None:
        from mmalign._utils import check_option
        from mmalign.implicit.config import check_positive_int
        from mmalign.implicit.registry import MODEL_NAMES
        from mmalign.train.objectives import OBJECTIVES

        check_option(self.model, "model", MODEL_NAMES)
        if self.objectives is not None:
            if isinstance(self.objectives, str):
                self.objectives = tuple(o.strip() for o in self.objectives.split(",") if o.strip())
            self.objectives = tuple(self.objectives)
            if not self.objectives:
                raise ValueError(
                    f"objectives must name at least one of {', '.join(OBJECTIVES)}, got none; "
                    "e.g. objectives=matching,masked to pre-train."
                )
            for o in self.objectives:
                check_option(o, "objective", OBJECTIVES)
            if len(set(self.objectives)) != len(self.objectives):
                raise ValueError(f"objectives are listed twice in {self.objectives!r}.")
        if self.pretrain_epochs is not None:
            check_positive_int(self.pretrain_epochs, "pretrain_epochs", minimum=0)
        if not 0.0 < float(self.mask_prob) < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob!r}.")
        if self.mask_span is not None:
            check_positive_int(self.mask_span, "mask_span")
        if self.token_columns is not None and (
            not isinstance(self.token_columns, dict)
            or not all(isinstance(v, int) and v >= 2 for v in self.token_columns.values())
        ):
            raise ValueError(
                "token_columns must map a modality to its number of one-hot token columns "
                f"(an int >= 2), e.g. {{'text': 10}}, got {self.token_columns!r}."
            )
        if self.init_from is not None:
            self.init_from = str(self.init_from)
        check_option(self.alignment_layers, "alignment_layers", ["last", "all"])
        if self.head_init is not None:
            check_option(self.head_init, "head_init", HEAD_INITS)
        if self.lr_schedule is not None:
            check_option(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        if self.warmup_steps is not None:
            check_positive_int(self.warmup_steps, "warmup_steps", minimum=0)
        for name in ("batch_size", "max_epochs", "num_nodes"):
            v = getattr(self, name)
            if v is None and name == "max_epochs":
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        for name, top, what in (
            ("modality_dropout", 1.0, "a probability in [0, 1)"),
            ("label_smoothing", 1.0, "in [0, 1) (0.1 is usual)"),
            ("mixup", float("inf"), "a number >= 0 (0: off; 0.2 is usual)"),
            ("ema_decay", 1.0, "in [0, 1) (0: off; 0.999 is usual)"),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < top:
                raise ValueError(f"{name} must be {what}, got {v!r}.")
        for name in ("weight_decay", "pretrain_weight_decay"):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0
            ):
                raise ValueError(f"{name} must be a number >= 0, got {v!r}.")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}.")

    def resolved(self, dataset_name: str) -> TrainConfig:
        """A copy with the fields left at None (``lr``, ``lr_schedule``, ``warmup_steps``,
        ``max_epochs``, ``objectives``, ``pretrain_epochs``, ``mask_span``, ``token_columns``,
        ``head_init``, ``weight_decay``, ``pretrain_weight_decay``) filled in from the training
        recipe of this model on the dataset (:func:`mmalign.train.presets.train_preset`)."""
        from mmalign.train.presets import train_preset

        recipe = train_preset(dataset_name, self.model)
        fill = {k: v for k, v in recipe.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **fill)


@dataclass
class EvalResult:
    """Scores of one checkpoint on one split.

    Attributes
    ----------
    metrics : dict
        The task's metrics (accuracy / F1, or Acc2 / F1 / Acc7 / MAE / Corr).
    alignment : dict of str to dict
        ``"target<-source"`` -> ``{"peak_accuracy", "mass", "n_scored"}`` for every
        cross-modal attention map, where the data carry ground truth; else empty.
    predictions : ndarray
        Decoded predictions, (N,) or (N, K).
    examples : dict of str to list
        A few ``(soft (T_t, T_s), true_intervals (T_t, 2))`` pairs per cross-modal map, for plots.
    split : str
    n_parameters : int
    by_head : dict of str to ndarray of shape (n_layers, n_heads)
        Peak accuracy of every single (layer, head) attention map, per pair.
    selected_heads : dict of str to dict
        With ``heads=`` given: ``"target<-source"`` -> ``{"layer", "head", "peak_accuracy",
        "mass"}`` of the chosen map (chosen on another split, e.g. validation, by :func:`fit`).
    example_ticks : dict of str to list
        Per example, ``(target labels, source labels)``: the words of a text stream (else None).
    scores : ndarray of shape (N, n_outputs), optional
        The model's raw outputs before decoding (the logits of a classifier), e.g. for
        decision-level fusion of single-stream runs (:func:`mmalign.train.late_fusion`).
    """

    metrics: dict[str, float]
    alignment: dict[str, dict[str, float]]
    predictions: np.ndarray
    examples: dict[str, list[tuple[np.ndarray, np.ndarray | None]]] = field(default_factory=dict)
    split: str = "test"
    n_parameters: int = 0
    by_head: dict[str, np.ndarray] = field(default_factory=dict)
    selected_heads: dict[str, dict[str, float]] = field(default_factory=dict)
    example_ticks: dict[str, list[tuple[list[str] | None, list[str] | None]]] = field(
        default_factory=dict
    )
    scores: np.ndarray | None = None


@dataclass
class TrainResult:
    """What :func:`fit` produced.

    Attributes
    ----------
    best_checkpoint : Path
    last_checkpoint : Path
    test : EvalResult
        The best checkpoint on the test split.
    n_parameters : int
    train_samples_per_s : float
        Training throughput of this run (forward + backward + step, data loading included).
    epochs : int
        Epochs completed (including those before a resume).
    resumed : bool
        Whether training continued from ``last.ckpt``.
    out_dir : Path
    history : list of dict
        Per epoch of this run: ``epoch``, ``train_loss``, ``val_loss``, ``val_score``, ``lr``
        (at the epoch's end) and ``seconds`` (also in ``metrics.json``).
    """

    best_checkpoint: Path
    last_checkpoint: Path
    test: EvalResult
    n_parameters: int
    train_samples_per_s: float
    epochs: int
    resumed: bool
    out_dir: Path
    history: list[dict[str, float]] = field(default_factory=list)


def check_trainer_options(config: TrainConfig) -> None:
    """Raise ValueError when Lightning rejects ``config``'s accelerator, devices, nodes,
    strategy or precision (e.g. ``accelerator="gpu"`` without a GPU), before any data are
    loaded or processes started; nothing runs."""
    import lightning as L

    try:
        with _quiet_lightning(True):
            L.Trainer(
                accelerator=config.accelerator,
                devices=_devices(config.devices),
                num_nodes=config.num_nodes,
                strategy=config.strategy,
                precision=_precision(config),
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            )
    except Exception as exc:  # noqa: BLE001 - Lightning's MisconfigurationException and others
        raise ValueError(
            f"Lightning rejects accelerator={config.accelerator!r}, devices={config.devices!r}, "
            f"num_nodes={config.num_nodes}, strategy={config.strategy!r}, precision="
            f"{config.precision!r}: {' '.join(str(exc).split())} Fix --accelerator / --devices / "
            "--strategy / --precision (on a CPU-only machine: --accelerator cpu)."
        ) from None


def check_model_task(model: str, dataset: MultimodalDataset) -> None:
    """Raise ValueError when ``model`` does not train on ``dataset``'s task (the registry's
    ``ModelSpec.tasks``), naming the models that do."""
    from mmalign.implicit.registry import MODELS, config_class

    config_class(model)  # unknown names raise, listing the valid ones
    if dataset.task not in MODELS[model].tasks:
        takers = [n for n, s in MODELS.items() if dataset.task in s.tasks]
        name = dataset.name or "the dataset"
        raise ValueError(
            f"model {model!r} trains on {', '.join(MODELS[model].tasks)} data; {name} is a "
            f"{dataset.task} dataset. Models for it: {', '.join(takers) or 'none'}."
        )


def _precision(config: TrainConfig) -> str:
    if config.precision != "auto":
        return config.precision
    import torch

    if config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def _devices(value: str | int) -> str | int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def fit(
    dataset: MultimodalDataset,
    config: TrainConfig | None = None,
    *,
    model_options: dict[str, Any] | None = None,
    out_dir: str | os.PathLike = "mmalign-run",
    resume: bool | None = None,
    callbacks: list | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``dataset``; keep the best checkpoint; evaluate it on test.

    Parameters
    ----------
    dataset : MultimodalDataset
        Needs a ``train`` split; ``test`` is used for the final scores when present. With a
        ``valid`` split, the checkpoint of the best validation score is kept and training stops
        early (``patience``). Without one, training runs exactly ``max_epochs`` epochs and the
        last checkpoint is the result (``best_checkpoint`` is ``last.ckpt``): the recipe must
        then be chosen beforehand, e.g. on a validation split of the training data, and
        ``lr_schedule`` cannot be ``"plateau"`` (it watches the validation loss). A dataset's
        ``augment`` is applied to the training samples, drawn afresh every epoch.
    config : TrainConfig, optional
    model_options : dict, optional
        Overrides of the model's config fields (``mmalign.implicit.CONFIG_CLASSES[model]``), over
        the model's preset for ``dataset.name`` (``config.presets``).
    out_dir : path-like
        Receives ``checkpoints/best.ckpt``, ``checkpoints/last.ckpt``, ``metrics.json`` and
        the attention plots.
    resume : bool or None
        What to do with a run already in ``out_dir`` (its ``checkpoints/last.ckpt``). ``None``
        (default): continue it when it is the same run (model, model options, data and the
        training options that shape the result; ``max_epochs`` and ``patience`` may differ, to
        train longer), and raise ValueError naming the differences otherwise. ``True``: continue
        it, and raise ValueError when there is none or it is another run. ``False``: start
        afresh, replacing its checkpoints.
    callbacks : list, optional
        Extra Lightning callbacks.

    Returns
    -------
    TrainResult

    Notes
    -----
    This is the whole recipe: ``mmalign train``, the demo and the benchmarks call it with the
    user's options and nothing else, so ``fit(dataset, TrainConfig(model=...))`` trains exactly
    as ``mmalign train --model ...`` does.
    """
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from mmalign.train.module import MultimodalDataModule, MultimodalModule
    from mmalign.train.presets import model_preset, preset_name

    config = config or TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}.")
    if not isinstance(dataset, MultimodalDataset):
        raise TypeError(f"dataset must be a MultimodalDataset, got {type(dataset).__name__}.")
    check_model_task(config.model, dataset)
    name = preset_name(dataset)  # "digits-av/ink_pair": a label may have presets of its own
    config = config.resolved(name)
    has_valid = "valid" in dataset.splits
    if "train" not in dataset.splits or not ({"valid", "test"} & set(dataset.splits)):
        raise ValueError(
            f"fit needs a 'train' split and a 'valid' or 'test' split to score on; the dataset "
            f"has {list(dataset.splits)}."
        )
    if not has_valid and config.lr_schedule == "plateau":
        raise ValueError(
            "lr_schedule 'plateau' watches the validation loss, and the dataset has no 'valid' "
            "split; use lr_schedule='cosine' (or 'constant') to train a fixed number of epochs."
        )
    user_options = dict(model_options or {})
    model_options = {
        **(model_preset(config.model, name) if config.presets else {}),
        **user_options,
    }
    out = Path(out_dir)
    if config.pretrain_epochs and config.init_from is None and "label" in config.objectives:
        # the recipe's pre-training (matching + masked modelling, no labels), then the label
        # from its best weights
        if not config.progress_bar:
            print(
                f"pre-training {config.pretrain_epochs} epochs first (matching + masked, no "
                f"labels) into {out / 'pretrain'}",
                flush=True,
            )
        pre = fit(
            dataset,
            dataclasses.replace(
                config,
                objectives=("matching", "masked"),
                # pre-training has its own weight decay (on ink_pair, 0.3 in both phases:
                # LXMERT seed 1 49.6 % test, against 89.6 % with pre-training left without it)
                weight_decay=config.pretrain_weight_decay,
                max_epochs=config.pretrain_epochs,
                patience=config.pretrain_epochs,
                pretrain_epochs=0,
            ),
            model_options=user_options,
            out_dir=out / "pretrain",
            resume=resume,
        )
        config = dataclasses.replace(config, init_from=str(pre.best_checkpoint))
        if not config.progress_bar:
            print(f"then {config.max_epochs} epochs on {', '.join(config.objectives)}", flush=True)
    ckpt_dir = out / "checkpoints"
    record = run_record(dataset, config, model_options)
    resumed = _resume_decision(out, record, resume, max_epochs=config.max_epochs)
    if config.threads:
        torch.set_num_threads(config.threads)
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = MultimodalModule(
        config.model,
        dataset.input_dims,
        dataset.n_outputs,
        dataset.task,
        model_options=dict(model_options or {}),
        lr=config.lr,
        weight_decay=config.weight_decay,
        lr_patience=config.lr_patience,
        lr_schedule=config.lr_schedule,
        warmup_steps=config.warmup_steps,
        objectives=config.objectives,
        mask_prob=config.mask_prob,
        mask_span=config.mask_span,
        token_columns=config.token_columns,
        modality_dropout=float(config.modality_dropout),
        label_smoothing=float(config.label_smoothing),
        mixup=float(config.mixup),
        head_init=config.head_init or "default",
    )
    if config.init_from is not None and not resumed:
        load_pretrained(module, config.init_from)
    data = MultimodalDataModule(
        dataset, batch_size=config.batch_size, num_workers=config.num_workers, seed=config.seed
    )
    best_cb = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor="val_score",
        mode="max",
        save_top_k=1,
        enable_version_counter=False,
    )
    # last.ckpt after EVERY epoch (save_last on the monitored callback only writes it when
    # the score improves), so that a resume loses at most one epoch
    last_cb = ModelCheckpoint(
        dirpath=ckpt_dir, filename="last", monitor=None, enable_version_counter=False
    )
    speed = _TrainLog(echo=not config.progress_bar, max_epochs=config.max_epochs)
    cbs = [last_cb, speed, _RunRecord(record), _AugmentEpoch()]
    if has_valid:
        cbs += [best_cb, EarlyStopping(monitor="val_score", mode="max", patience=config.patience)]
    if config.ema_decay:
        from lightning.pytorch.callbacks import EMAWeightAveraging

        cbs.append(EMAWeightAveraging(decay=float(config.ema_decay)))
    last = ckpt_dir / "last.ckpt"
    if resume is False:  # start afresh: the old run's checkpoints must not be mixed in
        for old in (last, ckpt_dir / "best.ckpt"):
            old.unlink(missing_ok=True)
    with _quiet_lightning(not config.progress_bar):
        trainer = L.Trainer(
            max_epochs=config.max_epochs,
            accelerator=config.accelerator,
            devices=_devices(config.devices),
            num_nodes=config.num_nodes,
            strategy=config.strategy,
            precision=_precision(config),
            gradient_clip_val=config.grad_clip or None,
            deterministic=config.deterministic,
            enable_progress_bar=config.progress_bar,
            enable_model_summary=False,
            logger=False,
            limit_train_batches=config.limit_train_batches,
            limit_val_batches=1.0 if has_valid else 0,
            num_sanity_val_steps=None if has_valid else 0,
            default_root_dir=str(out),
            callbacks=cbs + list(callbacks or []),
        )
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if resumed else None)
    best = Path(best_cb.best_model_path) if has_valid and best_cb.best_model_path else last
    n_params = sum(p.numel() for p in module.model.parameters())
    result = TrainResult(
        best_checkpoint=best,
        last_checkpoint=last,
        test=None,  # type: ignore[arg-type]
        n_parameters=n_params,
        train_samples_per_s=speed.samples_per_s,
        epochs=int(trainer.current_epoch),
        resumed=resumed,
        out_dir=out,
        history=speed.history,
    )
    if trainer.global_rank != 0:
        return result
    split = "test" if "test" in dataset.splits else "valid"
    chosen = None
    if split == "test" and has_valid and "segments" in dataset["valid"].extras:
        # pick, per pair, the single attention map that aligns best on VALIDATION data
        val = evaluate(best, dataset, split="valid", batch_size=config.batch_size, n_examples=0)
        chosen = {
            k: tuple(int(i) for i in np.unravel_index(int(np.argmax(g)), g.shape))
            for k, g in val.by_head.items()
        }
    result.test = evaluate(
        best,
        dataset,
        split=split,
        batch_size=config.batch_size,
        layers=config.alignment_layers,
        n_examples=config.n_plots,
        heads=chosen,
    )
    write_metrics(
        out / "metrics.json",
        result.test,
        extra={
            "model": config.model,
            "dataset": dataset.name,
            "train_config": dataclasses.asdict(config),
            "model_options": dict(model_options or {}),
            "n_parameters": n_params,
            "train_samples_per_s": speed.samples_per_s,
            "epochs": result.epochs,
            "history": speed.history,
            "best_checkpoint": str(best),
            "resumed": resumed,
        },
    )
    if result.test.examples:
        plot_attention_examples(result.test, out / "alignment")
    return result


# TrainConfig fields that shape what a run learns: a resumed run must keep them. The others
# (max_epochs, patience, devices, progress_bar, ...) may change, e.g. to train a run longer.
_SAME_RUN = (
    "lr",
    "weight_decay",
    "batch_size",
    "lr_schedule",
    "warmup_steps",
    "lr_patience",
    "grad_clip",
    "seed",
    "limit_train_batches",
    "objectives",
    "init_from",
    "mask_prob",
    "mask_span",
    "token_columns",
    "modality_dropout",
    "label_smoothing",
    "mixup",
    "ema_decay",
    "head_init",
)
_RUN_KEY = "mmalign_run"
# _SAME_RUN fields added after runs were recorded -> their values that mean "as before": left
# out of the record, so that those runs still resume
_NEWER_FIELDS = {"head_init": (None, "default"), "ema_decay": (0.0,)}


def _train_record(config: TrainConfig) -> dict[str, Any]:
    """The :data:`_SAME_RUN` fields of ``config``, less the :data:`_NEWER_FIELDS` at a value
    that means "as before"."""
    return {
        k: getattr(config, k)
        for k in _SAME_RUN
        if getattr(config, k) not in _NEWER_FIELDS.get(k, ())
    }


def run_record(
    dataset: MultimodalDataset, config: TrainConfig, model_options: dict[str, Any] | None
) -> dict[str, Any]:
    """What defines a run: model, model options, data and the training options that shape the
    result. Stored in every checkpoint (``checkpoint["mmalign_run"]``); ``evaluate`` reloads the
    data from it, and :func:`fit` resumes a run only when it matches."""
    return _jsonable(
        {
            "model": config.model,
            "model_options": dict(model_options or {}),
            "train": _train_record(config),
            "data": dict(dataset.source) or {"name": dataset.name},
            "data_shape": {
                "task": dataset.task,
                "n_outputs": dataset.n_outputs,
                "input_dims": dataset.input_dims,
                "sizes": {k: len(v) for k, v in dataset.splits.items()},
            },
        }
    )


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def run_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``"key: saved -> current"`` for every entry where two :func:`run_record` differ."""
    a, b = _flatten(saved), _flatten(current)
    missing = object()
    diffs = []
    for k in list(b) + [k for k in a if k not in b]:  # the record's order: model first
        va, vb = a.get(k, missing), b.get(k, missing)
        if va != vb:
            show = ["(unset)" if v is missing else repr(v) for v in (va, vb)]
            diffs.append(f"{k}: {show[0]} -> {show[1]}")
    return diffs


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`fit` (tensors and plain values only: nothing in the
    file can run code). Raises FileNotFoundError / ValueError naming the file and the fix."""
    p = Path(path)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise FileNotFoundError(
            f"checkpoint {str(p)!r} {what}; pass the checkpoints/best.ckpt (or last.ckpt) that "
            "`mmalign train` wrote into its --out folder."
        )
    import warnings

    import torch  # after the cheap checks: importing torch takes seconds

    try:
        with warnings.catch_warnings():  # torch's notes on foreign pickles: the error says it
            warnings.simplefilter("ignore")
            ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises a dozen kinds for a foreign file
        first = (str(exc).strip().splitlines() or [""])[0][:100]
        reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        raise ValueError(
            f"{str(p)!r} is not a checkpoint written by `mmalign train` (torch cannot read it: "
            f"{reason}); pass OUT/checkpoints/best.ckpt of a training run."
        ) from None
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or "model_name" not in hp or "state_dict" not in ckpt:
        raise ValueError(
            f"{str(p)!r} is a torch file but not a checkpoint written by `mmalign train` (it "
            "has no model hyper-parameters); pass OUT/checkpoints/best.ckpt of a training run."
        )
    return ckpt


def _resume_decision(
    out: Path,
    record: dict[str, Any],
    resume: bool | None,
    announce: bool = True,
    max_epochs: int | None = None,
) -> bool:
    """Whether :func:`fit` continues the run in ``out`` (see its ``resume``); raises ValueError
    before any work when it must not. Only the top-level entries of ``record`` are compared (the
    CLI checks a partial record before loading the data); ``announce`` prints the decision."""
    if out.exists() and not out.is_dir():
        raise ValueError(
            f"out_dir {str(out)!r} is a file, not a folder; pass a folder (it is created)."
        )
    last = out / "checkpoints" / "last.ckpt"
    if resume is False:
        return False
    if not last.is_file():
        if resume:
            raise ValueError(
                f"nothing to resume: {str(last)!r} does not exist; drop --resume (resume=True) "
                "to start a new run there."
            )
        return False
    ckpt = read_checkpoint(last)
    saved = ckpt.get(_RUN_KEY)
    if saved is None:
        if not resume:
            raise ValueError(
                f"{str(out)!r} holds a run whose checkpoint does not record its configuration "
                "(an older mmalign); pass --resume (resume=True) to continue it anyway, "
                "--no-resume (resume=False) to replace it, or another --out."
            )
        # an older checkpoint still names its model: never load one model's weights into another
        hp = ckpt["hyper_parameters"]
        old = _jsonable({"model": hp["model_name"], "model_options": hp.get("model_options") or {}})
        diffs = run_differences(old, {k: record[k] for k in old if k in record})
    else:
        diffs = run_differences({k: saved.get(k) for k in record}, record)
    if diffs:
        more = f" and {len(diffs) - 3} more" if len(diffs) > 3 else ""
        raise ValueError(
            f"{str(out)!r} holds another run ({'; '.join(diffs[:3])}{more}); train into "
            "another --out, or pass --no-resume (resume=False) to replace it."
        )
    how = "as asked" if saved is None else "same model, data and options"
    done = int(ckpt.get("epoch", 0)) + 1
    if announce and max_epochs is not None and done >= max_epochs:
        print(
            f"the run in {out} has already trained its {done} epochs ({how}): nothing left to "
            f"train, its best checkpoint is scored again; --set max_epochs={done + 10} trains "
            "it longer, --no-resume starts afresh",
            flush=True,
        )
    elif announce:
        print(
            f"resuming the run in {out} after epoch {done} ({how}; --no-resume starts afresh)",
            flush=True,
        )
    return True


class _AugmentEpoch:
    """Lightning callback: tells the data module which epoch starts, so that a dataset's
    ``augment`` draws that epoch's samples (seeded by seed, epoch and sample)."""

    def __new__(cls):
        from lightning.pytorch.callbacks import Callback

        class _Impl(Callback):
            def on_train_epoch_start(self, trainer, pl_module) -> None:
                dm = trainer.datamodule
                if dm is not None and hasattr(dm, "set_epoch"):
                    dm.set_epoch(trainer.current_epoch)

        return _Impl()


class _RunRecord:
    """Lightning callback that stores :func:`run_record` in every checkpoint."""

    def __new__(cls, record: dict[str, Any]):
        from lightning.pytorch.callbacks import Callback

        class _Impl(Callback):
            def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
                checkpoint[_RUN_KEY] = record

        return _Impl()


@contextlib.contextmanager
def _quiet_lightning(quiet: bool) -> Iterator[None]:
    """Silence Lightning's tips and info lines (when ``quiet``) and a deprecation warning
    inside Lightning that users cannot act on (always)."""
    import logging
    import warnings

    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
        # a resumed run writes into its own checkpoint folder: expected, not worth a warning
        warnings.filterwarnings(
            "ignore", message=r"Checkpoint directory .* exists and is not empty"
        )
        if quiet:
            for lg in loggers:
                lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _TrainLog:
    """Lightning callback: training samples per second over the batches of this run, and a
    per-epoch history (train loss, validation loss and score, learning rate, seconds), printed
    a line per epoch with the time elapsed and an estimate of what remains when ``echo`` is set
    (runs without a progress bar: ``--quiet``, or output piped to a file). The history is saved
    in the checkpoints, so that a resumed run reports every epoch."""

    def __new__(cls, echo: bool = False, max_epochs: int = 0):
        from lightning.pytorch.callbacks import Callback

        class _Impl(Callback):
            def __init__(self) -> None:
                self.samples = 0
                self.seconds = 0.0
                self._t = 0.0
                self._loss_sum = 0.0
                self._n = 0
                self._epoch_t = 0.0
                self._fit_t = time.perf_counter()
                self._epochs_run = 0
                self.history: list[dict[str, float]] = []

            def state_dict(self) -> dict[str, Any]:
                return {"history": [dict(r) for r in self.history]}

            def load_state_dict(self, state_dict: dict[str, Any]) -> None:
                self.history = [dict(r) for r in state_dict.get("history", [])]

            def on_fit_start(self, trainer, pl_module) -> None:
                self._fit_t = time.perf_counter()

            def on_train_epoch_start(self, trainer, pl_module) -> None:
                self._loss_sum, self._n = 0.0, 0
                self._epoch_t = time.perf_counter()

            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
                self._t = time.perf_counter()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
                self.seconds += time.perf_counter() - self._t
                self.samples += len(batch["labels"])
                loss = outputs["loss"] if isinstance(outputs, dict) else outputs
                if loss is not None:
                    self._loss_sum += float(loss.detach())
                    self._n += 1

            def on_train_epoch_end(self, trainer, pl_module) -> None:
                m = trainer.callback_metrics
                row = {
                    "epoch": int(trainer.current_epoch) + 1,
                    "train_loss": self._loss_sum / max(1, self._n),
                    "val_loss": float(m["val_loss"]) if "val_loss" in m else float("nan"),
                    "val_score": float(m["val_score"]) if "val_score" in m else float("nan"),
                    "lr": float(trainer.optimizers[0].param_groups[0]["lr"]),
                    "seconds": time.perf_counter() - self._epoch_t,
                }
                self.history.append(row)
                self._epochs_run += 1
                if echo and trainer.global_rank == 0:
                    elapsed = time.perf_counter() - self._fit_t
                    left = elapsed / self._epochs_run * max(0, max_epochs - row["epoch"])
                    val = (
                        ""  # a run without a validation split (fixed epochs)
                        if row["val_loss"] is None or math.isnan(row["val_loss"])
                        else f"  val loss {row['val_loss']:.4f}  val score {row['val_score']:.4f}"
                    )
                    print(
                        f"epoch {row['epoch']:3d}/{max_epochs}  train loss {row['train_loss']:.4f}"
                        f"{val}  lr {row['lr']:.2e}  {row['seconds']:.1f} s  elapsed "
                        f"{_clock(elapsed)}  left ~{_clock(left)}",
                        flush=True,
                    )

            @property
            def samples_per_s(self) -> float:
                return self.samples / self.seconds if self.seconds > 0 else float("nan")

        return _Impl()


def load_pretrained(module, checkpoint: str | os.PathLike) -> list[str]:
    """Copy the weights of ``checkpoint`` (written by :func:`fit`) into ``module``
    (a :class:`~mmalign.train.MultimodalModule`) wherever name and shape agree.

    The checkpoint must hold the same model with the same model options and input dims (else
    ValueError naming the difference); weights of another shape (a task head with another
    number of outputs) and weights the checkpoint lacks (the objectives' heads) keep their
    initialisation. A pre-training run's task head was never trained: it is copied as it was
    initialised, which is as good as this run's own initialisation; with ``head_init="zero"``
    its last layer is not copied (this run's zero stands).

    Returns
    -------
    list of str
        The names of the module's weights left at their initialisation.
    """
    ckpt = read_checkpoint(checkpoint)
    saved = ckpt["hyper_parameters"]
    hp = module.hparams
    from mmalign.implicit.registry import config_class

    def architecture(h: dict[str, Any]) -> dict[str, Any]:  # the model's config, any head size
        cfg = config_class(h["model_name"])(
            input_dims=dict(h["input_dims"]), n_outputs=1, **dict(h.get("model_options") or {})
        )
        return {"model": h["model_name"], **_jsonable(dataclasses.asdict(cfg))}

    theirs, ours = architecture(saved), architecture(hp)
    diffs = [
        f"{k} {theirs.get(k)!r} (this run: {ours.get(k)!r})"
        for k in ours
        if theirs.get(k) != ours[k]
    ]
    if diffs:
        raise ValueError(
            f"init_from {str(checkpoint)!r} holds another model: {'; '.join(diffs[:3])}; "
            "pre-train with the same model, model options and streams."
        )
    own = module.state_dict()
    take = {k: v for k, v in ckpt["state_dict"].items() if k in own and own[k].shape == v.shape}
    if hp.get("head_init", "default") == "zero" and "label" not in tuple(
        saved.get("objectives") or ("label",)
    ):
        # the checkpoint's task head was never trained: this run's zero head stands
        from mmalign.train.module import zero_output_layer

        name = "model." + zero_output_layer(module.model)
        take = {k: v for k, v in take.items() if k not in (f"{name}.weight", f"{name}.bias")}
    module.load_state_dict(take, strict=False)
    return sorted(k for k in own if k not in take)


def evaluate(
    checkpoint: str | os.PathLike,
    dataset: MultimodalDataset,
    *,
    split: str = "test",
    batch_size: int = 64,
    layers: str = "all",
    n_examples: int = 3,
    device: str = "cpu",
    heads: dict[str, tuple[int, int]] | None = None,
) -> EvalResult:
    """Score a checkpoint of :func:`fit` on one split of ``dataset``.

    Parameters
    ----------
    checkpoint : path-like
        A Lightning ``.ckpt`` written by :func:`fit`.
    dataset : MultimodalDataset
        Must have the modalities and feature dims the model was trained on.
    split : str
    batch_size : int
    layers : {"all", "last"}
        Attention layers averaged for the alignment read-out.
    n_examples : int
        Samples whose attention maps are kept in ``EvalResult.examples`` (for plots).
    device : str
    heads : dict of str to (layer, head), optional
        Single attention maps to score as well, per ``"target<-source"`` pair (see
        ``EvalResult.selected_heads``); :func:`fit` picks them on the validation split.

    Returns
    -------
    EvalResult
    """
    import torch

    from mmalign.implicit import alignment_accuracy, attention_alignment
    from mmalign.train.module import MultimodalModule, collate, decode, split_metrics

    if not isinstance(dataset, MultimodalDataset):
        raise TypeError(f"dataset must be a MultimodalDataset, got {type(dataset).__name__}.")
    ckpt = read_checkpoint(checkpoint)
    if split not in dataset.splits:
        raise ValueError(f"Unknown split {split!r}; this dataset has: {', '.join(dataset.splits)}.")
    saved = ckpt["hyper_parameters"]
    if dict(saved["input_dims"]) != dataset.input_dims or saved["task"] != dataset.task:
        raise ValueError(
            f"the checkpoint was trained on {saved['task']} with input dims "
            f"{dict(saved['input_dims'])}, the dataset is {dataset.task} with "
            f"{dataset.input_dims}; evaluate it on data of the same kind."
        )
    module = MultimodalModule(**saved)
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    hp = module.hparams
    s = dataset[split]
    model = module.to(device).model.eval()
    has_truth = "segments" in s.extras
    words: list[list[str]] | None = None
    if has_truth:
        from mmalign.data.digits_av import text_words, true_intervals

        if "text" in s.features:
            words = text_words(s)
    ticks: dict[str, list] = {}
    truth: dict[tuple[str, str], list[np.ndarray]] = {}
    sums: dict[str, list[float]] = {}
    sel_sums: dict[str, list[float]] = {}
    by_head: dict[str, np.ndarray] = {}
    examples: dict[str, list] = {}
    preds, raw = [], []
    objective_sums: dict[str, list] = {}
    batcher = collate(s)
    with torch.no_grad():
        for start in range(0, len(s), batch_size):
            idx = list(range(start, min(start + batch_size, len(s))))
            batch = batcher(idx)
            inputs = {m: x.to(device) for m, x in batch["inputs"].items()}
            lengths = {m: x.to(device) for m, x in batch["lengths"].items()}
            out = model(inputs, lengths, return_attention=has_truth)
            width = s.labels.shape[1] if s.labels.ndim > 1 else None
            preds.append(decode(out.predictions, hp.task, width))
            raw.append(out.predictions.float().cpu().numpy())
            if module.pretraining and "label" not in module.objectives:
                # a pre-training run: score its objectives (the same corruption every time)
                gen = torch.Generator().manual_seed(20_000 + start)
                _, terms, _ = module.losses(
                    {"inputs": inputs, "lengths": lengths, "labels": batch["labels"]}, gen
                )
                for k, v in terms.items():
                    acc_t = objective_sums.setdefault(k, [0.0, 0])
                    acc_t[0] += float(v) * len(idx)
                    acc_t[1] += len(idx)
            if not has_truth:
                continue
            for t, src in out.attentions:
                if t == src or not out.attentions[(t, src)]:
                    continue
                key = f"{t}<-{src}"
                if (t, src) not in truth:
                    truth[(t, src)] = true_intervals(s, t, src)
                ti = [truth[(t, src)][i] for i in idx]
                al = attention_alignment(out, target=t, source=src, layers=layers)
                score = alignment_accuracy(al, ti, lengths=[len(x) for x in ti])
                acc = sums.setdefault(key, [0.0, 0.0, 0.0])
                acc[0] += score.peak_accuracy * score.n_scored
                acc[1] += score.mass * score.n_scored
                acc[2] += score.n_scored
                maps = out.attentions[(t, src)]
                n_l, n_h = len(maps), maps[0].shape[1]
                grid = by_head.setdefault(key, np.zeros((n_l, n_h, 2)))
                for li in range(n_l):
                    for hi in range(n_h):
                        a = attention_alignment(out, target=t, source=src, layers=li, heads=hi)
                        sc = alignment_accuracy(a, ti, lengths=[len(x) for x in ti])
                        grid[li, hi] += (sc.peak_accuracy * sc.n_scored, sc.n_scored)
                        if heads and heads.get(key) == (li, hi):
                            sel = sel_sums.setdefault(key, [0.0, 0.0, 0.0])
                            sel[0] += sc.peak_accuracy * sc.n_scored
                            sel[1] += sc.mass * sc.n_scored
                            sel[2] += sc.n_scored
                ex = examples.setdefault(key, [])
                soft = al.soft
                if heads and key in heads:  # draw the selected map
                    li, hi = heads[key]
                    soft = attention_alignment(out, target=t, source=src, layers=li, heads=hi).soft
                soft = soft.detach().cpu().numpy() if hasattr(soft, "detach") else np.asarray(soft)
                for b in range(len(idx)):
                    if len(ex) >= n_examples:
                        break
                    lt, ls = int(lengths[t][b]), int(lengths[src][b])
                    ex.append((soft[b, :lt, :ls].copy(), ti[b]))
                    labels = [words[idx[b]] if words and m == "text" else None for m in (t, src)]
                    ticks.setdefault(key, []).append(tuple(labels))
    pred = np.concatenate(preds)
    if objective_sums:  # the task head of a pre-training run is untrained: no label metrics
        metrics = {k: v[0] / v[1] for k, v in objective_sums.items()}
    else:
        metrics = split_metrics(pred, s.labels, hp.task)
    alignment = {
        k: {"peak_accuracy": v[0] / v[2], "mass": v[1] / v[2], "n_scored": int(v[2])}
        for k, v in sums.items()
        if v[2] > 0
    }
    n_params = sum(p.numel() for p in model.parameters())
    grids = {k: g[..., 0] / np.maximum(g[..., 1], 1) for k, g in by_head.items()}
    selected = {
        k: {
            "layer": heads[k][0],
            "head": heads[k][1],
            "peak_accuracy": v[0] / v[2],
            "mass": v[1] / v[2],
        }
        for k, v in sel_sums.items()
        if v[2] > 0
    }
    return EvalResult(
        metrics, alignment, pred, examples, split, n_params, grids, selected, ticks,
        np.concatenate(raw),
    )  # fmt: skip


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, Path):
        return str(x)
    return x


def write_metrics(path: str | os.PathLike, result: EvalResult, extra: dict | None = None) -> Path:
    """Write ``result``'s metrics and alignment scores (plus ``extra``) as JSON, atomically."""
    from mmalign._utils import atomic_write

    doc = {
        "split": result.split,
        "metrics": result.metrics,
        "alignment": result.alignment,
        "alignment_selected_head": result.selected_heads,
        "alignment_by_head": {k: v.round(4).tolist() for k, v in result.by_head.items()},
        "n_parameters": result.n_parameters,
        **(extra or {}),
    }
    path = Path(path)
    with atomic_write(path) as fh:
        json.dump(_jsonable(doc), fh, indent=2, sort_keys=False)
        fh.write("\n")
    return path


def plot_attention_examples(result: EvalResult, out_dir: str | os.PathLike) -> list[Path]:
    """One PNG per cross-modal pair: the attention maps of a few samples with the truth drawn
    over them (``mmalign.implicit.plot_alignment``), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mmalign._utils import atomic_path
    from mmalign.implicit import plot_alignment

    out = Path(out_dir)
    paths = []
    for key, items in result.examples.items():
        if not items:
            continue
        t, s = key.split("<-")
        fig, axes = plt.subplots(1, len(items), figsize=(4.2 * len(items), 3.4), squeeze=False)
        labels = result.example_ticks.get(key) or [(None, None)] * len(items)
        for ax, (soft, ti), (t_ticks, s_ticks) in zip(axes[0], items, labels):
            plot_alignment(
                soft,
                true_intervals=ti,
                ax=ax,
                target_label=f"{t} ({'word' if t_ticks else 'frame'})",
                source_label=f"{s} ({'word' if s_ticks else 'frame'})",
                target_ticks=t_ticks,
                source_ticks=s_ticks,
            )
        sel = result.selected_heads.get(key)
        score = sel or result.alignment.get(key, {})
        which = f"layer {sel['layer']} head {sel['head']}" if sel else "heads averaged"
        fig.suptitle(
            f"{key} attention, {which} (boxes: ground truth); peak accuracy "
            f"{score.get('peak_accuracy', float('nan')):.1%}"
        )
        fig.tight_layout()
        path = out / f"{t}_from_{s}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
        paths.append(path)
    return paths
