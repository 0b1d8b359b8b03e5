"""Benchmark: every implicit model on digits-av's two alignment labels, with controls.

Labels: ``text_vision`` (the ink of the emphasized digit's image; a query token closes the
text) and ``ink_pair`` (the inks of the two digits a two-word text names; no query token;
``--labels ink_claims`` adds the harder count of true per-word ink claims). Both need the text
paired with the video: the controls (MulT, or ``--control-model``, without the text or without
the video) must stay near chance. A control puts the audio in place of the stream it drops, at
``--control-audio-fps`` (25 frames/s by default, against 100 for ``--audio-fps``: neither label
depends on the audio, and MulT's cost grows with the audio's length; a control row at 100
frames/s took 957-1,137 s of the 62-minute whole run).

Targets (issue 11): every model >= 90 % test accuracy on both labels (MulT >= 95 % on
``text_vision``); the text<-video head chosen on validation puts its peak inside the true
interval for >= 70 % of the words on test; three seeds for the headline rows; the wall time
of the whole run (aim: under 60 minutes on 2 cores at the default size).

Every run is ``mmalign.train.fit(dataset, TrainConfig(model=...))``: the digits-av recipe and
each model's preset come from the library (the model registry), as with ``mmalign train``.

Each model trains with its digits-av recipe from the registry (epochs, objectives beside the
label, pre-training; ``mmalign.train.presets.train_preset``). ``--epochs N`` and
``--pretrain-epochs N`` override it for every run: pre-training is N epochs on the same training
inputs without their labels (``objectives=("matching", "masked")``: cross-modal matching and
masked multimodal modelling, as ``mmalign pretrain``), then the label from those weights; its
wall time counts in the row's. ``--jobs N`` trains N rows at once, one process each (with
``--threads 1`` on N cores).

Run: ``python benchmarks/train.py [--models mult,lxmert] [--labels text_vision] [--seeds 0,1,2]
[--epochs N] [--pretrain-epochs N] [--train-set KEY=VALUE] [--n-train N] [--modalities text,vision]
[--control-audio-fps N] [--quick]``; ``--train-set`` sets a training option over every recipe
(``weight_decay=0``: the ``ink_pair`` recipe as it was before weight decay). Prints a Markdown
table and writes ``runs/benchmarks/train/train.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path


def _print_done(r: dict) -> None:
    print(
        f"done {r['label']}-{r['model']}-{r['modalities']}-s{r['seed']}: acc "
        f"{r['accuracy']:.3f} in {r['wall_s']:.0f} s",
        flush=True,
    )


def _run_row(job: dict) -> dict:
    """Train and test one row (one model, label, streams and seed); in its own process with
    ``--jobs``."""
    import torch

    from mmalign.data import load_digits_av
    from mmalign.train import TrainConfig, fit
    from mmalign.train.presets import preset_name

    torch.set_num_threads(job["threads"])
    label, model, run_mods, seed = job["label"], job["model"], job["run_mods"], job["seed"]
    data = load_digits_av(label=label, audio_fps=job["audio_fps"], **job["size"]).select(run_mods)
    epochs, pretrain_epochs, extra, out = (
        job["epochs"],
        job["pretrain"],
        job["extra"],
        Path(job["out"]),
    )
    # epochs and pre-training epochs: the recipe's (the model registry's) unless given; the
    # whole schedule runs (no early stop)
    cfg = TrainConfig(
        model=model,
        max_epochs=epochs,
        pretrain_epochs=pretrain_epochs,
        progress_bar=False,
        seed=seed,
        **job.get("train_set", {}),
    ).resolved(preset_name(data))
    if job["quick"] and cfg.pretrain_epochs:
        cfg = dataclasses.replace(cfg, pretrain_epochs=1)
    cfg = dataclasses.replace(cfg, patience=cfg.max_epochs)
    tag = f"{label}-{model}-{'+'.join(run_mods)}-s{seed}"
    t0 = time.perf_counter()
    res = fit(data, cfg, model_options=extra, out_dir=out / "runs" / tag, resume=False)
    pre = None
    if cfg.pretrain_epochs and "label" in cfg.objectives:
        pre = json.loads((out / "runs" / tag / "pretrain" / "metrics.json").read_text())
    head = res.test.selected_heads.get("text<-vision")
    return {
        "label": label,
        "model": model,
        "modalities": "+".join(run_mods),
        "audio_fps": job["audio_fps"] if "audio" in run_mods else None,
        "seed": seed,
        "accuracy": res.test.metrics["accuracy"],
        "chance": job["chance"],
        "text<-vision_head": head,
        "text<-vision_all_heads": res.test.alignment.get("text<-vision", {}).get("peak_accuracy"),
        "pretrain_epochs": cfg.pretrain_epochs if pre is not None else 0,
        "objectives": list(cfg.objectives),
        "pretrain_metrics": pre["metrics"] if pre is not None else None,
        "pretrain_text<-vision_head": (
            pre.get("alignment_selected_head", {}).get("text<-vision") if pre is not None else None
        ),
        "parameters": res.n_parameters,
        "epochs": res.epochs,
        "n_train": len(data["train"]),
        "train_samples_per_s": res.train_samples_per_s,
        "wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    from mmalign.implicit.registry import MODELS

    # every model of the registry that trains on digits-av's task
    names = [name for name, spec in MODELS.items() if "classification" in spec.tasks]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(names))
    ap.add_argument("--labels", default="text_vision,ink_pair")
    ap.add_argument(
        "--controls",
        default="text,vision",
        help="modalities dropped one at a time for the control runs ('' for none)",
    )
    ap.add_argument("--control-model", default="mult")
    ap.add_argument("--seeds", default="0", help="e.g. 0,1,2 (mean and spread per row)")
    ap.add_argument(
        "--epochs", type=int, default=None, help="default: each model's digits-av recipe"
    )
    ap.add_argument(
        "--pretrain-epochs",
        type=int,
        default=None,
        help="pre-train every model this many epochs (matching + masked modelling) first; "
        "default: each model's digits-av recipe (0 = none)",
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads per process")
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="rows trained at once, one process each (e.g. --jobs 2 --threads 1 on 2 cores)",
    )
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-valid", type=int, default=300)
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument(
        "--audio-fps", type=int, default=100, help="digits-av audio frame rate (the demo uses 50)"
    )
    ap.add_argument(
        "--control-audio-fps",
        type=int,
        default=25,
        help="audio frame rate of the control runs, which put audio in place of the dropped "
        "stream (the labels do not depend on the audio, so its detail buys nothing there; "
        "25 frames/s gives MulT a 4x shorter audio stream than 100)",
    )
    ap.add_argument(
        "--modalities",
        default="text,audio,vision",
        help="streams given to the models (the labels need text and vision)",
    )
    ap.add_argument("--quick", action="store_true", help="tiny data, 1 epoch (a smoke run)")
    ap.add_argument(
        "--set",
        dest="model_set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model option for every run on top of its digits-av preset, e.g. norm_first=true",
    )
    ap.add_argument(
        "--train-set",
        dest="train_set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="training option (a TrainConfig field) for every run over its recipe, e.g. "
        "objectives=label,matching,masked or head_init=default",
    )
    ap.add_argument("--out", default="runs/benchmarks/train")
    args = ap.parse_args()

    import torch

    from mmalign.data import load_digits_av
    from mmalign.train._cli import _parse_value

    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    size = dict(n_train=args.n_train, n_valid=args.n_valid, n_test=args.n_test)
    if args.quick:
        size = dict(n_train=64, n_valid=16, n_test=32)
    epochs = 1 if args.quick else args.epochs
    pretrain_epochs = args.pretrain_epochs
    if args.quick and pretrain_epochs:
        pretrain_epochs = 1
    seeds = [int(s) for s in args.seeds.split(",") if s]
    mods = tuple(m for m in args.modalities.split(",") if m)
    extra = {}
    for pair in args.model_set:
        key, sep, value = pair.partition("=")
        if not sep:
            ap.error(f"--set expects KEY=VALUE, got {pair!r}")
        extra[key] = _parse_value(value)
    train_set = {}
    for pair in args.train_set:
        key, sep, value = pair.partition("=")
        if not sep:
            ap.error(f"--train-set expects KEY=VALUE, got {pair!r}")
        from mmalign.train import TrainConfig

        fields = [f.name for f in dataclasses.fields(TrainConfig)]
        if key not in fields or key in ("model", "seed", "max_epochs", "pretrain_epochs"):
            ap.error(
                f"--train-set: {key!r} is not a training option here; use one of "
                f"{', '.join(f for f in fields if f not in ('model', 'seed', 'max_epochs', 'pretrain_epochs'))} "
                "(--epochs and --pretrain-epochs set the epochs)"
            )
        train_set[key] = value if key == "objectives" else _parse_value(value)
    out = Path(args.out)
    jobs = []
    chances = {}
    for label in [x for x in args.labels.split(",") if x]:
        full = load_digits_av(label=label, audio_fps=args.audio_fps, **size)
        ds = full.select(mods)
        chances[label] = max(float((ds["test"].labels == c).mean()) for c in range(ds.n_outputs))
        runs = [(m, mods) for m in args.models.split(",") if m]
        for dropped in [c for c in args.controls.split(",") if c]:
            # models take >= 2 streams: a control keeps the two streams other than `dropped`
            runs.append((args.control_model, tuple(m for m in full.modalities if m != dropped)))
        for model, run_mods in runs:
            control = run_mods != mods
            for seed in seeds[:1] if control else seeds:
                jobs.append(
                    dict(
                        label=label,
                        model=model,
                        run_mods=run_mods,
                        seed=seed,
                        pretrain=pretrain_epochs,
                        quick=args.quick,
                        epochs=epochs,
                        size=size,
                        audio_fps=args.control_audio_fps if control else args.audio_fps,
                        threads=args.threads,
                        extra=extra,
                        train_set=train_set,
                        out=str(out),
                        chance=chances[label],
                    )
                )
    rows = []
    if args.jobs > 1:
        # one process per row, ``args.threads`` torch threads each (rows are independent;
        # the cached dataset is read by every process)
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_run_row, job) for job in jobs]
            for f in as_completed(futures):
                rows.append(f.result())
                _print_done(rows[-1])
        # back in the order of the jobs (the table groups them)
        place = {
            (j["label"], j["model"], "+".join(j["run_mods"]), j["seed"]): i
            for i, j in enumerate(jobs)
        }
        rows.sort(key=lambda r: place[(r["label"], r["model"], r["modalities"], r["seed"])])
    else:
        for job in jobs:
            rows.append(_run_row(job))
            _print_done(rows[-1])
    wall = time.perf_counter() - t_start
    print(
        f"\ndigits-av: {size['n_train']} / {size['n_valid']} / {size['n_test']} samples, audio "
        f"{args.audio_fps} frames/s (controls {args.control_audio_fps}), streams "
        f"{'+'.join(mods)}, "
        + (f"{epochs} epochs" if epochs else "epochs of each model's recipe")
        + (f" after {pretrain_epochs} of pre-training" if pretrain_epochs else "")
        + f", seeds {seeds}, "
        f"{args.threads} threads; whole run {wall / 60:.1f} min\n"
    )
    print(
        "| label | model | streams | test acc (mean ± sd over seeds; per seed) | text<-video "
        "chosen head (per seed) | params | epochs (+ pre-training) | objectives "
        "| train samples/s | wall s (per seed) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["label"], r["model"], r["modalities"]), []).append(r)
    for (label, model, streams), rs in groups.items():
        accs = [r["accuracy"] for r in rs]
        acc = f"{statistics.mean(accs):.1%}"
        if len(accs) > 1:
            acc += f" ± {statistics.stdev(accs):.1%} ({', '.join(f'{a:.1%}' for a in accs)})"
        heads = [r["text<-vision_head"]["peak_accuracy"] for r in rs if r["text<-vision_head"]]
        head = f"{statistics.mean(heads):.1%}" if heads else "-"
        if len(heads) > 1:
            head += f" ({', '.join(f'{h:.1%}' for h in heads)})"
        pre = f" + {rs[0]['pretrain_epochs']}" if rs[0]["pretrain_epochs"] else ""
        if rs[0].get("audio_fps"):
            streams += f" (audio {rs[0]['audio_fps']}/s)"
        print(
            f"| {label} | {model} | {streams} | {acc} | {head} | {rs[0]['parameters']:,} | "
            f"{rs[0]['epochs']}{pre} | {','.join(rs[0]['objectives'])} | "
            f"{statistics.mean(r['train_samples_per_s'] for r in rs):.0f} | "
            f"{statistics.mean(r['wall_s'] for r in rs):.0f} |"
        )
    chances = sorted({f"{r['label']} {r['chance']:.1%}" for r in rows})
    print(f"\nchance (majority class on test): {', '.join(chances)}")
    print(f"wall time: {wall:.0f} s")
    out.mkdir(parents=True, exist_ok=True)
    from mmalign._utils import atomic_write

    with atomic_write(out / "train.json") as fh:
        json.dump({"args": vars(args), "wall_s": wall, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
