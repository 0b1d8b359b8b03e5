"""Benchmark: the implicit models on two real corpora recorded in sync (issue 13).

UTD-MHAD inertial + skeleton (cross-subject: odd subjects train, even test, validation =
trial 4 of the training subjects) and AVLetters audio + video (speaker-independent: test
Kate + Stephen, validation Nicola + Bill). Every model takes >= 2 streams, so a single-modality
control is the same model with the other stream replaced by one blank (all-zero, i.e. mean)
frame: it trains and runs exactly as the full model but sees one modality.

The cross-modal attention of every two-stream run is read back as an explicit alignment
(mean over layers and heads, argmax per target frame) and scored against the true synchrony:
a peak counts when it lies within one frame of the slower stream of the target frame's time
(:func:`mmalign.data.sync_intervals`).

Run (each run appends to ``runs/benchmarks/real/results.json``; ``--table`` prints them)::

    .venv/bin/python benchmarks/real_train.py --corpus utd-mhad:/data/utd-mhad/data \\
        --models mult --modalities both,inertial,skeleton --seeds 0 --epochs 40
    .venv/bin/python benchmarks/real_train.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

OUT = Path("runs/benchmarks/real")
#: Small models that train in minutes on one CPU thread.
MODEL_OPTIONS = {
    "mult": {"d_model": 32, "n_heads": 4, "n_layers": 2, "n_mem_layers": 1, "embed_dropout": 0.1,
             "attn_dropout": 0.0},
    "early-fusion": {"d_model": 32, "n_heads": 4, "n_layers": 2},
    "coattention": {"d_model": 32, "n_heads": 4, "n_self_layers": 1, "n_coattn_layers": 2},
    "lxmert": {"d_model": 32, "n_heads": 4, "n_self_layers": 1, "n_cross_layers": 2},
    "mtag": {"d_model": 32, "n_heads": 4, "n_layers": 2},
}  # fmt: skip


def blank(ds, keep: str):
    """``ds`` with every modality but ``keep`` replaced by one all-zero frame per sample."""
    from mmalign.data import MultimodalDataset, MultimodalSplit

    splits = {}
    for name, s in ds.splits.items():
        feats, lens = {}, {}
        for m, x in s.features.items():
            if m == keep:
                feats[m], lens[m] = x, s.lengths[m]
            else:
                feats[m] = np.zeros((len(s), 1, x.shape[2]), np.float32)
                lens[m] = np.ones(len(s), np.int64)
        extras = {k: v for k, v in s.extras.items() if k != "times"}
        splits[name] = MultimodalSplit(feats, lens, s.labels, s.ids, extras)
    return MultimodalDataset(splits, ds.task, ds.n_outputs, ds.name)


def augment(ds, copies: int, seed: int):
    """``ds`` with ``copies`` jittered copies of every training sample: one random time
    stretch (0.8-1.25) and crop (the middle 85-100 %) applied to all streams alike, so the
    streams stay in sync, then per-feature gains (0.9-1.1) and noise (0.1 standard deviations).
    Validation and test are untouched."""
    from mmalign.data import MultimodalDataset, MultimodalSplit, frame_times

    if copies == 0:
        return ds
    rng = np.random.default_rng(seed)
    tr = ds["train"]
    seqs = {m: [] for m in tr.modalities}
    times = {m: [] for m in tr.modalities}
    labels, ids = [], []
    for i in range(len(tr)):
        for c in range(copies + 1):
            stretch, keep = rng.uniform(0.8, 1.25), rng.uniform(0.85, 1.0)
            start = rng.uniform(0, 1 - keep)
            for m in tr.modalities:
                x = tr.features[m][i, : tr.lengths[m][i]]
                if c == 0:
                    y = x
                else:
                    n = max(2, int(round(len(x) * keep * stretch)))
                    src = (start + keep * (np.arange(n) + 0.5) / n) * len(x) - 0.5
                    idx = np.arange(len(x))
                    y = np.stack([np.interp(src, idx, x[:, k]) for k in range(x.shape[1])], 1)
                    y = y * rng.uniform(0.9, 1.1, x.shape[1]) + 0.1 * rng.normal(size=y.shape)
                seqs[m].append(y.astype(np.float32))
                times[m].append(frame_times(len(y), 1.0))
            labels.append(tr.labels[i])
            ids.append(tr.ids[i] if c == 0 else f"{tr.ids[i]}~{c}")
    from mmalign.data._recordings import pad_sequences

    feats, lens = {}, {}
    for m in tr.modalities:
        feats[m], lens[m] = pad_sequences(seqs[m])
    splits = dict(ds.splits)
    splits["train"] = MultimodalSplit(feats, lens, np.array(labels), ids, {"times": times})
    return MultimodalDataset(splits, ds.task, ds.n_outputs, ds.name)


def attention_scores(checkpoint, ds, out_png: Path | None, caption: str) -> dict:
    """Peak accuracy (and mass) of every cross-modal attention map against the synchrony."""
    import torch

    from mmalign.data import sync_intervals
    from mmalign.implicit import alignment_accuracy, attention_alignment
    from mmalign.train.module import MultimodalModule, collate

    module = MultimodalModule.load_from_checkpoint(str(checkpoint), map_location="cpu")
    model = module.model.eval()
    s = ds["test"]
    batcher = collate(s)
    sums: dict[str, list[float]] = {}
    example = {}
    truth = {}
    with torch.no_grad():
        for start in range(0, len(s), 64):
            idx = list(range(start, min(start + 64, len(s))))
            b = batcher(idx)
            out = model(b["inputs"], b["lengths"], return_attention=True)
            for (t, src), maps in out.attentions.items():
                if t == src or not maps:
                    continue
                key = f"{t}<-{src}"
                if key not in truth:
                    truth[key] = sync_intervals(s, t, src)
                ti = [truth[key][i] for i in idx]
                al = attention_alignment(out, target=t, source=src, layers="all")
                sc = alignment_accuracy(al, ti, lengths=[len(x) for x in ti])
                acc = sums.setdefault(key, [0.0, 0.0, 0.0])
                acc[0] += sc.peak_accuracy * sc.n_scored
                acc[1] += sc.mass * sc.n_scored
                acc[2] += sc.n_scored
                if key not in example:
                    lt, ls = int(b["lengths"][t][0]), int(b["lengths"][src][0])
                    example[key] = (al.soft[0, :lt, :ls].numpy(), ti[0], s.ids[idx[0]])
    scores = {k: {"peak_accuracy": v[0] / v[2], "mass": v[1] / v[2]} for k, v in sums.items()}
    if out_png is not None and example:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(example), figsize=(4.2 * len(example), 3.6))
        for ax, (key, (soft, ti, sid)) in zip(np.atleast_1d(axes), example.items()):
            ax.imshow(soft, aspect="auto", origin="lower", cmap="viridis")
            rows = np.arange(len(ti))
            ax.plot(ti[:, 0] - 0.5, rows, "w--", lw=0.8)
            ax.plot(ti[:, 1] - 0.5, rows, "w--", lw=0.8, label="true sync +-1 slow frame")
            t, src = key.split("<-")
            ax.set(xlabel=f"{src} frame", ylabel=f"{t} frame",
                   title=f"{key} ({sid}): peak {scores[key]['peak_accuracy']:.0%}")  # fmt: skip
            ax.legend(loc="lower right", fontsize=7)
        fig.suptitle(caption, fontsize=9)
        fig.tight_layout()
        out_png.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_png.with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, out_png)
        plt.close(fig)
    return scores


def run(args) -> None:
    import torch

    from mmalign.data import load_dataset
    from mmalign.train import TrainConfig, fit

    torch.set_num_threads(args.threads)
    ds = load_dataset(args.corpus)
    name = ds.name
    results_path = OUT / "results.json"
    rows = json.loads(results_path.read_text()) if results_path.is_file() else []
    for seed in [int(x) for x in args.seeds.split(",")]:
        for model in args.models.split(","):
            for mods in args.modalities.split(","):
                data = augment(ds, args.augment, seed)
                data = data if mods == "both" else blank(data, mods)
                label = "+".join(ds.modalities) if mods == "both" else mods
                aug = f"-aug{args.augment}" if args.augment else ""
                tag = f"{name}/{model}{aug}-{label}-s{seed}"
                cfg = TrainConfig(
                    model=model,
                    max_epochs=args.epochs,
                    patience=args.patience,
                    lr=args.lr,
                    lr_schedule="cosine",
                    warmup_steps=args.warmup,
                    batch_size=args.batch_size,
                    progress_bar=False,
                    seed=seed,
                    threads=args.threads,
                    n_plots=0,
                )
                t0 = time.perf_counter()
                res = fit(
                    data,
                    cfg,
                    model_options=MODEL_OPTIONS[model],
                    out_dir=OUT / "runs" / tag,
                    resume=False,
                )
                wall = time.perf_counter() - t0
                split_desc = {
                    "utd-mhad": "cross-subject (train s1,3,5; valid s7; test s2,4,6,8)",
                    "avletters": "speaker-independent (test Kate, Stephen; valid Nicola, Bill)",
                }[name]
                align = {}
                if mods == "both":
                    png = OUT / "figures" / f"{name}-{model}{aug}-s{seed}.png"
                    align = attention_scores(
                        res.best_checkpoint,
                        ds,
                        png,
                        f"{model} on {name}, test split {split_desc}, seed {seed}",
                    )
                row = {
                    "corpus": name,
                    "model": model + (f" (augment x{args.augment})" if args.augment else ""),
                    "modalities": label,
                    "seed": seed,
                    "accuracy": res.test.metrics["accuracy"],
                    "epochs": res.epochs,
                    "best_val": max(h["val_score"] for h in res.history) if res.history else None,
                    "split": split_desc,
                    "alignment": align,
                    "parameters": res.n_parameters,
                    "wall_s": wall,
                    "options": {
                        "lr": args.lr,
                        "batch_size": args.batch_size,
                        **MODEL_OPTIONS[model],
                    },
                }
                rows = [r for r in rows if not _same(r, row)] + [row]
                OUT.mkdir(parents=True, exist_ok=True)
                tmp = results_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(rows, indent=1))
                os.replace(tmp, results_path)
                al = ", ".join(f"{k} {v['peak_accuracy']:.1%}" for k, v in align.items())
                print(
                    f"done {tag}: test acc {row['accuracy']:.1%} after {res.epochs} epochs "
                    f"in {wall:.0f} s {al}",
                    flush=True,
                )


def _same(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] for k in ("corpus", "model", "modalities", "seed"))


def table() -> None:
    rows = json.loads((OUT / "results.json").read_text())
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r["corpus"], r["model"], r["modalities"]), []).append(r)
    print(
        "| corpus | model | modalities | test accuracy | seeds | epochs | attention peak within 1 slow frame |"
    )
    print("|---|---|---|---|---|---|---|")
    for (corpus, model, mods), rs in sorted(groups.items()):
        acc = np.array([r["accuracy"] for r in rs])
        accs = f"{acc.mean():.1%}" + (f" ± {acc.std():.1%}" if len(acc) > 1 else "")
        al = {}
        for r in rs:
            for k, v in r["alignment"].items():
                al.setdefault(k, []).append(v["peak_accuracy"])
        als = ", ".join(f"{k} {np.mean(v):.0%}" for k, v in al.items()) or "-"
        print(
            f"| {corpus} | {model} | {mods} | {accs} | {','.join(str(r['seed']) for r in rs)} "
            f"| {','.join(str(r['epochs']) for r in rs)} | {als} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", help="avletters:PATH or utd-mhad:PATH")
    ap.add_argument("--models", default="mult")
    ap.add_argument("--modalities", default="both", help="both and/or single modality names")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--augment", type=int, default=0, help="jittered copies of each training sample"
    )
    ap.add_argument("--table", action="store_true", help="print the table of results.json")
    args = ap.parse_args()
    if args.table:
        table()
    elif not args.corpus:
        ap.error("--corpus avletters:PATH or utd-mhad:PATH is required (or --table)")
    else:
        run(args)


if __name__ == "__main__":
    main()
