"""Leave-one-training-subject-out validation on UTD-MHAD, to choose a recipe change (issue 13).

With subject 7 as the only validation subject the fused models score 95-97 % on it and small
changes cannot be ranked. Here each fold trains on three of the four training subjects (1, 3,
5, 7) and validates on the fourth, for a fixed number of epochs, scoring the last checkpoint
(the protocol the test runs use). The test subjects are never scored. One line per fold is
appended to ``runs/benchmarks/real/cv.jsonl``; ``--table`` prints the mean per variant and seed.

Run (the recipe, then one change, on the two hardest folds)::

    .venv/bin/python benchmarks/real_cv.py --corpus utd-mhad:/data/utd-mhad/data \\
        --variant recipe --folds 3,5 --seeds 0,1
    .venv/bin/python benchmarks/real_cv.py --corpus utd-mhad:/data/utd-mhad/data \\
        --variant "kernel 3" --model-opt kernel_sizes=3 --folds 3,5 --seeds 0,1
    .venv/bin/python benchmarks/real_cv.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def _real_train():
    """benchmarks/real_train.py as a module, loaded by path (sys.path is left alone: this folder
    holds scripts named like packages, e.g. dtw.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_mmalign_real_train", Path(__file__).resolve().parent / "real_train.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_rt = _real_train()
_accuracy, _options, _slug, blank = _rt._accuracy, _rt._options, _rt._slug, _rt.blank

OUT = Path("runs/benchmarks/real")


def table(path: Path) -> None:
    """Mean validation accuracy per variant, model and seed, with every fold's."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    groups: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in rows:
        groups[(r["variant"], r["model"], r["modalities"], r["seed"])][r["fold"]] = r["accuracy"]
    print("| variant | model | modalities | seed | mean | per validation subject |")
    print("|---|---|---|---|---|---|")
    for (variant, model, mods, seed), folds in groups.items():
        per = ", ".join(f"s{f} {100 * folds[f]:.1f}" for f in sorted(folds))
        mean = 100 * float(np.mean(list(folds.values())))
        print(f"| {variant} | {model} | {mods} | {seed} | {mean:.1f} % | {per} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", help="utd-mhad:PATH")
    ap.add_argument("--model", default="coattention")
    ap.add_argument("--modalities", default="both", help="both, inertial or skeleton")
    ap.add_argument("--folds", default="1,3,5,7", help="validation subjects, one fold each")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variant", default="recipe")
    ap.add_argument("--data-opt", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--train-opt", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--table", action="store_true", help="print the table of cv.jsonl")
    args = ap.parse_args()
    path = OUT / "cv.jsonl"
    if args.table:
        table(path)
        return
    if not args.corpus or not args.corpus.startswith("utd-mhad:"):
        raise SystemExit("real_cv.py: error: --corpus utd-mhad:PATH is required.")
    import torch

    from mmalign.data import MultimodalDataset, load_dataset
    from mmalign.train import TrainConfig, evaluate, fit

    torch.set_num_threads(args.threads)
    data_opts = _options(args.data_opt, "--data-opt")
    model_opts = _options(args.model_opt, "--model-opt")
    train_opts = _options(args.train_opt, "--train-opt")
    folds = [int(x) for x in args.folds.split(",")]
    if not set(folds) <= {1, 3, 5, 7}:
        raise SystemExit(
            f"real_cv.py: error: --folds takes training subjects 1, 3, 5, 7; got {folds}."
        )
    for seed in [int(x) for x in args.seeds.split(",")]:
        for v in folds:
            opts = {"seed": seed, **data_opts, "valid_subjects": [v]}
            ds = load_dataset(args.corpus, **opts)
            data = ds if args.modalities == "both" else blank(ds, args.modalities)
            # without its test split: fit then scores the validation subject, never the test
            splits = {s: data[s] for s in ("train", "valid")}
            data = MultimodalDataset(splits, data.task, data.n_outputs, data.name,
                                     source=ds.source, augment=data.augment)  # fmt: skip
            cfg = TrainConfig(model=args.model, max_epochs=args.epochs, patience=args.epochs,
                              batch_size=args.batch_size, progress_bar=False, seed=seed,
                              threads=args.threads, n_plots=0, **train_opts)  # fmt: skip
            run_dir = (
                OUT / "cv" / f"{args.model}{_slug(args.variant)}-{args.modalities}-v{v}-s{seed}"
            )
            t0 = time.perf_counter()
            res = fit(data, cfg, model_options=model_opts, out_dir=run_dir, resume=False)
            scores = evaluate(res.last_checkpoint, data, split="valid").scores
            acc = _accuracy(scores, data["valid"].labels)
            row = {
                "variant": args.variant, "model": args.model, "modalities": args.modalities,
                "fold": v, "seed": seed, "accuracy": acc, "epochs": args.epochs,
                "wall_s": time.perf_counter() - t0, "data_options": ds.source["options"],
                "model_options": model_opts, "train_options": train_opts,
            }  # fmt: skip
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as f:  # one line per fold: a crash loses at most the fold
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
            print(f"done {args.variant} v{v} s{seed}: valid acc {acc:.1%}", flush=True)


if __name__ == "__main__":
    main()
