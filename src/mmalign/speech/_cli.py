"""``mmalign align-speech`` and ``mmalign eval-speech``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "align-speech",
        help="align a transcript to a recording (word and phone times)",
        description=(
            "Align AUDIO with TRANSCRIPT (plain text, or one segment per line) and write "
            "OUT (.json, .TextGrid, .srt, .vtt or .csv). With --corpus DIR, align every "
            "(audio, same-name .txt) pair under DIR into the folder given by -o."
        ),
    )
    p.add_argument(
        "audio",
        nargs="?",
        help="audio file (any format soundfile reads); with --backend ctc, a .npy of CTC "
        "log-probabilities (T, C)",
    )
    p.add_argument("transcript", nargs="?", help="transcript text file (UTF-8)")
    p.add_argument("-o", "--output", required=True, help="output file, or folder with --corpus")
    p.add_argument(
        "--backend",
        default=None,
        choices=["sphinx", "tts-dtw", "ctc"],
        help="default: sphinx for English, tts-dtw for other languages",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 (writing nothing) when the transcript does not match the audio or words "
        "stay unaligned",
    )
    p.add_argument(
        "--vocabulary", metavar="FILE", help="ctc: token strings, one per line, line i = id i"
    )
    p.add_argument("--blank", type=int, default=0, help="ctc: id of the blank (default 0)")
    p.add_argument(
        "--frame-duration", type=float, default=0.02, help="ctc: seconds per frame (0.02)"
    )
    p.add_argument("--language", default="en", help="eSpeak NG language code (default en)")
    p.add_argument("--corpus", metavar="DIR", help="align a folder of (audio, .txt) pairs")
    p.add_argument(
        "--format",
        default="json",
        choices=["json", "TextGrid", "srt", "vtt", "csv"],
        help="output format with --corpus (default json)",
    )
    p.add_argument("--workers", type=int, default=None, help="local processes with --corpus")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address for --corpus")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_align_speech)

    e = subparsers.add_parser(
        "eval-speech",
        help="word-boundary errors of an alignment against a reference",
        description=(
            "Compare HYP with REF (files: .json, .TextGrid, .csv, .srt, .vtt; or two folders "
            "whose files pair by name) and print the word-boundary mean absolute error, "
            "median, and the share within 20 / 50 / 100 ms."
        ),
    )
    e.add_argument("hyp")
    e.add_argument("ref")
    e.add_argument("--tier", default=None, help="word tier name in TextGrids (default: words)")
    e.set_defaults(func=_eval_speech)

    x = subparsers.add_parser(
        "speech-example",
        help="write an example recording, its transcript and its true word times",
        description=(
            "Write DIR/example.wav (two sentences spoken by eSpeak NG, offline), "
            "DIR/example.txt (the transcript, one sentence per line) and DIR/truth.TextGrid "
            "(eSpeak's own word times) to try align-speech and eval-speech on."
        ),
    )
    x.add_argument("dir", nargs="?", default=".", help="output folder (default: .)")
    x.set_defaults(func=_speech_example)


EXAMPLE_TEXT = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
)


def _speech_example(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile as sf

    from .._utils import atomic_path
    from ._result import Span, SpeechAlignment
    from .io import write_alignment
    from .tts import synthesize

    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    sr, t, parts, words = 16000, 0.0, [], []
    rng = np.random.default_rng(0)
    for k, text in enumerate(EXAMPLE_TEXT):
        pause = np.zeros(int((0.4 if k == 0 else 0.6) * sr), np.float32)
        parts.append(pause)
        t += len(pause) / sr
        s = synthesize(text, voice="en-us+f2", rate=150, sample_rate=sr)
        parts.append(s.samples)
        words += [Span(w, a + t, b + t) for w, a, b in s.words]
        t += len(s.samples) / sr
    parts.append(np.zeros(int(0.3 * sr), np.float32))
    audio = np.concatenate(parts)
    audio = (0.8 * audio + rng.normal(0, 1e-3, len(audio))).astype(np.float32)
    with atomic_path(out / "example.wav") as tmp:
        sf.write(str(tmp), audio, sr, subtype="PCM_16", format="WAV")
    with atomic_path(out / "example.txt") as tmp:
        Path(tmp).write_text("\n".join(EXAMPLE_TEXT) + "\n", encoding="utf-8")
    write_alignment(SpeechAlignment(words=words, duration=len(audio) / sr), out / "truth.TextGrid")
    print(
        f"wrote {out / 'example.wav'} ({len(audio) / sr:.2f} s), {out / 'example.txt'}, "
        f"{out / 'truth.TextGrid'}"
    )
    return 0


def _check_align_args(args: argparse.Namespace) -> None:
    """Fail before any aligning on an output that cannot be written or an input that is missing."""
    from .io import FORMATS

    out = Path(args.output)
    if args.corpus:
        if out.exists() and not out.is_dir():
            raise ValueError(f"-o {args.output!r} is a file; with --corpus, -o names a folder.")
        if not Path(args.corpus).is_dir():
            raise FileNotFoundError(f"--corpus {args.corpus!r} is not a folder; pass a folder.")
        return
    if out.is_dir():
        raise ValueError(f"-o {args.output!r} is a folder; name the output file, e.g. words.json.")
    if out.suffix.lower() not in FORMATS:
        raise ValueError(
            f"-o {args.output!r}: cannot tell the format from the suffix {out.suffix!r}; name "
            "the output with one of .json, .TextGrid, .srt, .vtt, .csv."
        )
    for flag, value in (("AUDIO", args.audio), ("TRANSCRIPT", args.transcript)):
        if value and not Path(value).is_file():
            raise FileNotFoundError(f"{flag} {value!r} does not exist (or is not a file).")
    if args.vocabulary and not Path(args.vocabulary).is_file():
        raise FileNotFoundError(f"--vocabulary {args.vocabulary!r} does not exist.")


def _align_speech(args: argparse.Namespace) -> int:
    _check_align_args(args)
    if args.corpus:
        if args.audio or args.transcript:
            raise ValueError("give either AUDIO TRANSCRIPT or --corpus DIR, not both.")
        from .corpus import align_corpus

        report = align_corpus(
            args.corpus,
            args.output,
            fmt=args.format,
            backend=args.backend,
            language=args.language,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=not args.quiet,
        )
        print(report.summary())
        return 0 if not report.failures else 1
    if not (args.audio and args.transcript):
        raise ValueError("align-speech needs AUDIO and TRANSCRIPT (or --corpus DIR).")
    import warnings

    from ._result import TranscriptMismatchWarning
    from .align import CTCOptions, align
    from .io import write_alignment

    if args.backend == "ctc":
        import numpy as np

        if not args.vocabulary:
            raise ValueError("--backend ctc needs --vocabulary FILE (one token per line).")
        try:
            emissions = np.load(args.audio, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(
                f"AUDIO {args.audio!r} is not a .npy array of CTC log-probabilities ({exc}); "
                "save the (T, C) array with numpy.save."
            ) from None
        vocab = Path(args.vocabulary).read_text(encoding="utf-8").split("\n")
        vocab = vocab[:-1] if vocab and vocab[-1] == "" else vocab
        result = align(
            None,
            Path(args.transcript),
            options=CTCOptions(
                emissions, vocab, blank=args.blank, frame_duration=args.frame_duration
            ),
        )
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TranscriptMismatchWarning)
            result = align(
                Path(args.audio),
                Path(args.transcript),
                backend=args.backend,
                language=args.language,
                progress=not args.quiet,
            )
    problems = []
    if result.info.get("mismatch"):
        problems.append(
            f"the transcript does not seem to belong to the audio (recognition found "
            f"{100 * result.info.get('support', 0):.0f}% of its words, over "
            f"{100 * result.info.get('coverage', 0):.0f}% of the speech)"
        )
    if result.unaligned:
        shown = ", ".join(repr(u["word"]) for u in result.unaligned[:5])
        more = " ..." if len(result.unaligned) > 5 else ""
        problems.append(f"{len(result.unaligned)} word(s) not found in the audio: {shown}{more}")
    for msg in problems:
        print(f"warning: {msg}", file=sys.stderr)
    if problems and args.strict:
        print("error: --strict: nothing written", file=sys.stderr)
        return 1
    out = write_alignment(result, args.output)
    n_al = sum(w.aligned for w in result.words)
    print(
        f"{n_al} of {len(result.words)} words aligned over {result.duration:.2f} s "
        f"(backend {result.backend}) -> {out}"
    )
    return 0


def _eval_speech(args: argparse.Namespace) -> int:
    import numpy as np

    from .evaluate import BoundaryReport, boundary_errors
    from .io import FORMATS, read_alignment

    hyp, ref = Path(args.hyp), Path(args.ref)
    if hyp.is_dir() != ref.is_dir():
        raise ValueError("HYP and REF must both be files or both be folders.")
    if hyp.is_dir():
        refs = {p.stem: p for p in ref.rglob("*") if p.suffix.lower() in FORMATS}
        pairs = [
            (h, refs[h.stem])
            for h in sorted(hyp.rglob("*"))
            if h.suffix.lower() in FORMATS and h.stem in refs
        ]
        if not pairs:
            raise ValueError(f"no files of {hyp} pair by name with files of {ref}.")
    else:
        pairs = [(hyp, ref)]
        for name, path in (("HYP", hyp), ("REF", ref)):
            if path.is_file() and path.suffix.lower() not in FORMATS:
                raise ValueError(
                    f"{name} {str(path)!r}: cannot tell the format from the suffix "
                    f"{path.suffix!r}; use a .json, .TextGrid, .csv, .srt or .vtt file."
                )

    def read(path: Path, **kw):
        try:
            return read_alignment(path, **kw)
        except ValueError as exc:  # a reader's message may not name the file
            if str(path) in str(exc) or path.name in str(exc):
                raise
            raise ValueError(
                f"{str(path)!r} cannot be read as an alignment ({exc}); pass a file written by "
                "align-speech or a reference TextGrid / JSON / CSV."
            ) from None

    errs, unmatched, n_ref, skipped = [], 0, 0, []
    for h, r in pairs:
        ref_a = read(r, tier=args.tier)
        rep = boundary_errors(read(h), ref_a)
        errs.append(rep.errors)
        unmatched += rep.n_unmatched
        n_ref += len(ref_a.words)
        if rep.n_unmatched:
            skipped.append(f"{h.name}: {rep.n_unmatched} of {len(ref_a.words)}")
    e = np.concatenate(errs)
    if len(e) == 0:
        raise ValueError(
            f"no word of {args.hyp} matches a word of {args.ref} (by label, in order); check "
            f"that both align the same transcript."
        )
    a = np.abs(e)
    total = BoundaryReport(
        float(a.mean()),
        float(np.median(a)),
        {t: float(np.mean(a <= t + 1e-9)) for t in (0.02, 0.05, 0.1)},
        len(a),
        unmatched,
        e,
    )
    print(f"{len(pairs)} file pair(s): {total.summary()}", file=sys.stdout)
    if unmatched:
        print(
            f"skipped {unmatched} of {n_ref} reference words with no hypothesis word of the same "
            f"label at that place ({'; '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''})",
            file=sys.stdout,
        )
    return 0
