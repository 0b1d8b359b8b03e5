"""``mmalign train`` and ``mmalign evaluate``."""

from __future__ import annotations

import argparse
from typing import Any

_EPILOG = """\
--set KEY=VALUE sets a training option (model, lr, batch_size, max_epochs, patience, seed, ...),
a model option (model.KEY or any field of the model's config, e.g. d_model=32) or a digits-av
option (data.KEY, e.g. data.n_train=500). Unknown keys are errors. On digits-av the defaults are
small models and lr 3e-3 with 200 warm-up steps and a cosine decay (lr_schedule=cosine); MulT's own
schedule is --set lr=1e-3 --set lr_schedule=plateau.
"""


def register(subparsers: Any) -> None:
    from mmalign.implicit.registry import MODEL_NAMES, MODELS

    p = subparsers.add_parser(
        "train",
        help=f"train a model ({', '.join(MODEL_NAMES)}) on a dataset",
        description="Train a model with PyTorch Lightning; write the best checkpoint, "
        "metrics.json and attention plots into --out.",
        epilog=_EPILOG,
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
        help="'digits-av' or a MulT / MMSA pickle file (default digits-av)",
    )
    p.add_argument("--out", default="mmalign-run", help="output folder (default ./mmalign-run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--devices", default=None, help="Lightning devices (e.g. 2, or 'auto')")
    p.add_argument("--num-nodes", type=int, default=None, help="number of nodes (DDP)")
    p.add_argument("--strategy", default=None, help="Lightning strategy, e.g. ddp")
    p.add_argument("--accelerator", default=None, help="cpu, gpu or auto")
    p.add_argument("--precision", default=None, help="e.g. 32-true, bf16-mixed (default auto)")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if last.ckpt exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    e = subparsers.add_parser(
        "evaluate",
        help="score a checkpoint of `mmalign train` (metrics and attention alignment)",
        description="Evaluate a checkpoint; write metrics.json and attention plots into --out.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("checkpoint", help="a .ckpt file written by `mmalign train`")
    e.add_argument("--data", default="digits-av", help="'digits-av' or a pickle file")
    e.add_argument("--split", default="test", help="train, valid or test (default test)")
    e.add_argument("--out", default=None, help="output folder (default: beside the checkpoint)")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    e.set_defaults(func=_evaluate)


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


def split_overrides(pairs: list[str], model: str) -> tuple[dict, dict, dict]:
    """``KEY=VALUE`` strings -> (train options, model options, data options).

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
    data_keys = {f.name for f in dataclasses.fields(DigitsAVConfig)}
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
                f"{model} options: {', '.join(sorted(model_keys))}; digits-av options: "
                f"data.{', data.'.join(sorted(data_keys))}."
            )
        if isinstance(val, list):
            val = tuple(val)
        dest[name] = val
    return train, mopt, data


def _train(args: argparse.Namespace) -> int:
    from mmalign.data import load_dataset
    from mmalign.train.trainer import TrainConfig, fit

    train_opts, model_opts, data_opts = split_overrides(args.overrides, args.model)
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
    if args.quiet:
        train_opts["progress_bar"] = False
    dataset = load_dataset(args.data, **data_opts)
    config = TrainConfig(model=args.model, **{k: v for k, v in train_opts.items() if k != "model"})
    # fit applies the dataset's recipe and the model's preset (from the model registry)
    result = fit(
        dataset, config, model_options=model_opts, out_dir=args.out, resume=not args.no_resume
    )
    _print_result(result.test, header=f"{config.model} on {dataset.name}")
    print(f"best checkpoint: {result.best_checkpoint}")
    print(f"metrics and plots written to {result.out_dir}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mmalign.data import load_dataset
    from mmalign.train.trainer import evaluate, plot_attention_examples, write_metrics

    for pair in args.overrides:
        if not pair.startswith("data."):
            raise ValueError(
                f"mmalign evaluate accepts only data.KEY=VALUE overrides, got {pair!r}."
            )
    _, _, data_opts = split_overrides(args.overrides, "mult")
    dataset = load_dataset(args.data, **data_opts)
    result = evaluate(args.checkpoint, dataset, split=args.split)
    out = (
        Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "evaluation"
    )
    write_metrics(
        out / "metrics.json",
        result,
        extra={"checkpoint": str(args.checkpoint), "dataset": dataset.name},
    )
    if result.examples:
        plot_attention_examples(result, out / "alignment")
    _print_result(result, header=f"{args.checkpoint} on {dataset.name}/{args.split}")
    print(f"metrics and plots written to {out}")
    return 0


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
