"""Speech-text alignment benchmark: accuracy and real-time factor of every backend.

Sets with exact truth (see mmalign.speech.evalsets):
  fsdd        strings of 3-8 spoken digits from FSDD (real speech, 5 speakers), random pauses / gains
  fsdd-noisy  the same strings with white noise at 15 dB SNR
  espeak      pairs of Harvard sentences by eSpeak NG voices other than the aligner's template
Methods:
  tts-dtw          mmalign's default backend (rate matching, voice search, silence dropped,
                   slope-constrained DTW, pause snapping)
  plain-tts-dtw    the plain recipe: eSpeak at 175 wpm + MFCC/deltas + symmetric2 DTW (aeneas-like)
  sphinx           mmalign's PocketSphinx backend (OOV pronunciations, wide-beam retry)
  pocketsphinx     PocketSphinx alone: set_align_text + seg() with default beams, nothing else
  ctc              needs emissions from a CTC acoustic model; none ships offline, so not run here
Long audio (--long-minutes, default 5; 60 for the hour test): RTF and peak RSS of tts-dtw on a
file, in a fresh process.

Usage: python benchmarks/speech.py [--items 30] [--long-minutes 5] [--sets fsdd,espeak]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"


def _pocketsphinx_alone(samples, transcript):
    import pocketsphinx as ps

    from mmalign.speech import Span, SpeechAlignment

    if not hasattr(_pocketsphinx_alone, "decoder"):
        cfg = ps.Config()
        cfg["loglevel"] = "FATAL"
        cfg["lm"] = None
        _pocketsphinx_alone.decoder = ps.Decoder(cfg)
    d = _pocketsphinx_alone.decoder
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    from mmalign.speech import tokenize

    words = [w.lower() for w, _, _ in tokenize(transcript)]
    d.set_align_text(" ".join(words))
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()
    if d.hyp() is None:
        raise RuntimeError("no alignment")
    seg = [s for s in d.seg() if not s.word.startswith(("<", "["))]
    if len(seg) != len(words):
        raise RuntimeError("partial alignment")
    return SpeechAlignment(
        words=[Span(s.word, s.start_frame / 100, (s.end_frame + 1) / 100) for s in seg]
    )


def methods():
    from mmalign.speech import align
    from mmalign.speech.tts_dtw import TTSDTWConfig

    plain = TTSDTWConfig(
        voices=("",),
        rate=175,
        silence="keep",
        snap=0.0,
        step_pattern="symmetric2",
        drop_c0=False,
        deltas=True,
        open_ends=False,
    )
    return {
        "tts-dtw": lambda x, t: align(x, t, sample_rate=16000),
        "plain-tts-dtw": lambda x, t: align(x, t, sample_rate=16000, config=plain),
        "sphinx": lambda x, t: align(x, t, sample_rate=16000, backend="sphinx"),
        "pocketsphinx": _pocketsphinx_alone,
    }


def evaluate(items, fn):
    from mmalign.speech.evaluate import boundary_errors

    errs, failed, wall, cpu, dur = [], 0, 0.0, 0.0, 0.0
    for it in items:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            hyp = fn(it.audio, it.transcript)
        except Exception:
            failed += 1
            continue
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        dur += it.duration
        errs.append(boundary_errors(hyp, it.words).errors)
    a = np.abs(np.concatenate(errs)) if errs else np.array([np.nan])
    return {
        "mae_ms": 1000 * float(a.mean()),
        "median_ms": 1000 * float(np.median(a)),
        "within20": float(np.mean(a <= 0.02)),
        "within50": float(np.mean(a <= 0.05)),
        "within100": float(np.mean(a <= 0.1)),
        "rtf": wall / dur if dur else float("nan"),
        "cpu_rtf": cpu / dur if dur else float("nan"),
        "failed": failed,
        "items": len(items),
    }


def long_audio(minutes: float) -> dict:
    """Write a long recording of eSpeak sentences, align it in a fresh process, read RSS."""
    import soundfile as sf

    from mmalign.speech.evalsets import espeak_sentences

    target = minutes * 60
    tmp = Path(tempfile.mkdtemp(prefix="mmalign_long_"))
    wav, txt, ref = tmp / "long.wav", tmp / "long.txt", tmp / "ref.json"
    words, texts, t, seed = [], [], 0.0, 0
    with sf.SoundFile(str(wav), "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
        while t < target:
            for it in espeak_sentences(n_items=20, seed=seed):
                f.write(it.audio)
                words += [
                    {"label": w.label, "start": w.start + t, "end": w.end + t} for w in it.words
                ]
                texts.append(it.transcript)
                t += it.duration
            seed += 1
    txt.write_text("\n".join(texts))
    ref.write_text(json.dumps(words))
    code = (
        "import json, resource, sys, time;"
        "from pathlib import Path;"
        "from mmalign.speech import align, read_alignment, boundary_errors;"
        "t0, c0 = time.perf_counter(), time.process_time();"
        f"a = align(Path({str(wav)!r}), Path({str(txt)!r}));"
        "el, cpu = time.perf_counter() - t0, time.process_time() - c0;"
        f"r = boundary_errors(a, read_alignment({str(ref)!r}));"
        "print(json.dumps({'seconds': el, 'cpu_seconds': cpu, 'duration': a.duration, 'chunks': a.info.get('chunks'),"
        "'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        "'mae_ms': 1000 * r.mae, 'within50': r.within[0.05]}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["rtf"] = res["seconds"] / res["duration"]
    res["cpu_rtf"] = res["cpu_seconds"] / res["duration"]
    for p in (wav, txt, ref):
        p.unlink()
    tmp.rmdir()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=30, help="FSDD strings per set (espeak: a third)")
    ap.add_argument("--sets", default="fsdd,fsdd-noisy,espeak")
    ap.add_argument("--methods", default="tts-dtw,plain-tts-dtw,sphinx,pocketsphinx")
    ap.add_argument("--long-minutes", type=float, default=5.0, help="0 skips the long-audio run")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    from mmalign.speech.evalsets import espeak_sentences, fsdd_digit_strings

    sets = {}
    wanted = args.sets.split(",")
    if FSDD.is_dir():
        if "fsdd" in wanted:
            sets["fsdd"] = fsdd_digit_strings(FSDD, n_items=args.items, seed=0)
        if "fsdd-noisy" in wanted:
            sets["fsdd-noisy"] = fsdd_digit_strings(
                FSDD, n_items=args.items, seed=0, noise_snr_db=15
            )
    else:
        print(f"FSDD not found at {FSDD}; skipping the real-speech sets")
    if "espeak" in wanted:
        sets["espeak"] = espeak_sentences(n_items=max(3, args.items // 3), seed=0)
    table = methods()
    # warm up (numba compilation, model loading) outside the timings
    warm = espeak_sentences(n_items=1, seed=99)[0]
    for name in args.methods.split(","):
        try:
            table[name](warm.audio, warm.transcript)
        except Exception:
            pass
    results = {}
    print(
        f"{'set':11s} {'method':14s} {'MAE ms':>7s} {'med ms':>7s} {'<=20':>6s} {'<=50':>6s} {'<=100':>6s} {'RTF':>7s} {'cpuRTF':>7s} failed"
    )
    for sname, items in sets.items():
        for mname in args.methods.split(","):
            r = evaluate(items, table[mname])
            results[f"{sname}/{mname}"] = r
            print(
                f"{sname:11s} {mname:14s} {r['mae_ms']:7.1f} {r['median_ms']:7.1f} "
                f"{100 * r['within20']:5.1f}% {100 * r['within50']:5.1f}% {100 * r['within100']:5.1f}% "
                f"{r['rtf']:7.4f} {r['cpu_rtf']:7.4f} {r['failed']}/{r['items']}"
            )
        print(f"{'':11s} {'ctc':14s} n/a (needs emissions of a CTC acoustic model; none offline)")
        if "tts-dtw" in table and f"{sname}/plain-tts-dtw" in results:
            ours, plain = results[f"{sname}/tts-dtw"], results[f"{sname}/plain-tts-dtw"]
            print(
                f"{'':11s} ratio MAE plain-tts-dtw / tts-dtw = {plain['mae_ms'] / ours['mae_ms']:.1f}x"
            )
        if f"{sname}/pocketsphinx" in results and f"{sname}/tts-dtw" in results:
            ours, ps_ = results[f"{sname}/tts-dtw"], results[f"{sname}/pocketsphinx"]
            print(
                f"{'':11s} ratio MAE pocketsphinx / tts-dtw = {ps_['mae_ms'] / ours['mae_ms']:.1f}x"
            )
    if args.long_minutes > 0:
        r = long_audio(args.long_minutes)
        results["long"] = r
        print(
            f"long audio {r['duration'] / 60:.1f} min: RTF {r['rtf']:.4f} (CPU {r['cpu_rtf']:.4f}), peak RSS {r['peak_rss_mib']:.0f} MiB, "
            f"{r['chunks']} chunks, MAE {r['mae_ms']:.1f} ms, <=50ms {100 * r['within50']:.1f}%"
        )
    print(
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: wall-clock RTF is "
        f"inflated by other jobs; cpuRTF counts this process's CPU time)"
    )
    print(
        f"(this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
