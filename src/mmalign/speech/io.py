"""Reading and writing alignments: JSON, Praat TextGrid, SRT, WebVTT and CSV (atomic writes)."""

from __future__ import annotations

import csv
import io as _io
import json
import os
from pathlib import Path

from .._utils import atomic_path, atomic_write, check_option
from ._result import Span, SpeechAlignment

__all__ = ["write_alignment", "read_alignment", "FORMATS"]

FORMATS = {".json": "json", ".textgrid": "textgrid", ".srt": "srt", ".vtt": "vtt", ".csv": "csv"}


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        return check_option(fmt, "fmt", sorted(set(FORMATS.values())))
    key = path.suffix.lower()
    if key not in FORMATS:
        raise ValueError(
            f"cannot tell the format of {path.name!r} from its suffix; use one of "
            f"{', '.join(sorted(FORMATS))} or pass fmt=."
        )
    return FORMATS[key]


def write_alignment(
    alignment: SpeechAlignment, path: str | os.PathLike, *, fmt: str | None = None
) -> Path:
    """Write ``alignment`` to ``path`` atomically, in the format its suffix names.

    ``.json`` (everything), ``.TextGrid`` (tiers words, phones and segments when present),
    ``.srt`` / ``.vtt`` (one cue per segment, or per word without segments), ``.csv``
    (``tier,label,start,end,score`` rows).
    """
    if not isinstance(alignment, SpeechAlignment):
        raise TypeError(f"alignment must be a SpeechAlignment, got {type(alignment).__name__}.")
    path = Path(path)
    kind = _format(path, fmt)
    if kind == "json":
        with atomic_write(path) as fh:
            json.dump(alignment.to_dict(), fh, indent=1, ensure_ascii=False)
    elif kind == "csv":
        with atomic_write(path, newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["tier", "label", "start", "end", "score"])
            for tier in ("words", "phones", "segments"):
                for s in getattr(alignment, tier):
                    w.writerow(
                        [
                            tier,
                            s.label,
                            f"{s.start:.4f}" if s.aligned else "",
                            f"{s.end:.4f}" if s.aligned else "",
                            "" if s.score != s.score else f"{s.score:.4f}",
                        ]
                    )
    elif kind == "textgrid":
        _write_textgrid(alignment, path)
    else:
        import pysubs2

        subs = pysubs2.SSAFile()
        for s in alignment.segments or alignment.words:
            if not s.aligned:
                continue
            subs.append(
                pysubs2.SSAEvent(
                    start=int(round(s.start * 1000)), end=int(round(s.end * 1000)), text=s.label
                )
            )
        with atomic_write(path) as fh:
            fh.write(subs.to_string("srt" if kind == "srt" else "vtt"))
    return path


def _tier_entries(spans: list[Span], duration: float):
    out, last = [], 0.0
    for s in spans:
        if not s.aligned:
            continue
        start, end = max(s.start, last), min(s.end, duration)
        if end - start > 1e-6 and s.label.strip():
            out.append((round(start, 6), round(end, 6), s.label))
            last = end
    return out


def _write_textgrid(alignment: SpeechAlignment, path: Path) -> None:
    from praatio import textgrid

    duration = max(
        [alignment.duration]
        + [s.end for s in alignment.words + alignment.phones + alignment.segments if s.aligned]
    )
    tg = textgrid.Textgrid(0.0, duration)
    for name in ("words", "phones", "segments"):
        spans = getattr(alignment, name)
        if name != "words" and not spans:
            continue
        tg.addTier(textgrid.IntervalTier(name, _tier_entries(spans, duration), 0.0, duration))
    with atomic_path(path) as tmp:
        tg.save(str(tmp), format="long_textgrid", includeBlankSpaces=True)


def read_alignment(
    path: str | os.PathLike, *, fmt: str | None = None, tier: str | None = None
) -> SpeechAlignment:
    """Read an alignment written by :func:`write_alignment`, or a reference TextGrid / JSON.

    For a TextGrid, ``tier`` names the word tier (default: ``words``, else the first interval
    tier whose name contains "word", else the first tier); empty intervals are skipped.
    JSON may also be a plain list of ``{"word"|"label", "start", "end"}`` objects.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"alignment file {str(path)!r} does not exist.")
    kind = _format(path, fmt)
    if kind == "json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            data = {
                "words": [
                    {"label": d.get("label", d.get("word")), "start": d["start"], "end": d["end"]}
                    for d in data
                ]
            }
        return SpeechAlignment.from_dict(data)
    if kind == "textgrid":
        from praatio import textgrid

        tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
        names = tg.tierNames
        if tier is None:
            cands = (
                [n for n in names if n.lower() == "words"]
                or [n for n in names if "word" in n.lower()]
                or list(names)
            )
            tier = cands[0]
        if tier not in names:
            raise ValueError(f"tier {tier!r} not in {path.name}; its tiers are {', '.join(names)}.")
        words = [
            Span(e.label, float(e.start), float(e.end))
            for e in tg.getTier(tier).entries
            if e.label.strip()
        ]
        phones = []
        if "phones" in names and tier != "phones":
            phones = [
                Span(e.label, float(e.start), float(e.end))
                for e in tg.getTier("phones").entries
                if e.label.strip()
            ]
        return SpeechAlignment(words=words, phones=phones, duration=float(tg.maxTimestamp))
    if kind == "csv":
        rows = list(csv.DictReader(_io.StringIO(path.read_text(encoding="utf-8"))))
        tiers: dict[str, list[Span]] = {"words": [], "phones": [], "segments": []}
        for r in rows:
            score = float(r["score"]) if r.get("score") else float("nan")
            nan = float("nan")
            tiers.setdefault(r["tier"], []).append(
                Span(
                    r["label"],
                    float(r["start"]) if r["start"] else nan,
                    float(r["end"]) if r["end"] else nan,
                    score,
                )
            )
        return SpeechAlignment(
            words=tiers["words"], phones=tiers["phones"], segments=tiers["segments"]
        )
    import pysubs2

    subs = pysubs2.load(str(path))
    return SpeechAlignment(words=[Span(e.plaintext, e.start / 1000, e.end / 1000) for e in subs])
