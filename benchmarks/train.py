"""Benchmark: the five models on digits-av at its default size.

Targets (issue 4): MulT >= 95 % test accuracy on the alignment-dependent label while MulT
given only one of the two streams that label needs (every model takes >= 2 modalities, so the
controls drop the text or the video) stays near chance; MulT's cross-modal attention alignment accuracy >= 80 %
against the ground truth; a table of accuracy, alignment accuracy, parameters and training
samples/s for every model.

Run: ``.venv/bin/python benchmarks/train.py [--models mult,lxmert] [--epochs N] [--quick]``.
Prints a Markdown table and writes ``runs/benchmarks/train/train.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mult,early-fusion,coattention,lxmert,mtag")
    ap.add_argument(
        "--controls",
        default="audio+vision,text+audio",
        help="MulT runs without one of the two streams the label needs (models take >= 2)",
    )
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--label", default="text_vision")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--audio-fps", type=int, default=100, help="digits-av audio frame rate (the demo uses 50)"
    )
    ap.add_argument("--quick", action="store_true", help="tiny data, 1 epoch (a smoke run)")
    ap.add_argument(
        "--resume", action="store_true", help="continue each run from its last.ckpt (more epochs)"
    )
    ap.add_argument(
        "--set",
        dest="model_set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model option for every run on top of the digits-av preset, e.g. norm_first=true",
    )
    ap.add_argument("--out", default="runs/benchmarks/train")
    args = ap.parse_args()

    import torch

    from mmalign.data import load_digits_av
    from mmalign.train import TrainConfig, fit
    from mmalign.train._cli import _parse_value
    from mmalign.train.presets import model_preset, train_preset

    torch.set_num_threads(args.threads)
    size = dict(n_train=64, n_valid=16, n_test=32) if args.quick else {}
    epochs = 1 if args.quick else args.epochs
    ds = load_digits_av(label=args.label, audio_fps=args.audio_fps, **size)
    chance = max(float((ds["test"].labels == c).mean()) for c in range(ds.n_outputs))
    out = Path(args.out)
    runs = [(m, tuple(ds.modalities)) for m in args.models.split(",") if m]
    runs += [("mult", tuple(c.split("+"))) for c in args.controls.split(",") if c]
    extra = {}
    for pair in args.model_set:
        key, sep, value = pair.partition("=")
        if not sep:
            ap.error(f"--set expects KEY=VALUE, got {pair!r}")
        extra[key] = _parse_value(value)
    rows = []
    for model, mods in runs:
        data = ds if len(mods) == len(ds.modalities) else ds.select(mods)
        cfg = TrainConfig(
            model=model,
            max_epochs=epochs,
            patience=epochs,
            progress_bar=False,
            seed=0,
            **train_preset("digits-av"),
        )
        tag = f"{model}-{'+'.join(mods)}"
        t0 = time.perf_counter()
        res = fit(
            data,
            cfg,
            model_options={**model_preset(model, "digits-av"), **extra},
            out_dir=out / "runs" / tag,
            resume=args.resume,
        )
        wall = time.perf_counter() - t0
        al = res.test.alignment
        best_pair = max(al, key=lambda k: al[k]["peak_accuracy"]) if al else None
        rows.append(
            {
                "model": model,
                "modalities": "+".join(mods),
                "accuracy": res.test.metrics["accuracy"],
                "alignment": {k: v["peak_accuracy"] for k, v in al.items()},
                "text<-vision": al.get("text<-vision", {}).get("peak_accuracy"),
                "text<-vision_head": res.test.selected_heads.get("text<-vision"),
                "best_pair": best_pair,
                "parameters": res.n_parameters,
                "train_samples_per_s": res.train_samples_per_s,
                "epochs": res.epochs,
                "wall_s": wall,
            }
        )
        print(f"done {tag}: acc {rows[-1]['accuracy']:.3f} in {wall:.0f} s", flush=True)
    print(
        f"\ndigits-av label {args.label!r}: {len(ds['train'])} train / {len(ds['test'])} test, "
        f"majority-class rate {chance:.1%}; {args.threads} threads\n"
    )
    print(
        "| model | modalities | test acc | text<-vision peak: head chosen on valid | all heads "
        "| best pair, all heads | params | train samples/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        tv = "-" if r["text<-vision"] is None else f"{r['text<-vision']:.1%}"
        head = r["text<-vision_head"]
        tvh = "-" if not head else f"{head['peak_accuracy']:.1%} (L{head['layer']} H{head['head']})"
        bp = (
            "-"
            if r["best_pair"] is None
            else f"{r['best_pair']} ({r['alignment'][r['best_pair']]:.1%})"
        )
        print(
            f"| {r['model']} | {r['modalities']} | {r['accuracy']:.1%} | {tvh} | {tv} | {bp} | "
            f"{r['parameters']:,} | {r['train_samples_per_s']:.0f} |"
        )
    full = "+".join(ds.modalities)
    mult = next((r for r in rows if r["model"] == "mult" and r["modalities"] == full), None)
    if mult:
        controls = [r["accuracy"] for r in rows if r["modalities"] != full]
        print(
            f"\ntargets: MulT accuracy {mult['accuracy']:.1%} (>= 95%), controls without text or video "
            f"{', '.join(f'{c:.1%}' for c in controls)} (chance {chance:.1%}), MulT text<-vision "
            f"alignment {(mult['text<-vision_head'] or {}).get('peak_accuracy', 0):.1%} for the "
            f"head chosen on validation, {mult['text<-vision'] or 0:.1%} over all heads (>= 80%)"
        )
    out.mkdir(parents=True, exist_ok=True)
    from mmalign._utils import atomic_write

    with atomic_write(out / "train.json") as fh:
        json.dump({"label": args.label, "chance": chance, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
