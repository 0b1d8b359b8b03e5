"""``mmalign train`` and ``mmalign evaluate``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

_EPILOG = """\
--set KEY=VALUE sets a training option (model, lr, batch_size, max_epochs, patience, seed, ...),
a model option (model.KEY or any field of the model's config, e.g. d_model=32) or a digits-av
option (data.KEY, e.g. data.n_train=500). Unknown keys are errors. On digits-av the defaults are
small models and lr 3e-3 with 200 warm-up steps and a cosine decay (lr_schedule=cosine); with
data.label=ink_pair each model's recipe adds 20 epochs of pre-training first (pretrain_epochs=0
skips it) and cross-modal matching beside the label (objectives=label,matching). MulT's own
schedule is --set lr=1e-3 --set lr_schedule=plateau.

A run already in --out is continued when it is the same run (model, model options, data and
training options; max_epochs and patience may grow) and refused otherwise; --no-resume replaces
it, --resume insists on continuing it. A run of about a minute on 2 CPU cores (too short to
learn the label; drop the data.* options and max_epochs for the full recipe):
  mmalign train --set data.n_train=300 --set data.n_valid=100 --set data.n_test=100 \\
    --set max_epochs=5 --out runs/quick
"""

_EVAL_EPILOG = """\
By default the data are those the checkpoint was trained on (its dataset and every data option,
stored in the checkpoint). --data FILE scores another pickle; --set data.KEY=VALUE (digits-av)
changes one data option, e.g. --set data.n_test=1000 for a larger test split. Model and training
options are fixed by the checkpoint. Several checkpoints of classifiers (e.g. one run per seed)
are scored as one ensemble: each on its own data, their log-posteriors averaged:
  mmalign evaluate runs/s0/checkpoints/last.ckpt runs/s1/checkpoints/last.ckpt --out runs/ens
"""

_SPLITS = ("train", "valid", "test")


_PRETRAIN_EPILOG = """\
Pre-training: the model learns from the inputs alone, without the labels, by the objectives
of ViLBERT, LXMERT and VisualBERT: cross-modal matching (is every stream of a sample its own,
or was one swapped with another sample's?) and masked multimodal modelling (masked words
predicted, masked frames regressed). Fine-tune on the labels with `mmalign train --set
init_from=OUT/checkpoints/best.ckpt` (the same --model and model options). Options as for
`mmalign train`, plus objectives=matching,masked (default; any of matching, masked and
replaced, the per-step detection of steps taken from another sample, alone or with label),
mask_prob, mask_span and token_columns. The metrics are the objectives' losses and accuracies
(and the attention alignment on digits-av):
  mmalign pretrain --set data.n_train=300 --set data.n_valid=100 --set data.n_test=100 \\
    --set max_epochs=5 --out runs/pre
  mmalign train --set data.n_train=300 --set data.n_valid=100 --set data.n_test=100 \\
    --set max_epochs=5 --set init_from=runs/pre/checkpoints/best.ckpt --out runs/fine
"""


def register(subparsers: Any) -> None:
    for command in ("train", "pretrain"):
        _register_train(subparsers, command)
    _register_evaluate(subparsers)


def _register_evaluate(subparsers: Any) -> None:
    e = subparsers.add_parser(
        "evaluate",
        help="score a checkpoint of `mmalign train` (metrics and attention alignment)",
        description="Evaluate a checkpoint; write metrics.json and attention plots into --out.",
        epilog=_EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument(
        "checkpoint",
        nargs="+",
        help="a .ckpt file written by `mmalign train`; several (classifiers): scored as one "
        "ensemble, their log-posteriors averaged (give --out)",
    )
    e.add_argument(
        "--data",
        default=None,
        help="'digits-av', 'avletters:PATH', 'utd-mhad:PATH' or a pickle file (default: the data "
        "the checkpoint was trained on)",
    )
    e.add_argument(
        "--split", default="test", choices=_SPLITS, help="train, valid or test (default test)"
    )
    e.add_argument(
        "--out",
        default=None,
        help="output folder (default: RUN/evaluation for RUN/checkpoints/X.ckpt, else "
        "evaluation/ beside the checkpoint)",
    )
    e.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="data.KEY=VALUE",
        help="a digits-av data option, e.g. data.n_test=1000",
    )
    e.set_defaults(func=_evaluate)


def _register_train(subparsers: Any, command: str) -> None:
    from mmalign.implicit.registry import MODEL_NAMES, MODELS

    pre = command == "pretrain"
    p = subparsers.add_parser(
        command,
        help=(
            "pre-train a model on a dataset's inputs (cross-modal matching, masked modelling)"
            if pre
            else f"train a model ({', '.join(MODEL_NAMES)}) on a dataset"
        ),
        description="Train a model with PyTorch Lightning; write the best checkpoint, "
        "metrics.json and attention plots into --out."
        + (" The loss is the pre-training objectives, not the labels." if pre else ""),
        epilog=_PRETRAIN_EPILOG if pre else _EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        default="mult",
        help="; ".join(f"{n}: {s.summary}" for n, s in MODELS.items()) + " (default mult)",
    )
    p.add_argument(
        "--data",
        default="digits-av",
        help="'digits-av', 'digit-scenes' (word-region grounding), a corpus folder "
        "('avletters:PATH', 'utd-mhad:PATH') or a MulT / MMSA pickle file (default digits-av)",
    )
    p.add_argument("--out", default="mmalign-run", help="output folder (default ./mmalign-run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--devices", default=None, help="Lightning devices (e.g. 2, or 'auto')")
    p.add_argument("--num-nodes", type=int, default=None, help="number of nodes (DDP)")
    p.add_argument("--strategy", default=None, help="Lightning strategy, e.g. ddp")
    p.add_argument("--accelerator", default=None, help="cpu, gpu or auto")
    p.add_argument("--precision", default=None, help="e.g. 32-true, bf16-mixed (default auto)")
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        dest="resume",
        action="store_const",
        const=True,
        default=None,
        help="continue the run in --out (an error when there is none or it is another run)",
    )
    again.add_argument(
        "--no-resume",
        dest="resume",
        action="store_const",
        const=False,
        help="start afresh, replacing the run in --out",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no Lightning messages: one line per epoch (as when the output "
        "is not a terminal)",
    )
    p.set_defaults(func=_train, default_objectives=("matching", "masked") if pre else None)


def _parse_value(text: str) -> Any:
    import json

    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def split_overrides(
    pairs: list[str], model: str, data: str = "digits-av"
) -> tuple[dict, dict, dict]:
    """``KEY=VALUE`` strings -> (train options, model options, data options); ``data.*`` keys
    are the options of ``data`` (a corpus's loader options, else digits-av's fields).

    Raises ValueError for a malformed pair or an unknown key, listing the valid ones.
    """
    import dataclasses

    from mmalign.data.digits_av import DigitsAVConfig
    from mmalign.implicit.registry import config_class
    from mmalign.train.trainer import TrainConfig

    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    model_keys = {f.name for f in dataclasses.fields(config_class(model))} - {
        "input_dims",
        "n_outputs",
    }
    from mmalign.data._load import _corpus, corpus_loader_defaults

    corpus = _corpus(data)
    if corpus is not None:
        data_name, data_keys = corpus[0], set(corpus_loader_defaults(corpus[0]))
    elif data == "digit-scenes":
        from mmalign.data._load import _digit_scenes_options

        data_name, data_keys = data, set(_digit_scenes_options())
    else:
        data_name, data_keys = "digits-av", {f.name for f in dataclasses.fields(DigitsAVConfig)}
    train, mopt, data = {}, {}, {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}; e.g. --set lr=3e-4.")
        key, value = pair.split("=", 1)
        key, val = key.strip(), _parse_value(value.strip())
        if key.startswith("model."):
            name, table = key[6:], (model_keys, mopt)
        elif key.startswith("data."):
            name, table = key[5:], (data_keys, data)
        elif key in train_keys:
            name, table = key, (train_keys, train)
        elif key in model_keys:
            name, table = key, (model_keys, mopt)
        else:
            name, table = key, (set(), None)
        valid, dest = table
        if name not in valid:
            raise ValueError(
                f"Unknown --set key {key!r}. Training options: {', '.join(sorted(train_keys))}; "
                f"{model} options: {', '.join(sorted(model_keys))}; {data_name} options: "
                f"data.{', data.'.join(sorted(data_keys))}."
            )
        if isinstance(val, list):
            val = tuple(val)
        dest[name] = val
    return train, mopt, data


def _dataset_name(spec: str) -> str:
    """The name presets are looked up by: digits-av, a corpus name, or a pickle's stem."""
    from mmalign.data._load import _corpus

    if spec in _GENERATED:
        return spec
    corpus = _corpus(spec)
    return corpus[0] if corpus else Path(spec).stem


def _check_out_dir(out: str | None, flag: str = "--out") -> None:
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"{flag} {out!r} is a file, not a folder; pass a folder (it is created).")


# The datasets mmalign generates: their task and stand-in input dims, known without the data.
_GENERATED = {
    "digits-av": ("classification", {"text": 11, "audio": 13, "vision": 192}),
    "digit-scenes": ("grounding", {"text": 1, "regions": 68}),
}


def _check_model_options(
    model: str, options: dict[str, Any], data: str, data_opts: dict[str, Any]
) -> None:
    """Build the model's config from ``options`` on stand-in input dims, so that a bad value
    (``d_model=-3``) fails before the data are loaded; on a generated dataset, check first
    that the model takes its task."""
    from mmalign.implicit.registry import MODELS, config_class

    task, dims = _GENERATED.get(data, ("classification", _GENERATED["digits-av"][1]))
    if data in _GENERATED and task not in MODELS[model].tasks:
        takers = [n for n, s in MODELS.items() if task in s.tasks]
        raise ValueError(
            f"model {model!r} trains on {', '.join(MODELS[model].tasks)} data; {data} is a "
            f"{task} dataset. Models for it: {', '.join(takers)}."
        )
    if data == "digits-av":
        dims = {**dims, "audio": int(data_opts.get("n_mfcc", 13))}
    elif data not in _GENERATED:  # the data's streams are unknown until loaded: any two
        dims = dict(list(dims.items())[:2]) if "grounding" in MODELS[model].tasks else dims
    config_class(model)(input_dims=dims, n_outputs=4, **options)


def _train(args: argparse.Namespace) -> int:
    import sys

    from mmalign.data import check_data_spec, load_dataset
    from mmalign.train.presets import model_preset
    from mmalign.train.trainer import TrainConfig, check_trainer_options, fit

    # everything that can be checked without the data is checked before loading them
    train_opts, model_opts, data_opts = split_overrides(args.overrides, args.model, args.data)
    for flag, key in (
        ("devices", "devices"),
        ("num_nodes", "num_nodes"),
        ("strategy", "strategy"),
        ("accelerator", "accelerator"),
        ("precision", "precision"),
    ):
        v = getattr(args, flag)
        if v is not None:
            train_opts[key] = v
    if getattr(args, "default_objectives", None):  # mmalign pretrain
        train_opts.setdefault("objectives", args.default_objectives)
    if args.quiet or not sys.stdout.isatty():
        # a progress bar only makes sense on a terminal; otherwise one line per epoch
        train_opts.setdefault("progress_bar", False)
    _check_out_dir(args.out)
    check_data_spec(args.data, **data_opts)
    config = TrainConfig(model=args.model, **{k: v for k, v in train_opts.items() if k != "model"})
    # what fit will train with: the dataset's recipe and the model's preset (from the registry)
    name = _dataset_name(args.data)
    if name == "digits-av":  # its label may have presets of its own (as fit looks them up)
        from mmalign.data.digits_av import DigitsAVConfig

        name += "/" + str(data_opts.get("label", DigitsAVConfig.label))
    resolved = config.resolved(name)
    options = {**(model_preset(config.model, name) if config.presets else {}), **model_opts}
    _check_model_options(config.model, options, args.data, data_opts)
    if config.init_from is not None:
        from mmalign.train.trainer import read_checkpoint

        read_checkpoint(config.init_from)  # a missing or foreign file fails before the data load
    _check_resume_early(args, resolved, options, data_opts)
    check_trainer_options(config)

    dataset = load_dataset(args.data, **data_opts)
    result = fit(dataset, config, model_options=model_opts, out_dir=args.out, resume=args.resume)
    if result.test is None:  # another process of a multi-process (DDP) run: rank 0 reports
        return 0
    _print_result(result.test, header=f"{config.model} on {dataset.name}")
    print(f"best checkpoint: {_shown(result.best_checkpoint)}")
    print(f"metrics and plots written to {_shown(result.out_dir)}")
    return 0


def _check_resume_early(args: argparse.Namespace, config: Any, options: dict, data_opts) -> None:
    """Refuse a clash with the run in --out before loading the data: compare the parts of the
    run's record that are known without them (fit compares the rest)."""

    from mmalign.data import data_record
    from mmalign.train.trainer import _jsonable, _resume_decision, _train_record

    out = Path(args.out)
    if args.resume is False or not (out / "checkpoints" / "last.ckpt").is_file():
        if args.resume:
            _resume_decision(out, {}, True)  # raises: nothing to resume
        return
    data = data_record(args.data, **data_opts)
    partial = _jsonable(
        {
            "model": config.model,
            "model_options": options,
            "train": _train_record(config),
            "data": data,
        }
    )
    _resume_decision(out, partial, args.resume, announce=False)


def _evaluate(args: argparse.Namespace) -> int:
    from mmalign.train.trainer import evaluate, plot_attention_examples, write_metrics

    for pair in args.overrides:
        if not pair.startswith("data."):
            raise ValueError(
                f"mmalign evaluate accepts only data.KEY=VALUE overrides (the checkpoint fixes "
                f"the model and training options), got {pair!r}."
            )
    if len(args.checkpoint) > 1:
        return _evaluate_ensemble(args)
    checkpoint = args.checkpoint[0]
    out = Path(args.out) if args.out else _default_eval_dir(Path(checkpoint))
    _check_out_dir(str(out), "--out" if args.out else "the default --out")
    dataset = _checkpoint_dataset(args, checkpoint)
    result = evaluate(checkpoint, dataset, split=args.split)
    write_metrics(
        out / "metrics.json",
        result,
        extra={"checkpoint": str(checkpoint), "dataset": dataset.name, "data": dataset.source},
    )
    if result.examples:
        plot_attention_examples(result, out / "alignment")
    _print_result(result, header=f"{checkpoint} on {dataset.name}/{args.split}")
    print(f"metrics and plots written to {_shown(out)}")
    return 0


def _checkpoint_dataset(args: argparse.Namespace, checkpoint: str) -> Any:
    """The data to score ``checkpoint`` on: its own (every data option it was trained with)
    unless ``--data`` / ``--set data.KEY=VALUE`` say otherwise; prints which."""
    from mmalign.data import check_data_spec, load_dataset
    from mmalign.train.trainer import _RUN_KEY, read_checkpoint

    ckpt = read_checkpoint(checkpoint)
    trained = (ckpt.get(_RUN_KEY) or {}).get("data") or {}
    # data.* keys are the options of the data scored: --data, else the checkpoint's own
    _, _, data_opts = split_overrides(
        args.overrides, "mult", args.data or trained.get("data") or "digits-av"
    )
    spec, opts, note = _evaluation_data(args.data, data_opts, trained)
    check_data_spec(spec, **(opts if _has_options(spec) else data_opts))
    print(note, flush=True)
    dataset = load_dataset(spec, **opts)
    if trained.get("modalities"):
        dataset = dataset.select(trained["modalities"])
    return dataset


def _evaluate_ensemble(args: argparse.Namespace) -> int:
    """Several classifiers scored as one: each checkpoint on its own data (e.g. the seed of its
    run's augmentation), their log-posteriors averaged (:func:`mmalign.train.late_fusion`)."""
    import json

    import numpy as np

    from mmalign._utils import atomic_write
    from mmalign.train import late_fusion
    from mmalign.train.metrics import classification_metrics
    from mmalign.train.trainer import _jsonable, evaluate

    if not args.out:
        raise ValueError(
            f"{len(args.checkpoint)} checkpoints are scored as one ensemble: give --out, the "
            "folder for the ensemble's metrics.json."
        )
    out = Path(args.out)
    _check_out_dir(str(out))
    scores, members, first = {}, [], None
    for i, checkpoint in enumerate(args.checkpoint):
        dataset = _checkpoint_dataset(args, checkpoint)
        if dataset.task != "classification":
            raise ValueError(
                f"an ensemble averages the classes' log-posteriors of classifiers; {checkpoint} "
                f"was trained on a {dataset.task} task. Evaluate it on its own."
            )
        split = dataset[args.split]
        if first is None:
            first = split
        elif list(split.ids) != list(first.ids) or not np.array_equal(split.labels, first.labels):
            raise ValueError(
                f"{checkpoint} is scored on other {args.split} samples than "
                f"{args.checkpoint[0]}; an ensemble's members must be runs on the same data."
            )
        result = evaluate(checkpoint, dataset, split=args.split, n_examples=0)
        scores[str(i)] = result.scores
        members.append({"checkpoint": str(checkpoint), "metrics": result.metrics})
        print(f"  member {i + 1}: {checkpoint}: accuracy {result.metrics['accuracy']:.4f}")
    fused = late_fusion(scores, {k: 1 / len(scores) for k in scores})
    metrics = classification_metrics(fused.argmax(1), first.labels).to_dict()
    doc = {
        "split": args.split,
        "metrics": metrics,
        "fusion": "equal-weight mean of the members' log-posteriors (mmalign.train.late_fusion)",
        "members": members,
    }
    with atomic_write(out / "metrics.json") as fh:
        json.dump(_jsonable(doc), fh, indent=2)
        fh.write("\n")
    print(f"ensemble of {len(members)} checkpoints on {args.split}:")
    for k, v in metrics.items():
        print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")
    print(f"metrics written to {_shown(out / 'metrics.json')}")
    return 0


def _default_eval_dir(checkpoint: Path) -> Path:
    """RUN/evaluation for RUN/checkpoints/X.ckpt; else an ``evaluation`` folder beside X.ckpt
    (never above the folder the checkpoint is in)."""
    folder = checkpoint.resolve().parent
    return (folder.parent if folder.name == "checkpoints" else folder) / "evaluation"


def _shown(path: str | Path) -> str:
    """``path`` relative to the working folder when it is inside it (as the user typed it)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def _has_options(spec: str) -> bool:
    """digits-av and the corpora take options; a pickle file does not."""
    from mmalign.data._load import _corpus

    return spec in _GENERATED or _corpus(spec) is not None


def _evaluation_data(
    spec: str | None, data_opts: dict[str, Any], trained: dict[str, Any]
) -> tuple[str, dict[str, Any], str]:
    """(data spec, options, a line saying which data) for ``evaluate``: the checkpoint's own
    data unless ``--data`` names other data; ``data.*`` options change single fields."""
    from mmalign.data import data_record
    from mmalign.data._load import _corpus

    source = trained.get("data")
    if spec is None and source is None:
        raise ValueError(
            "the checkpoint does not record its training data (an older mmalign); pass --data "
            "(digits-av with the same --set data.KEY=VALUE options as in training, or the pickle)."
        )
    same = spec is None or spec == source
    if not same and source and _has_options(spec) and _has_options(source):
        same = data_record(spec)["data"] == source  # a corpus folder named another way
    elif not same and source and not _has_options(spec):
        same = Path(spec).resolve() == Path(source)
    if same:
        spec = source
        if not _has_options(spec):
            if not Path(spec).is_file():
                raise FileNotFoundError(
                    f"the checkpoint was trained on {spec!r}, which no longer exists; pass "
                    "--data FILE (the same data, moved)."
                )
            return spec, {}, f"data: {spec}, as in training"
        corpus = _corpus(spec)
        if corpus and not Path(corpus[1]).is_dir():
            raise FileNotFoundError(
                f"the checkpoint was trained on {spec!r}, a folder that no longer exists; pass "
                f"--data {corpus[0]}:FOLDER (the same corpus, moved)."
            )
        name = corpus[0] if corpus else spec
        recorded = trained.get("options") or {}
        if corpus:  # an option missing from the record had the loader's default, not the recipe's
            from mmalign.data._load import corpus_loader_defaults

            recorded = {**corpus_loader_defaults(corpus[0]), **recorded}
        saved = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items()}
        changed = {k: v for k, v in data_opts.items() if saved.get(k) != v}
        opts = {**saved, **data_opts}
        if changed:
            what = ", ".join(
                f"data.{k}={v!r} (trained with {saved.get(k)!r})" for k, v in changed.items()
            )
            return spec, opts, f"data: {name} with the training options, except {what}"
        return spec, opts, f"data: {name} with the options it was trained on"
    note = f"data: {spec} (the checkpoint was trained on {source or 'other data'})"
    return spec, data_opts, note


def _print_result(result: Any, header: str) -> None:
    print(header)
    for k, v in result.metrics.items():
        print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")
    for k, v in result.alignment.items():
        line = (
            f"  alignment {k}: heads averaged peak {v['peak_accuracy']:.3f}, mass {v['mass']:.3f}"
        )
        sel = result.selected_heads.get(k)
        if sel:
            line += (
                f"; layer {sel['layer']} head {sel['head']} (chosen on valid) peak "
                f"{sel['peak_accuracy']:.3f}, mass {sel['mass']:.3f}"
            )
        print(line)
