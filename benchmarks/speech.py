"""Speech-text alignment benchmark on real recordings, beside plain PocketSphinx in the same run.

Data: ../shared/data/speech-dev (34 short real English recordings with reference word times;
boundaries listed in an item's ``boundaries_at_file_edge_s`` are left out).
Methods on speech-dev:
  sphinx          mmalign's default for English: PocketSphinx forced alignment, reproducible
                  decoders, pause-edge refinement, recognition-based confidence
  sphinx-raw      the same without the pause-edge refinement (ablation)
  tts-dtw         eSpeak NG synthesis + MFCC + slope-constrained DTW (default for other languages)
  pocketsphinx    PocketSphinx 5 used plainly: set_align_text + seg() with default beams; if the
                  whole transcript does not come back, once more with beam = wbeam = pbeam = 1e-100
  ctc             needs emissions of a CTC acoustic model; none ships offline, so not run
Long cases (--long 1,5,60 minutes; each in a fresh process for its peak memory): speech-dev
items (seeded order) joined with pauses of 0.2-1.0 s cut from the recordings' own non-speech
(leading / trailing stretches at least 50 ms before the first / after the last reference
word; a pause shorter than asked is lengthened by mirrored repetition, which adds no clicks),
repeated to the length asked. The transcript carries, every ~20 s, one edit: a filler ("um" / "uh") or an
extra word the audio does not hold, a dropped word, or a repeated word. Scored on the words
both sides hold; compared with the same words aligned as short clips (each item alone).
Unaligned words are split into words the edits added (the audio lacks them: right to leave
unaligned) and words the audio holds (a miss).
Mismatch: a transcript of other speech (another source's item for a clip; another 1-minute
concatenation for a long case), flagged = warning (info["mismatch"]) or refusal.
Reproducibility: speech-dev aligned twice in one process, boundaries compared exactly.

Usage: python benchmarks/speech.py [--long 1,5,60] [--methods sphinx,sphinx-raw,tts-dtw,pocketsphinx]
       python benchmarks/speech.py --loso end_level=0,0.15,0.25,0.35,0.45,0.55
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
SPEECH_DEV = REPO.parent / "shared" / "data" / "speech-dev"
SR = 16000
EDIT_EVERY_S = 20.0
PAUSE_GUARD_S = 0.05


def plain_pocketsphinx(samples, transcript):
    """PocketSphinx alone, as a user would call it: default beams, then 1e-100 beams."""
    import pocketsphinx as ps

    from mmalign.speech import Span, SpeechAlignment, tokenize

    words = [w.lower() for w, _, _ in tokenize(transcript)]
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    for beam in (None, 1e-100):
        cfg = ps.Config()
        cfg["loglevel"] = "FATAL"
        cfg["lm"] = None
        if beam is not None:
            cfg["beam"] = cfg["wbeam"] = cfg["pbeam"] = beam
        d = ps.Decoder(cfg)
        d.set_align_text(" ".join(words))
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        if d.hyp() is None:
            continue
        seg = [s for s in d.seg() if not s.word.startswith(("<", "["))]
        if len(seg) == len(words):
            return SpeechAlignment(
                words=[
                    Span(w, s.start_frame / 100, (s.end_frame + 1) / 100)
                    for w, s in zip(words, seg)
                ]
            )
    raise RuntimeError("no complete alignment")


def methods():
    from mmalign.speech import SphinxConfig, align

    return {
        "sphinx": lambda x, t: align(x, t, sample_rate=SR),
        "sphinx-raw": lambda x, t: align(x, t, sample_rate=SR, options=SphinxConfig(refine=False)),
        "tts-dtw": lambda x, t: align(x, t, sample_rate=SR, backend="tts-dtw"),
        "pocketsphinx": plain_pocketsphinx,
    }


def item_errors(item, hyp) -> np.ndarray:
    """Signed boundary errors (start and end per word) of ``hyp`` on ``item``, edges left out."""
    from mmalign.speech.evalsets import edge_mask

    e = np.array([t for w in hyp.words for t in (w.start, w.end)]) - np.array(
        [t for w in item.words for t in (w.start, w.end)]
    )
    return e[edge_mask(item)]


def stats(errs: list[np.ndarray]) -> dict:
    a = np.abs(np.concatenate(errs)) if errs else np.array([np.nan])
    return {
        "mae_ms": 1000 * float(a.mean()),
        "median_ms": 1000 * float(np.median(a)),
        "within20": float(np.mean(a <= 0.02 + 1e-9)),
        "within50": float(np.mean(a <= 0.05 + 1e-9)),
        "within100": float(np.mean(a <= 0.1 + 1e-9)),
        "n": int(a.size),
    }


def run_speech_dev(items, fn) -> dict:
    errs, per_source, failed, cpu, dur, hyps = [], {}, [], 0.0, 0.0, {}
    for it in items:
        c0 = time.process_time()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hyp = fn(it.audio, it.transcript)
        except Exception as exc:
            failed.append(f"{it.name}: {type(exc).__name__}")
            continue
        cpu += time.process_time() - c0
        dur += it.duration
        if len(hyp.words) != len(it.words) or not all(w.aligned for w in hyp.words):
            failed.append(f"{it.name}: words missing")
            continue
        e = item_errors(it, hyp)
        errs.append(e)
        per_source.setdefault(it.meta["source"], []).append(e)
        hyps[it.name] = [(w.start, w.end) for w in hyp.words]
    out = stats(errs)
    out.update(
        failed=failed,
        items=len(items),
        cpu_rtf=cpu / dur if dur else float("nan"),
        per_source={k: stats(v) for k, v in per_source.items()},
        hyps=hyps,
    )
    return out


# --------------------------------------------------------------------------------------
# long cases


def _pauses(items, rng):
    """Non-speech stretches (>= 0.1 s) at the items' edges, kept ``PAUSE_GUARD_S`` away from
    every reference word (references are aligner output, +-20 ms: a closer cut keeps the
    decaying tail or the onset of a word in the 'pause')."""
    g = int(PAUSE_GUARD_S * SR)
    out = []
    for it in items:
        a, b = int(it.words[0].start * SR), int(it.words[-1].end * SR)
        for p in (it.audio[: max(0, a - g)], it.audio[b + g :]):
            if len(p) >= SR // 10:
                out.append(p)
    return out


def _lengthen(p: np.ndarray, n: int) -> np.ndarray:
    """``p`` made ``n`` samples long by mirrored repetition (p, p reversed, p, ...): the
    copies join without a jump in the waveform, so the pause gains no clicks."""
    reps = -(-n // len(p))
    return np.concatenate([p if k % 2 == 0 else p[::-1] for k in range(reps)])[:n]


def build_long(items, minutes: float, seed: int):
    """(audio, transcript with edits, reference words, [(item index, offset)], edits)."""
    from mmalign.speech import Span

    rng = np.random.default_rng(seed)
    pauses = _pauses(items, rng)
    target = minutes * 60 * SR
    chunks, ref, placed, n = [], [], [], 0
    while n < target:
        for k in rng.permutation(len(items)):
            it = items[k]
            p = pauses[int(rng.integers(len(pauses)))]
            want = int(rng.uniform(0.2, 1.0) * SR)
            pause = _lengthen(p, want) if len(p) < want else p[:want]
            chunks.append(pause)
            n += len(pause)
            off = n / SR
            chunks.append(it.audio)
            placed.append((int(k), off))
            ref += [Span(w.label, w.start + off, w.end + off) for w in it.words]
            n += len(it.audio)
            if n >= target:
                break
    audio = np.concatenate(chunks).astype(np.float32)
    words = [w.label for w in ref]
    out, edits, next_edit = [], [], EDIT_EVERY_S
    for w, r in zip(words, ref):
        if r.start < next_edit:
            out.append(w)
            continue
        next_edit += EDIT_EVERY_S
        kind = ("filler", "insert", "drop", "repeat")[len(edits) % 4]
        edits.append(kind)
        if kind == "filler":
            out += [("um", "uh")[len(edits) % 2], w]
        elif kind == "insert":
            out += ["tomorrow", w]
        elif kind == "drop":
            pass
        else:
            out += [w, w]
    return audio, " ".join(out), ref, placed, edits


def _inside_mae(hyp, ref, join) -> float:
    """Boundary MAE of ``hyp`` against ``ref`` (paired as boundary_errors pairs them) over
    the reference boundaries where ``join`` is False."""
    import difflib

    sm = difflib.SequenceMatcher(
        a=[w.label.lower() for w in hyp], b=[w.label.lower() for w in ref], autojunk=False
    )
    errs = [
        abs(t - u)
        for blk in sm.get_matching_blocks()
        for k in range(blk.size)
        for t, u, m in zip(
            (hyp[blk.a + k].start, hyp[blk.a + k].end),
            (ref[blk.b + k].start, ref[blk.b + k].end),
            join[2 * (blk.b + k) : 2 * (blk.b + k) + 2],
        )
        if not m
    ]
    return float(np.mean(errs))


def _long_worker(spec: str) -> None:
    """Child process: build, align, score one long case; print one JSON line."""
    import mmalign.speech as sp
    from mmalign.speech.evaluate import boundary_errors

    cfg = json.loads(spec)
    items = sp.speech_dev(SPEECH_DEV)
    audio, text, ref, placed, edits = build_long(items, cfg["minutes"], cfg["seed"])
    if cfg.get("other_transcript"):
        _, text, _, _, _ = build_long(items, cfg["minutes"], cfg["seed"] + 1000)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            a = sp.align(audio, text, sample_rate=SR)
            refused = ""
        except ValueError as exc:
            a, refused = None, str(exc)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    res = {
        "minutes": cfg["minutes"],
        "duration": len(audio) / SR,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mib": base_rss / 1024,
        "edits": len(edits),
        "refused": refused,
        "warned": any(issubclass(w.category, sp.TranscriptMismatchWarning) for w in caught),
    }
    if a is not None:
        res.update(
            mismatch=bool(a.info.get("mismatch")),
            support=a.info.get("support"),
            stretches=a.info.get("stretches"),
            n_unaligned=len(a.unaligned),
            unaligned_words=sorted({u["word"] for u in a.unaligned})[:10],
        )
        # which unaligned words did the edits add (absent from the audio)?
        import difflib

        toks = [w.lower() for w, _, _ in sp.tokenize(text)]
        sm = difflib.SequenceMatcher(a=toks, b=[w.label.lower() for w in ref], autojunk=False)
        held = {b.a + k for b in sm.get_matching_blocks() for k in range(b.size)}

        def added(i: int) -> bool:  # either copy of a repeated word counts as the added one
            return i not in held or any(
                0 <= j < len(toks) and j not in held and toks[j] == toks[i] for j in (i - 1, i + 1)
            )

        res.update(
            unaligned_added=sum(added(u["index"]) for u in a.unaligned),
            unaligned_held=sorted(u["word"] for u in a.unaligned if not added(u["index"])),
            words_added=len(toks) - len(held),
        )
        hyp = [w for w in a.words if w.aligned]
        r = boundary_errors(hyp, ref)
        res.update(mae_ms=1000 * r.mae, within50=r.within[0.05], n_boundaries=r.n_boundaries)
        # the first start and last end of every item sit at a join with a foreign pause, where
        # an item aligned alone has its own edge; score the boundaries inside items apart
        join = np.zeros(2 * len(ref), bool)
        first = 0
        for k, _ in placed:
            n = len(items[k].words)
            join[2 * first], join[2 * (first + n) - 1] = True, True
            first += n
        res["mae_inside_ms"] = 1000 * _inside_mae(hyp, ref, join)
        # the same words aligned as short clips: each placed item alone, shifted to its place
        if cfg.get("clips"):
            clip_words = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache = {}
                for k, off in placed:
                    if k not in cache:
                        cache[k] = sp.align(items[k].audio, items[k].transcript, sample_rate=SR)
                    clip_words += [
                        sp.Span(w.label, w.start + off, w.end + off) for w in cache[k].words
                    ]
            rc = boundary_errors(clip_words, ref)
            # both on the words the long alignment holds: pair via the reference
            res.update(clips_mae_ms=1000 * rc.mae, clips_within50=rc.within[0.05])
            res["clips_mae_inside_ms"] = 1000 * _inside_mae(clip_words, ref, join)
    print(json.dumps(res))


def run_long(minutes: float, seed: int = 0, other: bool = False, clips: bool = True) -> dict:
    spec = json.dumps({"minutes": minutes, "seed": seed, "other_transcript": other, "clips": clips})
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    out = subprocess.run(
        [sys.executable, __file__, "--worker", spec], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        return {"minutes": minutes, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------


def leave_one_source_out(items, knob: str, values: list[float]) -> dict:
    """For each source: the ``SphinxConfig`` knob value that scores best on the other sources,
    and the held-out source's MAE with it against the knob's off value (first in ``values``).
    """
    from mmalign.speech import SphinxConfig, align

    per = {}
    for v in values:
        cfg = SphinxConfig(**{knob: v})
        r = run_speech_dev(items, lambda x, t, cfg=cfg: align(x, t, sample_rate=SR, options=cfg))
        per[v] = r["per_source"]
    sources = list(per[values[0]])

    def pooled(v, srcs):
        n = sum(per[v][s]["n"] for s in srcs)
        return sum(per[v][s]["mae_ms"] * per[v][s]["n"] for s in srcs) / n

    out = {"all": {v: pooled(v, sources) for v in values}, "held_out": {}}
    for s in sources:
        rest = [x for x in sources if x != s]
        best = min(values, key=lambda v: pooled(v, rest))
        out["held_out"][s] = {
            "chosen": best,
            "mae_ms": per[best][s]["mae_ms"],
            "off_mae_ms": per[values[0]][s]["mae_ms"],
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--methods", default="sphinx,sphinx-raw,tts-dtw,pocketsphinx")
    ap.add_argument("--long", default="1,5,60", help="minutes of the long cases ('' skips)")
    ap.add_argument("--mismatch-tries", type=int, default=10)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument(
        "--loso",
        default="",
        help="KNOB=V0,V1,... leave-one-source-out check of a SphinxConfig knob on speech-dev "
        "(V0 is the 'off' value compared against), e.g. end_level=0,0.15,0.25,0.35,0.45,0.55",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _long_worker(args.worker)
        return 0
    from mmalign.speech import TranscriptMismatchWarning, align, speech_dev

    if not SPEECH_DEV.is_dir():
        print(f"speech-dev not found at {SPEECH_DEV}; nothing to measure")
        return 1
    items = speech_dev(SPEECH_DEV)
    if args.loso:
        knob, vals = args.loso.split("=")
        values = [float(v) for v in vals.split(",")]
        r = leave_one_source_out(items, knob, values)
        print(f"{knob}: pooled MAE " + ", ".join(f"{v:g}: {m:.2f} ms" for v, m in r["all"].items()))
        print(
            f"leave one source out ({knob} chosen on the other sources; held-out MAE vs {values[0]:g}):"
        )
        for src, h in r["held_out"].items():
            print(
                f"  {src:13s} {knob}={h['chosen']:g}: {h['mae_ms']:.1f} ms vs {h['off_mae_ms']:.1f} ms"
            )
        return 0
    table = methods()
    names = args.methods.split(",")
    warm = items[0]
    for name in names:  # numba compilation, model loading outside the timings
        try:
            table[name](warm.audio, warm.transcript)
        except Exception:
            pass
    results: dict = {}
    print(f"speech-dev: {len(items)} items, {sum(it.duration for it in items):.1f} s")
    head = f"{'method':13s} {'MAE ms':>7s} {'med ms':>7s} {'<=20':>6s} {'<=50':>6s} {'<=100':>6s} {'cpuRTF':>7s}  n  failed"
    print(head)
    for name in names:
        r = run_speech_dev(items, table[name])
        results[name] = r
        print(
            f"{name:13s} {r['mae_ms']:7.1f} {r['median_ms']:7.1f} {100 * r['within20']:5.1f}% "
            f"{100 * r['within50']:5.1f}% {100 * r['within100']:5.1f}% {r['cpu_rtf']:7.4f} "
            f"{r['n']:3d} {len(r['failed'])}/{r['items']} {'; '.join(r['failed'])}"
        )
    print("ctc           n/a (needs emissions of a CTC acoustic model; none offline)")
    if "pocketsphinx" in results:
        base = results["pocketsphinx"]
        for name in names:
            if name != "pocketsphinx":
                r = results[name]
                print(
                    f"  {name} vs plain pocketsphinx: MAE x{r['mae_ms'] / base['mae_ms']:.2f} "
                    f"({r['mae_ms'] - base['mae_ms']:+.1f} ms), <=50 ms "
                    f"{100 * (r['within50'] - base['within50']):+.1f} points"
                )
        print("per source (MAE ms / <=50 ms):")
        for src in base["per_source"]:
            cells = [
                f"{n}: {results[n]['per_source'].get(src, {}).get('mae_ms', float('nan')):5.1f} / "
                f"{100 * results[n]['per_source'].get(src, {}).get('within50', float('nan')):5.1f}%"
                for n in names
            ]
            print(f"  {src:13s} n={base['per_source'][src]['n']:3d}  " + "  ".join(cells))

    # reproducibility: the same clips again, in the same process
    print("reproducibility (speech-dev aligned again, in reverse order, in the same process):")
    for name in [n for n in names if n in ("sphinx", "tts-dtw")]:
        again = run_speech_dev(items[::-1], table[name])  # another order: no carried-over state
        first = results[name]["hyps"]
        same = sum(first.get(k) == v for k, v in again["hyps"].items())
        diff = max(
            (
                abs(a - b)
                for k, v in again["hyps"].items()
                if k in first
                for p, q in zip(first[k], v)
                for a, b in zip(p, q)
            ),
            default=0.0,
        )
        results[f"repro/{name}"] = {
            "identical_items": same,
            "items": len(again["hyps"]),
            "max_diff_s": diff,
        }
        print(
            f"  {name:10s} identical items {same}/{len(again['hyps'])}, largest difference {1000 * diff:.3f} ms"
        )

    # mismatch: transcripts of other speech
    flagged, tries = 0, 0
    srcs = [it.meta["source"] for it in items]
    rng = np.random.default_rng(0)
    for _ in range(args.mismatch_tries):
        i = int(rng.integers(len(items)))
        others = [
            k
            for k in range(len(items))
            if srcs[k] != srcs[i] and items[k].transcript != items[i].transcript
        ]
        j = others[int(rng.integers(len(others)))]
        tries += 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                a = align(items[i].audio, items[j].transcript, sample_rate=SR)
                hit = a.info.get("mismatch") and any(
                    issubclass(w.category, TranscriptMismatchWarning) for w in caught
                )
            except ValueError:
                hit = True
        flagged += bool(hit)
    results["mismatch/clips"] = {"flagged": flagged, "tries": tries}
    print(f"mismatch, clip with another source's transcript: flagged {flagged}/{tries}")

    if args.long:
        print("long cases (fresh process each; edits every ~20 s):")
        for m in [float(x) for x in args.long.split(",") if x]:
            r = run_long(m)  # the clips are aligned once per item: cheap at any length
            results[f"long/{m:g}"] = r
            if "error" in r:
                print(f"  {m:g} min: ERROR {r['error']}")
                continue
            rtf = r["cpu_s"] / r["duration"]
            print(
                f"  {r['duration'] / 60:5.1f} min: MAE {r.get('mae_ms', float('nan')):.1f} ms, "
                f"<=50 {100 * r.get('within50', float('nan')):.1f}%"
                + (
                    f" (short clips {r['clips_mae_ms']:.1f} ms, {100 * r['clips_within50']:.1f}%, "
                    f"gap {r['mae_ms'] - r['clips_mae_ms']:+.1f} ms)"
                    if "clips_mae_ms" in r
                    else ""
                )
                + f"; inside items {r['mae_inside_ms']:.1f} ms"
                + (
                    f" (short clips {r['clips_mae_inside_ms']:.1f}, gap "
                    f"{r['mae_inside_ms'] - r['clips_mae_inside_ms']:+.1f})"
                    if "clips_mae_inside_ms" in r
                    else ""
                )
                + f", cpuRTF {rtf:.4f} (wall {r['wall_s'] / r['duration']:.4f}), peak RSS "
                f"{r['peak_rss_mib']:.0f} MiB, {r['edits']} edits, unaligned {r.get('n_unaligned')} "
                f"({r.get('unaligned_added')} of the {r.get('words_added')} words the edits added; "
                f"held by the audio: {r.get('unaligned_held')}), stretches {r.get('stretches')}, support "
                f"{r.get('support')}, flagged {r.get('mismatch')}"
                + (f", REFUSED {r['refused']}" if r["refused"] else "")
            )
        for m in (1.0,):
            r = run_long(m, seed=1, other=True, clips=False)
            results[f"mismatch/long/{m:g}"] = r
            print(
                f"mismatch, {m:g} min with another concatenation's transcript: flagged "
                f"{bool(r.get('mismatch') or r.get('refused'))} (warned {r.get('warned')}, support "
                f"{r.get('support')})"
            )
    print(
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; cpuRTF counts this "
        f"process's CPU time, wall-clock is inflated by other jobs)"
    )
    if args.json:
        for r in results.values():
            if isinstance(r, dict):
                r.pop("hyps", None)
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
