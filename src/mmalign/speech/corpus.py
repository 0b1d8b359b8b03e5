"""Align a folder of (audio, .txt) pairs in local processes or on a Dask cluster."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .._utils import check_option

__all__ = ["CorpusReport", "align_corpus", "find_pairs"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".opus")


@dataclass
class CorpusReport:
    """Outcome of :func:`align_corpus`.

    Attributes
    ----------
    outputs : list of Path
        Files written, one per aligned item.
    failures : list of (str, str)
        ``(audio file, error message)`` per item that failed (it was skipped).
    unpaired : list of str
        Audio files without a transcript of the same name (``.txt``).
    audio_seconds, wall_seconds : float
        Total duration aligned and the time it took.
    """

    outputs: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    def summary(self) -> str:
        rtf = self.wall_seconds / self.audio_seconds if self.audio_seconds else float("nan")
        lines = [
            f"aligned {len(self.outputs)} item(s), {len(self.failures)} failed, "
            f"{len(self.unpaired)} without transcript; {self.audio_seconds:.1f} s of audio in "
            f"{self.wall_seconds:.1f} s (real-time factor {rtf:.3f})"
        ]
        lines += [f"  FAILED {name}: {msg}" for name, msg in self.failures]
        return "\n".join(lines)


def find_pairs(root: str | os.PathLike) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(audio, transcript) pairs under ``root`` (recursive) and the audio files with no .txt."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder {str(root)!r} does not exist.")
    pairs, unpaired = [], []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file():
            txt = p.with_suffix(".txt")
            (pairs.append((p, txt)) if txt.is_file() else unpaired.append(p))
    return pairs, unpaired


def _align_one(
    audio: str, txt: str, out: str, backend: str | None, language: str
) -> tuple[str, str, float]:
    """Worker: align one pair and write ``out``; never raises (returns the error text)."""
    try:
        import warnings

        from ._result import TranscriptMismatchWarning
        from .align import align
        from .io import write_alignment

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TranscriptMismatchWarning)
            result = align(Path(audio), Path(txt), backend=backend, language=language)
        if result.info.get("mismatch"):
            return audio, "transcript does not match the audio (flagged, not written)", 0.0
        write_alignment(result, out)
        return audio, "", result.duration
    except Exception as exc:  # reported and skipped, the rest go on
        return audio, f"{type(exc).__name__}: {exc}", 0.0


def align_corpus(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    fmt: str = "json",
    backend: str | None = None,
    language: str = "en",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> CorpusReport:
    """Align every (audio, same-name .txt) pair under ``root``; write ``out_dir/<rel>.<fmt>``.

    Parameters
    ----------
    root : path
        Folder searched recursively for audio files with a transcript beside them.
    out_dir : path
        Outputs mirror the folder structure of ``root``.
    fmt : {"json", "TextGrid", "srt", "vtt", "csv"}
    backend, language
        As in :func:`mmalign.speech.align`.
    workers : int, optional
        Local worker processes (default: CPU count, at most 4); 1 runs in this process.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the items run there.
    progress : bool
        tqdm progress bar.

    Returns
    -------
    CorpusReport
    """
    from tqdm.auto import tqdm

    fmt = check_option(fmt, "fmt", ["json", "TextGrid", "srt", "vtt", "csv"])
    pairs, unpaired = find_pairs(root)
    root, out_dir = Path(root), Path(out_dir)
    jobs = [
        (
            str(a),
            str(t),
            str(out_dir / a.relative_to(root).with_suffix(f".{fmt}")),
            backend,
            language,
        )
        for a, t in pairs
    ]
    report = CorpusReport(unpaired=[str(u) for u in unpaired])
    t0 = time.perf_counter()
    bar = tqdm(total=len(jobs), desc="align-speech", unit="file", disable=not progress)

    def collect(res: tuple[str, str, float], out: str) -> None:
        audio, err, dur = res
        if err:
            report.failures.append((audio, err))
        else:
            report.outputs.append(Path(out))
            report.audio_seconds += dur
        bar.update(1)

    if scheduler is not None:
        from dask.distributed import Client, as_completed

        with Client(scheduler) as client:
            futures = {client.submit(_align_one, *job, pure=False): job[2] for job in jobs}
            for fut in as_completed(list(futures)):
                collect(fut.result(), futures[fut])
    else:
        n = workers if workers is not None else min(4, os.cpu_count() or 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}.")
        if n == 1 or len(jobs) <= 1:
            for job in jobs:
                collect(_align_one(*job), job[2])
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            # spawn: libespeak-ng and numba state must not be forked mid-use
            with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(_align_one, *job): job[2] for job in jobs}
                for fut in as_completed(futures):
                    collect(fut.result(), futures[fut])
    bar.close()
    report.outputs.sort()
    report.wall_seconds = time.perf_counter() - t0
    return report
