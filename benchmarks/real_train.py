"""Benchmark: the implicit models on two real corpora recorded in sync (issue 13).

UTD-MHAD inertial + skeleton (cross-subject: odd subjects train, even test, validation =
subject 7) and AVLetters audio + video (speaker-independent: test Kate + Stephen, validation
Nicola + Bill). The data and the models come with the library's recipe for each corpus:
:data:`mmalign.data.CORPUS_PRESETS` (e.g. both streams resampled to 32 frames and 4 jittered
copies of every training sequence on UTD-MHAD) and each model's registry preset for the corpus,
exactly what ``mmalign train --data NAME:PATH`` uses. ``--data-opt`` / ``--model-opt`` change
one thing for an ablation (the row's ``variant`` names it).

Every model takes >= 2 streams, so a single-modality control is the same model with the other
stream replaced by one blank (all-zero, i.e. mean) frame: it trains and runs exactly as the
full model but sees one modality.

The cross-modal attention of every two-stream run is read back as an explicit alignment
(mean over layers and heads, argmax per target frame) and scored against the true synchrony:
a peak counts when it lies within one frame of the slower stream of the target frame's time
(:func:`mmalign.data.sync_intervals`).

Run (each run appends to ``runs/benchmarks/real/results.json``; ``--table`` prints them)::

    .venv/bin/python benchmarks/real_train.py --corpus utd-mhad:/data/utd-mhad/data \\
        --models lxmert --modalities both,inertial,skeleton --seeds 0,1,2
    .venv/bin/python benchmarks/real_train.py --corpus utd-mhad:/data/utd-mhad/data \\
        --models lxmert --data-opt augment=0 --variant "no augmentation"
    .venv/bin/python benchmarks/real_train.py --corpus utd-mhad:/data/utd-mhad/data \\
        --baseline --modalities both,inertial,skeleton   # scikit-learn, the same data
    # the paper's protocol: all four odd subjects train, no validation split, a fixed number
    # of epochs (chosen on the subject-7 split), the last checkpoint scored
    .venv/bin/python benchmarks/real_train.py --corpus utd-mhad:/data/utd-mhad/data \\
        --models coattention --epochs 40 --data-opt valid_subjects=[] \\
        --variant "train s1,3,5,7, 40 epochs, last checkpoint"
    # augmentation drawn afresh every epoch; modality dropout (a TrainConfig field)
    .venv/bin/python benchmarks/real_train.py --corpus utd-mhad:/data/utd-mhad/data \\
        --data-opt augment='"online"' --epochs 200 --patience 40 --variant "online"
    .venv/bin/python benchmarks/real_train.py --corpus avletters:/data/avletters \\
        --train-opt modality_dropout=0.3 --variant "modality dropout 0.3"
    # decision-level fusion of the two single-stream runs (mmalign.train.late_fusion): stream
    # weights chosen on the validation speakers, then reused where there is no validation split
    .venv/bin/python benchmarks/real_train.py --corpus avletters:/data/avletters \\
        --late-fusion --epochs 40 --patience 40 --variant "40 epochs, last checkpoint"
    .venv/bin/python benchmarks/real_train.py --corpus avletters:/data/avletters \\
        --late-fusion --weights audio=0.7,video=0.3 --epochs 40 --data-opt valid_speakers=[] \\
        --seeds 0,1,2 --variant "train 8 speakers, 40 epochs, last checkpoint"
    # another video representation, the audio stream's logits reused from a run above
    .venv/bin/python benchmarks/real_train.py --corpus avletters:/data/avletters \\
        --late-fusion --epochs 40 --patience 40 --data-opt velocity=true \\
        --reuse "audio=40 epochs, last checkpoint" \\
        --variant "video velocity, 40 epochs, last checkpoint"
    .venv/bin/python benchmarks/real_train.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path("runs/benchmarks/real")
STREAMS = {"utd-mhad": ("inertial", "skeleton"), "avletters": ("audio", "video")}
SPLITS = {
    "utd-mhad": "cross-subject (train s1,3,5; valid s7; test s2,4,6,8)",
    "avletters": "speaker-independent (test Kate, Stephen; valid Nicola, Bill)",
}


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
    # the corpus's online augmentation jitters the kept stream and leaves the blank frame as is
    return MultimodalDataset(splits, ds.task, ds.n_outputs, ds.name, augment=ds.augment)


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
                acc = sums.setdefault(key, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
                acc[0] += sc.peak_accuracy * sc.n_scored
                acc[1] += sc.mass * sc.n_scored
                acc[2] += sc.n_scored
                # chance: a peak drawn uniformly over the source frames lands in the interval
                for i, iv in zip(idx, ti):
                    acc[3] += float(((iv[:, 1] - iv[:, 0]) / s.lengths[src][i]).sum())
                    acc[4] += len(iv)
                # does the peak move with time? correlation of the peak's source frame with the
                # target frame (1 for a path along the synchrony), and its spread in source frames
                for j in range(len(idx)):
                    lt, ls = int(b["lengths"][t][j]), int(b["lengths"][src][j])
                    peak = al.hard[j, :lt].numpy().astype(np.float64)
                    acc[5] += _corr(np.arange(lt), peak) if lt > 2 else 0.0
                    acc[6] += peak.std() / max(ls, 1)
                if key not in example:
                    lt, ls = int(b["lengths"][t][0]), int(b["lengths"][src][0])
                    example[key] = (al.soft[0, :lt, :ls].numpy(), ti[0], s.ids[idx[0]])
    scores = {
        k: {
            "peak_accuracy": v[0] / v[2],
            "mass": v[1] / v[2],
            "chance": v[3] / v[4],
            "peak_time_corr": v[5] / len(s),
            "peak_spread": v[6] / len(s),
        }
        for k, v in sums.items()
    }
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


def _options(pairs: list[str], flag: str) -> dict:
    """``["key=value", ...]`` -> dict; values read as JSON where they parse (``4``, ``0.3``,
    ``true``, ``null``, ``[1, 3]``), else kept as strings."""
    out = {}
    for pair in pairs:
        key, sep, val = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} {pair!r}: expected KEY=VALUE, e.g. {flag} augment=0.")
        try:
            out[key] = json.loads(val)
        except json.JSONDecodeError:
            out[key] = val
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation, 0 where either is constant."""
    sa, sb = a.std(), b.std()
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb)) if sa > 0 and sb > 0 else 0.0


def baseline(ds, mods: str, seed: int, c: float | None = None) -> dict:
    """scikit-learn's logistic regression on the flattened streams (each resampled to 32
    frames), the plain outside reference: C chosen on the validation split (or ``c``, chosen
    beforehand, for data without one), scored on test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from mmalign.data._recordings import resample

    keep = ds.modalities if mods == "both" else (mods,)
    at = (np.arange(32) + 0.5) / 32

    def flat(split):
        s = ds[split]
        rows = [
            np.concatenate(
                [resample(s.features[m][i, : s.lengths[m][i]], at).ravel() for m in keep]
            )
            for i in range(len(s))
        ]
        return np.array(rows), s.labels

    (xtr, ytr), (xte, yte) = flat("train"), flat("test")
    scaler = StandardScaler().fit(xtr)
    xtr, xte = scaler.transform(xtr), scaler.transform(xte)
    if "valid" not in ds.splits:
        if c is None:
            raise SystemExit("--baseline on data without a validation split: fix C, e.g. "
                             "--model-opt C=0.01 (chosen on the validation split beforehand)")  # fmt: skip
        clf = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(xtr, ytr)
        return {"accuracy": clf.score(xte, yte), "best_val": None, "C": c}
    xva, yva = flat("valid")
    xva = scaler.transform(xva)
    best = None
    for c in (0.01, 0.1, 1.0):
        clf = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(xtr, ytr)
        val = clf.score(xva, yva)
        if best is None or val > best[0]:
            best = (val, c, clf.score(xte, yte))
    return {"accuracy": best[2], "best_val": best[0], "C": best[1]}


def split_text(name: str, options: dict) -> str:
    """The split of a run in words (the default one, or without a validation split)."""
    if (
        name == "utd-mhad"
        and options.get("valid_subjects") == []
        and not options.get("valid_trials")
    ):
        return "cross-subject (train s1,3,5,7, no validation: fixed epochs; test s2,4,6,8)"
    if name == "avletters" and options.get("valid_speakers") == []:
        return "speaker-independent (test Kate, Stephen; 8 speakers train, no validation)"
    return SPLITS[name]


def run(args) -> None:
    import torch

    from mmalign.data import load_dataset
    from mmalign.train import TrainConfig, fit
    from mmalign.train.presets import model_preset

    torch.set_num_threads(args.threads)
    data_opts = _options(args.data_opt, "--data-opt")
    model_opts = _options(args.model_opt, "--model-opt")
    train_opts = _options(args.train_opt, "--train-opt")
    results_path = OUT / "results.json"
    ds = None
    for seed in [int(x) for x in args.seeds.split(",")]:
        # the augmentation is drawn with the run's seed too (unless --data-opt seed=... fixes it)
        if ds is None or ("seed" not in data_opts and ds.source["options"].get("augment")):
            ds = load_dataset(args.corpus, **{"seed": seed, **data_opts})
            # an unknown name would blank every stream (blank) and record a chance-level row
            unknown = [m for m in args.modalities.split(",") if m not in ("both", *ds.modalities)]
            if unknown:
                print(
                    f"real_train.py: error: --modalities takes 'both' or one of "
                    f"{', '.join(ds.modalities)}; got {', '.join(map(repr, unknown))}.",
                    file=sys.stderr,
                )
                raise SystemExit(2)
        name = ds.name
        recipe = ds.source.get("options", {})
        if args.baseline:
            for mods in args.modalities.split(","):
                t0 = time.perf_counter()
                b = baseline(ds, mods, seed, model_opts.get("C"))
                label = "+".join(ds.modalities) if mods == "both" else mods
                row = {
                    "corpus": name,
                    "model": "logistic regression (sklearn)",
                    "variant": args.variant,
                    "modalities": label,
                    "seed": seed,
                    "accuracy": b["accuracy"],
                    "epochs": 0,
                    "best_val": b["best_val"],
                    "split": split_text(name, recipe),
                    "alignment": {},
                    "wall_s": time.perf_counter() - t0,
                    "data_options": recipe,
                    "model_options": {"C": b["C"]},
                }
                _save(row, results_path)
                print(f"done {name}/baseline-{label}-s{seed}: test acc {b['accuracy']:.1%}")
            continue
        if args.late_fusion:
            for model in args.models.split(","):
                late_fusion_run(args, ds, model, seed, model_opts, train_opts, results_path)
            continue
        for model in args.models.split(","):
            options = {**model_preset(model, name), **model_opts}
            for mods in args.modalities.split(","):
                data = ds if mods == "both" else blank(ds, mods)
                label = "+".join(ds.modalities) if mods == "both" else mods
                tag = _run_tag(name, model, args.variant, label, seed)
                cfg = TrainConfig(
                    model=model,
                    max_epochs=args.epochs,
                    patience=args.patience,
                    batch_size=args.batch_size,
                    progress_bar=False,
                    seed=seed,
                    threads=args.threads,
                    n_plots=0,
                    **train_opts,
                )
                t0 = time.perf_counter()
                res = fit(data, cfg, model_options=model_opts, out_dir=OUT / "runs" / tag,
                          resume=False)  # fmt: skip
                wall = time.perf_counter() - t0
                align = {}
                if mods == "both" and not args.no_attention:
                    png = OUT / "figures" / f"{name}-{model}{_slug(args.variant)}-s{seed}.png"
                    align = attention_scores(
                        res.best_checkpoint,
                        ds,
                        png,
                        f"{model} on {name}, test split {split_text(name, recipe)}, seed {seed}",
                    )
                resolved = cfg.resolved(name)
                row = {
                    "corpus": name,
                    "model": model,
                    "variant": args.variant,
                    "modalities": label,
                    "seed": seed,
                    "accuracy": res.test.metrics["accuracy"],
                    "epochs": res.epochs,
                    "best_val": _best_val(res.history),
                    "split": split_text(name, recipe),
                    "alignment": align,
                    "parameters": res.n_parameters,
                    "wall_s": wall,
                    "data_options": recipe,
                    "model_options": options,
                    "train_options": {
                        "lr": resolved.lr,
                        "lr_schedule": resolved.lr_schedule,
                        "warmup_steps": resolved.warmup_steps,
                        "batch_size": args.batch_size,
                        "max_epochs": args.epochs,
                        "patience": args.patience,
                        **train_opts,
                    },
                }
                _save(row, results_path)
                al = ", ".join(f"{k} {v['peak_accuracy']:.1%}" for k, v in align.items())
                print(
                    f"done {tag}: test acc {row['accuracy']:.1%} after {res.epochs} epochs "
                    f"in {wall:.0f} s {al}",
                    flush=True,
                )


def late_fusion_run(args, ds, model, seed, model_opts, train_opts, results_path) -> None:
    """Train ``model`` on each stream alone, then fuse their decisions with stream weights
    (:func:`mmalign.train.late_fusion`): chosen on the validation split where there is one
    (:func:`mmalign.train.choose_stream_weights`), else ``--weights`` (chosen beforehand).
    Every stream is scored at its last checkpoint (the fixed-epoch protocol); the rows of the
    single streams and of the fusion are recorded, and each run's logits kept in
    ``scores.npz`` beside its checkpoints."""
    from mmalign.train import TrainConfig, choose_stream_weights, evaluate, fit, late_fusion
    from mmalign.train.presets import model_preset

    name, recipe = ds.name, ds.source.get("options", {})
    options = {**model_preset(model, name), **model_opts}
    splits = [s for s in ("valid", "test") if s in ds.splits]
    given = _weights(args.weights, ds.modalities) if args.weights else None
    if given is None and "valid" not in splits:
        raise SystemExit("--late-fusion without a validation split: give --weights, chosen "
                         "beforehand on the validation split, e.g. --weights audio=0.7,video=0.3")  # fmt: skip
    scores: dict[str, dict[str, np.ndarray]] = {s: {} for s in splits}
    single: dict[str, float] = {}
    t0 = time.perf_counter()
    reuse = _options(args.reuse, "--reuse")
    for m in ds.modalities:
        if m in reuse:  # the logits of an earlier --late-fusion run of this stream, same seed
            old = OUT / "runs" / _run_tag(name, model, str(reuse[m]), m, seed)
            if not (old / "scores.npz").is_file():
                raise SystemExit(f"--reuse {m}={reuse[m]}: no {old / 'scores.npz'}; run that "
                                 "variant with --late-fusion first.")  # fmt: skip
            kept = np.load(old / "scores.npz")
            for sp in splits:
                if sp not in kept or len(kept[sp]) != len(ds[sp]):
                    raise SystemExit(f"--reuse {m}={reuse[m]}: {old / 'scores.npz'} was not "
                                     f"scored on this {sp} split.")  # fmt: skip
                scores[sp][m] = kept[sp]
            single[m] = _accuracy(scores["test"][m], ds["test"].labels)
            print(f"reused {old}: test acc {single[m]:.1%}", flush=True)
            continue
        tag = _run_tag(name, model, args.variant, m, seed)
        data = blank(ds, m)
        cfg = TrainConfig(model=model, max_epochs=args.epochs, patience=args.patience,
                          batch_size=args.batch_size, progress_bar=False, seed=seed,
                          threads=args.threads, n_plots=0, **train_opts)  # fmt: skip
        t1 = time.perf_counter()
        res = fit(data, cfg, model_options=model_opts, out_dir=OUT / "runs" / tag, resume=False)
        for sp in splits:
            scores[sp][m] = evaluate(res.last_checkpoint, data, split=sp).scores
        np.savez(OUT / "runs" / tag / "scores.npz", **{sp: scores[sp][m] for sp in splits})
        single[m] = _accuracy(scores["test"][m], ds["test"].labels)
        val = _accuracy(scores["valid"][m], ds["valid"].labels) if "valid" in splits else None
        resolved = cfg.resolved(name)
        row = {
            "corpus": name, "model": model, "variant": args.variant, "modalities": m,
            "seed": seed, "accuracy": single[m], "epochs": res.epochs, "best_val": val,
            "split": split_text(name, recipe), "alignment": {}, "parameters": res.n_parameters,
            "wall_s": time.perf_counter() - t1, "data_options": recipe, "model_options": options,
            "train_options": {"lr": resolved.lr, "lr_schedule": resolved.lr_schedule,
                              "warmup_steps": resolved.warmup_steps,
                              "batch_size": args.batch_size, "max_epochs": args.epochs,
                              "patience": args.patience, "checkpoint": "last", **train_opts},
        }  # fmt: skip
        _save(row, results_path)
        print(f"done {tag}: test acc {single[m]:.1%} (last checkpoint), valid "
              f"{'-' if val is None else f'{val:.1%}'}", flush=True)  # fmt: skip
    if given is None:
        chosen = choose_stream_weights(scores["valid"], ds["valid"].labels)
        weights, val = chosen.weights, chosen.accuracy
        print("stream weights on valid (weight of "
              f"{ds.modalities[-1]}: accuracy): "
              + ", ".join(f"{w[ds.modalities[-1]]:.2f}: {a:.1%}" for w, a, _ in chosen.grid))  # fmt: skip
    else:
        weights, val = given, None
        if "valid" in splits:
            val = _accuracy(late_fusion(scores["valid"], weights), ds["valid"].labels)
    acc = _accuracy(late_fusion(scores["test"], weights), ds["test"].labels)
    row = {
        "corpus": name, "model": model,
        "variant": (args.variant + ", " if args.variant else "") + "late fusion",
        "modalities": "+".join(ds.modalities), "seed": seed, "accuracy": acc, "epochs": None,
        "best_val": val, "split": split_text(name, recipe), "alignment": {},
        "wall_s": time.perf_counter() - t0, "data_options": recipe, "model_options": options,
        "stream_weights": weights, "single_stream_accuracy": single,
        "weights_from": "validation split" if given is None else "--weights",
        "reused_streams": reuse,
    }  # fmt: skip
    _save(row, results_path)
    print(f"done {name}/{model} late fusion s{seed}: test acc {acc:.1%} with weights "
          f"{weights} (single streams: "
          + ", ".join(f"{m} {a:.1%}" for m, a in single.items()) + ")", flush=True)  # fmt: skip


def ensemble_run(args) -> None:
    """Fuse the runs of ``--seeds`` (trained before with the same options) into ensembles of
    ``--ensemble`` consecutive seeds: each run's last checkpoint scored on the test split of the
    data it recorded (its own seed's augmentation, and so standardisation; the corpus read from
    ``--corpus``), their log-posteriors averaged with equal weights
    (:func:`mmalign.train.late_fusion`). One row per ensemble, its members' accuracies beside
    it."""
    from mmalign.data import load_dataset
    from mmalign.data._load import corpus_loader_defaults
    from mmalign.train import evaluate, late_fusion
    from mmalign.train.presets import model_preset
    from mmalign.train.trainer import read_checkpoint

    data_opts = _options(args.data_opt, "--data-opt")
    model_opts = _options(args.model_opt, "--model-opt")
    name = args.corpus.partition(":")[0]
    if name not in STREAMS:
        raise SystemExit(f"--ensemble: --corpus must be avletters:PATH or utd-mhad:PATH, got "
                         f"{args.corpus!r}.")  # fmt: skip
    seeds = [int(x) for x in args.seeds.split(",")]
    n = args.ensemble
    if n < 2:
        raise SystemExit(f"--ensemble {n}: an ensemble needs at least 2 runs.")
    if len(seeds) < n or len(seeds) % n:
        raise SystemExit(f"--ensemble {n}: --seeds must list a multiple of {n} seeds (each "
                         f"ensemble takes {n} consecutive ones); got {len(seeds)}.")  # fmt: skip
    loaded: dict[str, object] = {}  # the same data options are read once for every model
    for model in args.models.split(","):
        for mods in args.modalities.split(","):
            scores, labels, recipe = {}, None, {}
            label = "+".join(STREAMS[name]) if mods == "both" else mods
            for seed in seeds:
                tag = _run_tag(name, model, args.variant, label, seed)
                ckpt = OUT / "runs" / tag / "checkpoints" / "last.ckpt"
                if not ckpt.is_file():
                    raise SystemExit(f"--ensemble: no {ckpt}; train seed {seed} first (the same "
                                     "command without --ensemble).")  # fmt: skip
                # an option missing from an older record had the loader's default; a
                # single-stream control (blank) records none: the command's --data-opt then
                record = (read_checkpoint(ckpt).get("mmalign_run") or {}).get("data") or {}
                if "options" in record:
                    opts = {**corpus_loader_defaults(name), **record["options"]}
                else:
                    opts = {"seed": seed, **data_opts}
                key = json.dumps(opts, sort_keys=True, default=str)
                if key not in loaded:
                    loaded[key] = load_dataset(args.corpus, **opts)
                ds = loaded[key]
                recipe = ds.source.get("options", {})
                data = ds if mods == "both" else blank(ds, mods)
                scores[seed] = evaluate(ckpt, data, split="test").scores
                if labels is not None and not np.array_equal(labels, ds["test"].labels):
                    raise SystemExit("--ensemble: the seeds' test splits differ.")
                labels = ds["test"].labels
            for i in range(0, len(seeds), n):
                group = seeds[i : i + n]
                fused = late_fusion({str(s): scores[s] for s in group},
                                    {str(s): 1 / n for s in group})  # fmt: skip
                row = {
                    "corpus": name, "model": model,
                    "variant": (args.variant + ", " if args.variant else "") + f"ensemble of {n}",
                    "modalities": label, "seed": "+".join(map(str, group)),
                    "accuracy": _accuracy(fused, labels), "epochs": None, "best_val": None,
                    "split": split_text(name, recipe), "alignment": {},
                    "data_options": recipe, "model_options": {**model_preset(model, name),
                                                              **model_opts},
                    "members": {str(s): _accuracy(scores[s], labels) for s in group},
                }  # fmt: skip
                _save(row, OUT / "results.json")
                print(f"done {name}/{model} {label} ensemble of seeds {row['seed']}: test acc "
                      f"{row['accuracy']:.1%} (members: "
                      + ", ".join(f"{a:.1%}" for a in row["members"].values()) + ")", flush=True)  # fmt: skip


def _slug(variant: str) -> str:
    """``"-variant"`` with its spaces and slashes made path-safe ("" for the recipe)."""
    return "-" + variant.replace(" ", "_").replace("/", "-") if variant else ""


def _run_tag(corpus: str, model: str, variant: str, streams: str, seed: int) -> str:
    """A run's folder under ``runs/``: ``corpus/model[-variant]-streams-sSEED``."""
    return f"{corpus}/{model}{_slug(variant)}-{streams}-s{seed}"


def _accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows of (N, n_classes) ``scores`` whose argmax is the label."""
    return float((scores.argmax(1) == labels).mean())


def _weights(text: str, modalities: tuple[str, ...]) -> dict[str, float]:
    """``"audio=0.7,video=0.3"`` -> weights of every stream (refused unless they name each
    stream once, are >= 0 and sum to 1)."""
    w = {}
    for part in text.split(","):
        key, sep, val = part.partition("=")
        try:
            w[key.strip()] = float(val)
        except ValueError:
            raise SystemExit(f"--weights {text!r}: expected NAME=NUMBER pairs, e.g. "
                             f"{'=0.5,'.join(modalities)}=0.5") from None  # fmt: skip
        if not sep:
            raise SystemExit(f"--weights {text!r}: expected NAME=NUMBER pairs.")
    if set(w) != set(modalities) or min(w.values()) < 0 or abs(sum(w.values()) - 1) > 1e-6:
        raise SystemExit(f"--weights {text!r}: give one weight >= 0 for each of "
                         f"{', '.join(modalities)}, summing to 1.")  # fmt: skip
    return w


def _best_val(history: list[dict]) -> float | None:
    """The best validation score of a run (None without a validation split)."""
    vals = [h["val_score"] for h in history if np.isfinite(h["val_score"])]
    return max(vals) if vals else None


def _save(row: dict, path: Path) -> None:
    """Add ``row`` to the results file (replacing the same run), re-reading it first, so that
    runs in parallel keep each other's rows."""
    rows = json.loads(path.read_text()) if path.is_file() else []
    rows = [r for r in rows if not _same(r, row)] + [row]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(rows, indent=1))
    os.replace(tmp, path)


_KEY = ("corpus", "model", "variant", "modalities", "seed")


def _same(a: dict, b: dict) -> bool:
    return all(a.get(k, "") == b.get(k, "") for k in _KEY)


def table() -> None:
    rows = json.loads((OUT / "results.json").read_text())
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k, "") for k in _KEY[:4]), []).append(r)
    print(
        "| corpus | model | variant | modalities | test accuracy | best valid | seeds | epochs "
        "| attention peak within 1 slow frame |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (corpus, model, variant, mods), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: str(r["seed"]).zfill(4))
        acc = np.array([r["accuracy"] for r in rs])
        accs = f"{acc.mean():.1%}" + (f" ± {acc.std(ddof=1):.1%}" if len(acc) > 1 else "")
        vals = [r["best_val"] for r in rs if r.get("best_val") is not None]
        val = f"{np.mean(vals):.1%}" if vals else "- (none)"
        al, chance, corr = {}, {}, {}
        for r in rs:
            for k, v in r["alignment"].items():
                al.setdefault(k, []).append(v["peak_accuracy"])
                chance.setdefault(k, []).append(v.get("chance", np.nan))
                corr.setdefault(k, []).append(v.get("peak_time_corr", np.nan))
        als = (
            ", ".join(
                f"{k} {np.mean(v):.0%} (chance {np.mean(chance[k]):.0%}, r {np.mean(corr[k]):.2f})"
                for k, v in al.items()
            )
            or "-"
        )
        print(
            f"| {corpus} | {model} | {variant or 'recipe'} | {mods} | {accs} | {val} "
            f"| {','.join(str(r['seed']) for r in rs)} "
            f"| {','.join(str(r['epochs'] or '-') for r in rs)} | {als} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", help="avletters:PATH or utd-mhad:PATH")
    ap.add_argument("--models", default="lxmert")
    ap.add_argument("--modalities", default="both", help="both and/or single modality names")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patience", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="a loader option over the corpus recipe, e.g. augment=0")  # fmt: skip
    ap.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="a model option over its preset, e.g. dropout=0.1")  # fmt: skip
    ap.add_argument("--train-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="a TrainConfig field, e.g. modality_dropout=0.3")  # fmt: skip
    ap.add_argument("--variant", default="", help="name of the ablation (empty: the recipe)")
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="scikit-learn's logistic regression on the same data instead of --models",
    )
    ap.add_argument("--late-fusion", action="store_true",
                    help="train each stream alone and fuse their decisions with stream weights")  # fmt: skip
    ap.add_argument("--weights", default="", metavar="NAME=W,...",
                    help="the stream weights of --late-fusion where there is no validation split")  # fmt: skip
    ap.add_argument("--reuse", action="append", default=[], metavar="STREAM=VARIANT",
                    help="--late-fusion: take that stream's logits from an earlier --late-fusion "
                    "run of the variant (same model and seed) instead of training it again")  # fmt: skip
    ap.add_argument("--no-attention", action="store_true", help="skip the attention read-out")
    ap.add_argument("--ensemble", type=int, default=0, metavar="N",
                    help="train nothing: fuse the runs of --seeds (trained before with the same "
                    "options) into ensembles of N consecutive seeds")  # fmt: skip
    ap.add_argument("--table", action="store_true", help="print the table of results.json")
    args = ap.parse_args()
    if args.table:
        table()
    elif not args.corpus:
        ap.error("--corpus avletters:PATH or utd-mhad:PATH is required (or --table)")
    elif (args.data_opt or args.model_opt or args.train_opt) and not args.variant:
        ap.error(
            "--data-opt / --model-opt / --train-opt change the recipe: name the change with "
            "--variant"
        )
    elif args.ensemble != 0:
        ensemble_run(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
