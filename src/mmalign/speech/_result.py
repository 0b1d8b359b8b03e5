"""Result types of speech-text alignment."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Span", "SpeechAlignment", "TranscriptMismatchWarning"]


class TranscriptMismatchWarning(UserWarning):
    """The transcript does not seem to belong to the recording (few of its words found)."""


@dataclass
class Span:
    """One labelled interval of the recording.

    Attributes
    ----------
    label : str
        The word, phone or segment text.
    start, end : float
        Seconds from the start of the recording, ``start <= end``.
    score : float
        Confidence in [0, 1] where the backend provides one (``nan`` otherwise).
        ``start`` and ``end`` are ``nan`` for a word the recording does not hold (see
        :attr:`SpeechAlignment.unaligned`).
    """

    label: str
    start: float
    end: float
    score: float = float("nan")

    def __post_init__(self) -> None:
        self.start, self.end, self.score = float(self.start), float(self.end), float(self.score)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def aligned(self) -> bool:
        """False for a word left without times (``nan``)."""
        return self.start == self.start and self.end == self.end


@dataclass
class SpeechAlignment:
    """Time-aligned transcript.

    Attributes
    ----------
    words : list of Span
        One per word of :func:`mmalign.speech.tokenize` (transcript), in order.
    phones : list of Span
        Phone intervals where the backend gives them (empty otherwise).
    segments : list of Span
        One per non-empty transcript line when the transcript has several lines.
    duration : float
        Length of the recording in seconds.
    backend : str
        The backend that produced the alignment.
    language : str
        Language / voice of the transcript.
    cost : float
        The backend's normalised alignment cost (lower is better; ``nan`` when none).
    info : dict
        Backend details (voice and rate chosen, number of chunks, ``mismatch`` ...).
    unaligned : list of dict
        ``{"index", "word", "reason"}`` for each word left without times (its ``Span`` in
        ``words`` has ``nan`` start and end).
    """

    words: list[Span]
    phones: list[Span] = field(default_factory=list)
    segments: list[Span] = field(default_factory=list)
    duration: float = 0.0
    backend: str = ""
    language: str = ""
    cost: float = float("nan")
    info: dict[str, Any] = field(default_factory=dict)
    unaligned: list[dict[str, Any]] = field(default_factory=list)

    def __repr__(self) -> str:
        n_al = sum(w.aligned for w in self.words)
        first = ", ".join(
            f"{w.label!r} {w.start:.2f}-{w.end:.2f}" for w in self.words[:3] if w.aligned
        )
        more = ", ..." if len(self.words) > 3 else ""
        flags = "".join(
            f", {k}={self.info[k]!r}" for k in ("mismatch", "support") if k in self.info
        )
        return (
            f"SpeechAlignment(backend={self.backend!r}, duration={self.duration:.2f} s, "
            f"words={len(self.words)} ({n_al} aligned) [{first}{more}], "
            f"phones={len(self.phones)}, segments={len(self.segments)}{flags})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``nan`` scores become ``None``)."""

        def clean(v):
            if isinstance(v, float) and v != v:
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return clean(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeechAlignment:
        """Inverse of :meth:`to_dict`."""

        def spans(key):
            out = []
            for s in d.get(key) or []:
                score = s.get("score")
                start, end = s.get("start"), s.get("end")
                out.append(
                    Span(
                        str(s["label"]),
                        float("nan") if start is None else float(start),
                        float("nan") if end is None else float(end),
                        float("nan") if score is None else float(score),
                    )
                )
            return out

        cost = d.get("cost")
        return cls(
            words=spans("words"),
            phones=spans("phones"),
            segments=spans("segments"),
            duration=float(d.get("duration") or 0.0),
            backend=str(d.get("backend") or ""),
            language=str(d.get("language") or ""),
            cost=float("nan") if cost is None else float(cost),
            info=dict(d.get("info") or {}),
            unaligned=[dict(u) for u in d.get("unaligned") or []],
        )
