"""``mmalign demo``: the main job, on built-in data, in a few minutes on 2 CPU cores.

The report is a list of sections; each is a function ``(context) -> Section`` that writes its
figures into the report folder. Add a section by appending to :data:`SECTIONS` (or passing
``sections=`` to :func:`run_demo`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Section", "DemoContext", "SECTIONS", "run_demo", "register"]


@dataclass
class Section:
    """One part of the report: a title, Markdown text and figures (paths relative to the report)."""

    title: str
    markdown: str
    figures: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoContext:
    """What sections share: the output folder, the seed, the size knobs and earlier results."""

    out: Path
    seed: int = 0
    quick: bool = False
    results: dict[str, Any] = field(default_factory=dict)


def _save(fig: Any, path: Path) -> None:
    from mmalign._utils import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")


def dtw_two_voices(ctx: DemoContext) -> Section:
    """DTW of two eSpeak renditions of a digit string; word boundaries carried across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from mmalign.explicit import dtw_path
    from mmalign.speech.evalsets import DIGIT_WORDS
    from mmalign.speech.features import mfcc_features
    from mmalign.speech.tts import synthesize

    digits = [4, 7, 1, 9, 3]
    text = " ".join(DIGIT_WORDS[d] for d in digits)
    voices = [("en", 160, 40), ("en-us+f3", 250, 70)]
    feats, words = [], []
    for voice, rate, pitch in voices:
        syn = synthesize(text, voice=voice, rate=rate, pitch=pitch, sample_rate=16000)
        # 13 MFCC at 100 frames/s, normalised per utterance
        feats.append(mfcc_features(syn.samples, syn.sample_rate, deltas=False))
        words.append([(w, s, e) for w, s, e in syn.words])
    t0 = time.perf_counter()
    al = dtw_path(feats[0], feats[1], metric="euclidean")
    seconds = time.perf_counter() - t0
    # carry every word boundary of voice A through the path and compare with voice B's truth
    path = al.path
    errors = []
    for (_, sa, ea), (_, sb, eb) in zip(words[0], words[1]):
        for ta, tb in ((sa, sb), (ea, eb)):
            i = min(int(round(ta * 100)), len(feats[0]) - 1)
            j = path[path[:, 0] == i, 1]
            errors.append(abs(float(np.median(j)) / 100.0 - tb))
    mae_ms = 1000 * float(np.mean(errors))
    fig, ax = plt.subplots(figsize=(6.5, 5))
    from mmalign.explicit import cost_matrix

    c = cost_matrix(feats[0], feats[1], metric="euclidean")
    im = ax.imshow(c.T, origin="lower", aspect="auto", cmap="magma_r")
    fig.colorbar(im, ax=ax, label="local cost (euclidean, MFCC)", fraction=0.05, pad=0.02)
    ax.plot(path[:, 0], path[:, 1], color="cyan", lw=1.5, label="DTW path")
    for (w, sa, _), (_, sb, _) in zip(words[0], words[1]):
        ax.axvline(sa * 100, color="white", lw=0.6, ls="--")
        ax.axhline(sb * 100, color="white", lw=0.6, ls="--")
        ax.plot(sa * 100, sb * 100, "o", color="lime", ms=5)
        ax.text(sa * 100 + 1, 2, w, color="white", fontsize=8)
    ax.set_xlabel(f"{voices[0][0]} @ {voices[0][1]} wpm (frames, 10 ms)")
    ax.set_ylabel(f"{voices[1][0]} @ {voices[1][1]} wpm (frames, 10 ms)")
    ax.set_title("DTW of two voices; green: true word onsets")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    _save(fig, ctx.out / "dtw_two_voices.png")
    plt.close(fig)
    md = (
        f'Two eSpeak NG voices say "{text}" ({voices[0][0]} at {voices[0][1]} words/min, '
        f"{voices[1][0]} at {voices[1][1]}); 13 MFCC at 100 frames/s, "
        f"`mmalign.explicit.dtw_path` (euclidean, symmetric2) aligns {len(feats[0])} x "
        f"{len(feats[1])} frames in {seconds * 1000:.0f} ms. Carrying each word boundary of the "
        f"first voice through the path lands **{mae_ms:.0f} ms** from the second voice's true "
        f"boundary on average ({len(errors)} boundaries)."
    )
    return Section(
        "DTW: one digit string, two voices",
        md,
        ["dtw_two_voices.png"],
        {"boundary_mae_ms": mae_ms, "frames": [len(feats[0]), len(feats[1])]},
    )


def mult_on_digits_av(ctx: DemoContext) -> Section:
    """Train MulT on digits-av; draw its cross-modal attention against the true alignment."""
    import torch

    from mmalign.data import load_digits_av
    from mmalign.train import TrainConfig, fit

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    size = DEMO_DATA_QUICK if ctx.quick else DEMO_DATA
    t0 = time.perf_counter()
    ds = load_digits_av(seed=ctx.seed, **size)
    gen_s = time.perf_counter() - t0
    config = TrainConfig(
        model="mult",
        max_epochs=2 if ctx.quick else DEMO_EPOCHS,
        patience=DEMO_EPOCHS,  # the cosine schedule ends the run; the plateau must not
        seed=ctx.seed,
        # a progress bar on a terminal; one line per epoch (time elapsed and left) in a log
        progress_bar=not ctx.quick and sys.stdout.isatty(),
        n_plots=3,
    )
    t0 = time.perf_counter()
    res = fit(ds, config, out_dir=ctx.out / "mult-run", resume=False)  # digits-av's recipe
    train_s = time.perf_counter() - t0
    ctx.results["mult"] = res
    figs = sorted(
        str(p.relative_to(ctx.out)) for p in (ctx.out / "mult-run" / "alignment").glob("*.png")
    )
    acc = res.test.metrics["accuracy"]
    align = res.test.alignment
    sel = res.test.selected_heads
    rows = "\n".join(
        f"| {k} | {v['peak_accuracy']:.1%} | {v['mass']:.1%} | "
        + (
            f"L{sel[k]['layer']} H{sel[k]['head']}: {sel[k]['peak_accuracy']:.1%} | "
            f"{sel[k]['mass']:.1%} |"
            if k in sel
            else "- | - |"
        )
        for k, v in sorted(align.items())
    )
    n_tr = len(ds["train"])
    md = (
        f"digits-av ({n_tr} train / {len(ds['valid'])} valid / {len(ds['test'])} test samples, "
        f"{size.get('n_digits', 4)} digits each; generated or read from cache in {gen_s:.0f} s): "
        f"audio (MFCC, {size.get('audio_fps', 100)} frames/s), handwritten digits each in its own ink (red, green, blue or white) (15 frames/s, "
        "own lags and durations) and the digit tokens with one emphasized, none aligned. The "
        "label, the ink of the emphasized digit's image, needs the text and the video paired "
        f"up. MulT ({res.n_parameters:,} parameters) trained {res.epochs} epochs in "
        f"{train_s:.0f} s ({res.train_samples_per_s:.0f} samples/s): **test accuracy "
        f"{acc:.1%}** (chance 25%).\n\n"
        "Alignment of the cross-modal attention against the ground truth: *peak* = share of "
        "target elements whose attention peak falls in the true interval, *mass* = mean "
        "attention mass inside it; for all layers and heads averaged, and for the single "
        "(layer, head) map that aligns best on the VALIDATION split, scored on test.\n\n"
        "| target <- source | peak (mean) | mass (mean) | best head on valid: peak | mass |\n"
        "|---|---|---|---|---|\n" + rows
    )
    return Section(
        "MulT on digits-av: learned attention vs the true alignment",
        md,
        figs,
        {"accuracy": acc, "alignment": align, "train_seconds": train_s},
    )


def speech_to_text(ctx: DemoContext) -> Section:
    """Word timestamps for a transcript: tts-dtw and PocketSphinx against eSpeak's exact truth."""
    import matplotlib

    matplotlib.use("Agg")
    import warnings

    import matplotlib.pyplot as plt
    import numpy as np

    from mmalign.speech import TranscriptMismatchWarning, align, boundary_errors, write_alignment
    from mmalign.speech.evalsets import espeak_sentences

    # sentences in voices, rates and pitches other than the aligner's template voice
    items = espeak_sentences(n_items=1 if ctx.quick else 3, seed=ctx.seed)
    rows, metrics, first = [], {}, None
    for backend in ("tts-dtw", "sphinx"):
        errs, audio_s, wall = [], 0.0, 0.0
        failed = 0
        for item in items:
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    # recognition (sphinx's mismatch check) is out of domain on eSpeak voices
                    warnings.simplefilter("ignore", TranscriptMismatchWarning)
                    hyp = align(
                        item.audio, item.transcript, sample_rate=item.sample_rate, backend=backend
                    )
            except (RuntimeError, ValueError):
                failed += 1
                continue
            wall += time.perf_counter() - t0
            audio_s += item.duration
            errs.append(np.abs(boundary_errors(hyp, item.words).errors))
            if first is None and backend == "tts-dtw":
                first = (item, hyp)
        e = np.concatenate(errs) if errs else np.zeros(0)
        mae = 1000 * float(np.mean(e)) if e.size else float("nan")
        w50 = float(np.mean(e <= 0.05)) if e.size else float("nan")
        rtf = wall / audio_s if audio_s else float("nan")
        metrics[backend] = {"mae_ms": mae, "within_50ms": w50, "rtf": rtf, "failed": failed}
        rows.append(f"| {backend} | {mae:.1f} ms | {w50:.1%} | {rtf:.3f} | {failed} |")
    item, hyp = first
    write_alignment(hyp, ctx.out / "speech.TextGrid")
    write_alignment(hyp, ctx.out / "speech.srt")
    fig, ax = plt.subplots(figsize=(10, 3))
    t = np.arange(len(item.audio)) / item.sample_rate
    ax.plot(t, item.audio, color="0.6", lw=0.4)
    for k, (w, truth) in enumerate(zip(hyp.words, item.words)):
        ax.axvspan(w.start, w.end, color="C0" if k % 2 else "C1", alpha=0.25)
        ax.axvline(truth.start, color="k", lw=0.8, ls="--")
        ax.text(
            (w.start + w.end) / 2,
            0.9 * float(np.abs(item.audio).max()),
            w.label,
            ha="center",
            fontsize=7,
        )
    ax.set_xlabel("time (s)")
    ax.set_title("tts-dtw words (shaded) vs true onsets (dashed)")
    fig.tight_layout()
    _save(fig, ctx.out / "speech_words.png")
    plt.close(fig)
    md = (
        f"{len(items)} pairs of Harvard sentences spoken by eSpeak NG in voices, rates and pitches "
        "other than the aligner's template; the truth is eSpeak's own word timing. "
        "`mmalign.speech.align` gives word start and end times; the first item is written as "
        "`speech.TextGrid` and `speech.srt`.\n\n"
        "| backend | word-boundary MAE | within 50 ms | real-time factor (incl. warm-up) | failed |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows)
    )
    return Section(
        "Speech to text: word timestamps",
        md,
        ["speech_words.png"],
        metrics,
    )


# Audio at 50 frames/s halves the longest stream, so an epoch takes ~10 s on 2 CPU cores; with
# the digits-av training preset (lr 3e-3, warm-up, cosine decay) MulT leaves its plateau after a
# few epochs and 20 epochs fit in a few minutes.
DEMO_DATA: dict[str, Any] = {"n_train": 2000, "n_valid": 300, "n_test": 500, "audio_fps": 50}
DEMO_DATA_QUICK: dict[str, Any] = {"n_train": 48, "n_valid": 16, "n_test": 16, "n_digits": 3}
DEMO_EPOCHS = 20

#: The report, in order.
SECTIONS: list[Callable[[DemoContext], Section]] = [
    dtw_two_voices,
    speech_to_text,
    mult_on_digits_av,
]


def write_report(ctx: DemoContext, sections: list[Section], seconds: float) -> Path:
    """Write ``README.md`` (Markdown with the figures) into ``ctx.out``, atomically."""
    import json

    from mmalign._utils import atomic_write

    lines = [
        "# mmalign demo",
        "",
        f"Built-in data only, seed {ctx.seed}, {seconds:.0f} s in all.",
        "",
    ]
    for s in sections:
        lines += [f"## {s.title}", "", s.markdown, ""]
        lines += [f"![{Path(f).stem}]({f})" for f in s.figures]
        lines.append("")
    path = ctx.out / "README.md"
    with atomic_write(path) as fh:
        fh.write("\n".join(lines))
    with atomic_write(ctx.out / "metrics.json") as fh:
        json.dump({s.title: s.metrics for s in sections}, fh, indent=2, default=float)
    return path


def run_demo(
    out: str | Path = "mmalign-demo",
    *,
    seed: int = 0,
    quick: bool = False,
    sections: list[Callable[[DemoContext], Section]] | None = None,
) -> Path:
    """Run every section and write the report; returns the report's path.

    Parameters
    ----------
    out : path-like
        Report folder (created).
    seed : int
    quick : bool
        Tiny data and 2 epochs (a smoke test, seconds instead of minutes).
    sections : list of callables, optional
        Defaults to :data:`SECTIONS`.
    """
    ctx = DemoContext(Path(out), seed=seed, quick=quick)
    ctx.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    done = []
    for fn in sections if sections is not None else SECTIONS:
        print(f"[demo] {fn.__doc__.splitlines()[0] if fn.__doc__ else fn.__name__}", flush=True)
        done.append(fn(ctx))
    return write_report(ctx, done, time.perf_counter() - t0)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the main job on built-in data: DTW of two voices, word timestamps, MulT on digits-av, a report",
        description="Run the demo (a few minutes on 2 CPU cores) and write a Markdown report "
        "with figures.",
    )
    p.add_argument("--out", default="mmalign-demo", help="report folder (default ./mmalign-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test in seconds")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out!r} is a file, not a folder; pass a folder.")
    path = run_demo(args.out, seed=args.seed, quick=args.quick)
    print(f"report written to {path.parent.resolve()} (open {path.name})")
    return 0
