"""Anchors from recognition constrained to the transcript: confidence, mismatch, long audio.

The recording is recognised by PocketSphinx with a bigram language model built from the
transcript's own words (in blocks of at most ``_BLOCK_SECONDS`` cut at the quietest moment,
so memory stays bounded; for long recordings only every second frame is scored). The
hypothesis is matched back to the transcript with a diff (:class:`difflib.SequenceMatcher`);
runs of at least ``_MIN_RUN`` words found in order are anchors. A run's edge word that
recognition heard twice in a row (once unmatched, often in a noisy pause) is no anchor.

Long recordings are then aligned like short clips: cut in a pause recognition found between
two anchors once a stretch is ``_MIN_STRETCH`` seconds long (:func:`_cuts`; at any anchor
after ``_MAX_STRETCH``), every stretch padded with the real pause around it (up to
``_MAX_PAD``) and force-aligned on its own (:func:`mmalign.speech.sphinx.force_align`),
which keeps the cost linear in the recording's length. Where a stretch's alignment
swallows a pause that recognition found (a word edge more than ``_EDGE_SLACK`` past
recognition's), or puts an anchored word more than ``_FAR`` seconds from where recognition
heard it, the stretch is cut there and each part aligned again (kept where every part
aligns). Where a stretch does not align, it is split at the anchor pair nearest its middle;
where it cannot be split, it is aligned together with its neighbouring words.

Words the transcript has and the audio lacks (:func:`_inserted`, :func:`_absent`): a word
recognition skipped although it found both neighbours next to each other, or the first of
a repeated word recognition did not hear twice, is dropped when its neighbours align only,
or clearly better, without it. Dropped words come back unaligned with a reason, as do words
no stretch can hold, except those recognition itself found (they keep recognition's times).

This is the recipe of Gentle (R. Ochshorn, M. Hawkins, https://github.com/lowerquality/gentle)
and of Moreno et al. (1998), "A recursive algorithm for the forced alignment of very long
audio segments", with PocketSphinx as the recogniser.
"""

from __future__ import annotations

import difflib
import os
import tempfile
import warnings
from collections import Counter

import numpy as np

from ._result import Span, SpeechAlignment, TranscriptMismatchWarning

__all__ = ["recognise", "match_runs", "recognition_support", "align_anchored"]

SR = 16000
_BLOCK_SECONDS = 30.0  # recognition blocks
_MIN_RUN = 3  # words found in order that make an anchor
_MIN_STRETCH = 5.0  # seconds before a stretch may end at a pause
_MAX_STRETCH = 15.0  # seconds after which a stretch ends at any anchored word boundary
_MIN_PAUSE = 0.15  # seconds of recognised pause where a stretch may end
_LONG_PAUSE = 0.5  # a stretch ends at the first such pause in its window, else the longest
_ABSENT_GAIN = 0.1  # log-score gain that marks a skipped word as absent from the audio
_ABSENT_WINDOWS = ((2, 0.1), (4, 0.3))  # (anchored words a side, seconds around them)
_EDGE_SLACK = 0.15  # seconds an edge word may reach past recognition's time into the padding
_EDGE_PAD = 0.1  # seconds of padding kept where the aligner took the rest for speech
_MAX_PAD = 1.0  # seconds of the neighbouring pause a stretch carries at each end
_PAD_MARGIN = 0.02  # seconds kept clear of the recognised neighbouring word
_CONTEXT_PAD = 0.3  # seconds around a stretch aligned again with its neighbouring words
_FAR = 0.3  # seconds between an anchored word's aligned and recognised start that cut there
_RECOGNITION = {"fwdflat": False, "bestpath": False, "maxhmmpf": 2000}
_RECOGNITION_BEAM = 1e-30
# long recordings: acoustic scores computed every second frame (PocketSphinx's ``ds``), which
# cut recognition's CPU time by ~40 % at ~1 % fewer anchored words on the long benchmark cases
_ANCHOR_DOWNSAMPLE = 2


def _norm(w: str) -> str:
    return w.lower()


# one pseudo-word per phone of the acoustic model: the garbage that competes with the
# transcript's words, so that audio of other words is recognised as phones, not as them
GARBAGE_PHONES = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
    "UH UW V W Y Z ZH"
).split()
_GARBAGE_MASS = 0.3


def garbage_word(phone: str) -> str:
    return f"_{phone.lower()}_"


def transcript_lm(tokens: list[str], garbage: float = _GARBAGE_MASS) -> str:
    """ARPA text of a bigram model of ``tokens``: uniform unigrams over the transcript's
    words (mass ``1 - garbage``) and over the phone pseudo-words (mass ``garbage``); bigrams
    seen in the transcript get half the mass, the rest backs off to the unigrams."""
    vocab = sorted(set(tokens))
    seq = ["<s>", *tokens, "</s>"]
    bigrams = sorted(set(zip(seq[:-1], seq[1:])))
    follow = Counter(a for a, _ in bigrams)
    p1 = np.log10((1.0 - garbage) / (len(vocab) + 1))
    pg = np.log10(garbage / len(GARBAGE_PHONES)) if garbage > 0 else None
    n_g = len(GARBAGE_PHONES) if garbage > 0 else 0
    lines = [
        "\\data\\",
        f"ngram 1={len(vocab) + 2 + n_g}",
        f"ngram 2={len(bigrams)}",
        "",
        "\\1-grams:",
    ]
    lines.append(f"{p1:.4f} </s>")
    lines.append("-99.0000 <s> -0.3010")
    lines += [f"{p1:.4f} {w} -0.3010" for w in vocab]
    if n_g:
        lines += [f"{pg:.4f} {garbage_word(p)} 0.0000" for p in GARBAGE_PHONES]
    lines += ["", "\\2-grams:"]
    lines += [f"{np.log10(0.5 / follow[a]):.4f} {a} {b}" for a, b in bigrams]
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def _blocks(samples: np.ndarray, seconds: float = _BLOCK_SECONDS) -> list[tuple[int, int]]:
    """(start, stop) sample ranges of at most ``seconds``, cut at the quietest 10 ms frame of
    the last fifth of each block."""
    n, size = len(samples), int(seconds * SR)
    out, s = [], 0
    hop = SR // 100
    while n - s > size:
        lo, hi = s + int(0.8 * size), s + size
        seg = samples[lo:hi]
        frames = seg[: len(seg) // hop * hop].reshape(-1, hop)
        cut = lo + int(np.argmin((frames.astype(np.float64) ** 2).sum(axis=1))) * hop + hop // 2
        out.append((s, cut))
        s = cut
    out.append((s, n))
    return out


def recognise(
    samples: np.ndarray, tokens: list[str], *, downsample: int = 1
) -> list[tuple[str, float, float]]:
    """Words and silences ``(label, start_s, end_s)`` recognised with the transcript's bigram
    model, block by block; ``downsample`` > 1 scores only every ``downsample``-th frame
    (faster, times still on the 10 ms grid).

    The recogniser gets a dictionary of the transcript's words and the phone pseudo-words
    only: with the full CMU dictionary, PocketSphinx spends seconds building its search.
    """
    import pocketsphinx as ps

    from .sphinx import FRAME_RATE, decoder, dict_word, to_pcm

    main = decoder(None)
    words = [dict_word(main, w) for w in tokens]
    lines = [f"{w} {main.lookup_word(w)}" for w in sorted(set(words))]
    lines += [f"{garbage_word(p)} {p}" for p in GARBAGE_PHONES]
    tmp = tempfile.mkdtemp(prefix="mmalign_lm_")
    dict_path, lm_path = os.path.join(tmp, "words.dict"), os.path.join(tmp, "words.arpa")
    try:
        with open(dict_path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        with open(lm_path, "w", encoding="utf-8") as fh:
            fh.write(transcript_lm(words, _GARBAGE_MASS))
        cfg = ps.Config()
        cfg["loglevel"] = "FATAL"
        cfg["dict"], cfg["lm"] = dict_path, lm_path
        cfg["beam"] = cfg["wbeam"] = cfg["pbeam"] = _RECOGNITION_BEAM
        for k, v in _RECOGNITION.items():
            cfg[k] = v
        cfg["ds"] = int(downsample)
        dec = ps.Decoder(cfg)
    finally:
        for f in (dict_path, lm_path):
            if os.path.exists(f):
                os.unlink(f)
        os.rmdir(tmp)
    cmn0 = dec.get_cmn()
    out = []
    for s, e in _blocks(samples):
        dec.set_cmn(cmn0)
        dec.start_utt()
        dec.process_raw(to_pcm(samples[s:e]), full_utt=True)
        dec.end_utt()
        if dec.hyp() is None:
            continue
        off = s / SR
        for g in dec.seg():
            label = g.word.split("(")[0]
            out.append(
                (label, off + g.start_frame / FRAME_RATE, off + (g.end_frame + 1) / FRAME_RATE)
            )
    return out


def match_runs(tokens: list[str], hyp: list[str]) -> list[tuple[int, int, int]]:
    """Matching blocks ``(token index, hyp index, size)`` of the diff of ``hyp`` against
    ``tokens``, in order."""
    sm = difflib.SequenceMatcher(
        a=[_norm(t) for t in tokens], b=[_norm(h) for h in hyp], autojunk=False
    )
    return [(b.a, b.b, b.size) for b in sm.get_matching_blocks() if b.size]


def _support(tokens, rec):
    """Per token: the recognised (start, end) where recognition found it in order, else None."""
    hyp = [(lab, a, b) for lab, a, b in rec if not lab.startswith(("<", "[", "+", "_"))]
    found: list[tuple[float, float] | None] = [None] * len(tokens)
    runs = match_runs(tokens, [h[0] for h in hyp])
    matched = {hb + k for _, hb, size in runs for k in range(size)}
    for ta, hb, size in runs:
        for k in range(size):
            found[ta + k] = (hyp[hb + k][1], hyp[hb + k][2])
        # a run's edge word that recognition also heard right outside the run (the same word
        # twice, once unmatched: often a word heard in a noisy pause) is no anchor: either
        # copy may be the one in the transcript
        for edge, out in ((hb, hb - 1), (hb + size - 1, hb + size)):
            if (
                0 <= out < len(hyp)
                and out not in matched
                and _norm(hyp[out][0]) == _norm(hyp[edge][0])
            ):
                found[ta + (edge - hb)] = None
    return found, runs, hyp


def _score(w: Span, r: tuple[float, float] | None) -> float:
    """Agreement of the aligned word with recognition: intersection over union of times."""
    if r is None or not np.isfinite(w.start):
        return 0.0
    inter = max(0.0, min(w.end, r[1]) - max(w.start, r[0]))
    union = max(w.end, r[1]) - min(w.start, r[0])
    return float(inter / union) if union > 0 else 0.0


def _coverage(rec) -> float:
    """Share of the recognised speech time that went to transcript words (not phones)."""
    words = sum(b - a for lab, a, b in rec if not lab.startswith(("<", "[", "+", "_")))
    garbage = sum(b - a for lab, a, b in rec if lab.startswith("_"))
    return words / (words + garbage) if words + garbage > 0 else 0.0


def _flag(result: SpeechAlignment, support: float, coverage: float, cfg) -> None:
    result.info["support"] = round(support, 4)
    result.info["coverage"] = round(coverage, 4)
    result.info["mismatch"] = bool(support < cfg.min_support or coverage < cfg.min_coverage)
    if result.info["mismatch"]:
        warnings.warn(
            f"the transcript does not seem to belong to this recording: recognition found "
            f"{100 * support:.0f}% of its words in order (at least {100 * cfg.min_support:.0f}% "
            f"expected) and gave them {100 * coverage:.0f}% of the speech (at least "
            f"{100 * cfg.min_coverage:.0f}% expected); check that audio and transcript match.",
            TranscriptMismatchWarning,
            stacklevel=4,
        )


def recognition_support(samples: np.ndarray, tokens: list[str], result: SpeechAlignment, cfg):
    """Score ``result.words`` by their agreement with recognition and flag a mismatch."""
    rec = recognise(samples, tokens)
    found, _, _ = _support(tokens, rec)
    for w, r in zip(result.words, found):
        w.score = _score(w, r)
    _flag(result, sum(r is not None for r in found) / max(1, len(tokens)), _coverage(rec), cfg)


def _inserted(tokens, found, runs, rec) -> set[int]:
    """Tokens that may be words the transcript has and the audio lacks (a filler, an
    inserted or a repeated word).

    - a token recognition skipped although it found both neighbours next to each other,
      with no pause or other sound between them;
    - the first of two equal tokens in a row where recognition did not find both copies,
      but found the words on either side of the pair.
    """
    at = {}
    for ta, hb, size in runs:
        for k in range(size):
            if found[ta + k] is not None:
                at[ta + k] = hb + k
    out = set()
    for i in range(1, len(tokens) - 1):
        if found[i] is not None or i - 1 not in at or i + 1 not in at:
            continue
        if at[i + 1] != at[i - 1] + 1:
            continue
        a, b = found[i - 1][1], found[i + 1][0]
        if b - a >= _MIN_PAUSE:
            continue
        if any(lab.startswith("_") and x < b and y > a for lab, x, y in rec):
            continue
        out.add(i)
    for i in range(1, len(tokens) - 2):
        if _norm(tokens[i]) != _norm(tokens[i + 1]):
            continue
        if found[i] is not None and found[i + 1] is not None:
            continue
        if found[i - 1] is not None and found[i + 2] is not None:
            out.add(i)
    return out


def _absent(samples, tokens, i, found, cfg) -> str:
    """Why token ``i`` (an :func:`_inserted` candidate) is not in the audio, or ``""``.

    The anchored words on each side are aligned with and without it, on their own audio (up
    to two words a side with 0.1 s around them, then up to four with 0.3 s); the word is taken
    as absent where they align only without it in every window that aligns at all, or where
    dropping it raises PocketSphinx's (frame-normalised) log path score by more than
    ``_ABSENT_GAIN`` in the first window where both align (short function words that
    recognition skips gain less than 0.06 on the long benchmark cases, so single-phone
    fillers such as "uh" stay aligned). A window where neither aligns says nothing; one where
    only the word's presence aligns keeps it. For a repeated word (``tokens[i + 1]`` is the
    same word) the window reaches past the second copy.
    """
    from .sphinx import force_align

    repeat = i + 1 < len(tokens) and _norm(tokens[i]) == _norm(tokens[i + 1])
    last = i + 1 if repeat else i
    why = ""
    for side, margin in _ABSENT_WINDOWS:
        lo, hi = max(0, i - side), min(len(tokens), last + side + 1)
        while lo < i and found[lo] is None:
            lo += 1
        while hi > last + 1 and found[hi - 1] is None:
            hi -= 1
        if lo == i or hi == last + 1:
            continue  # no anchored word on one side within this window
        t0 = max(0.0, found[lo][0] - margin)
        t1 = min(len(samples) / SR, found[hi - 1][1] + margin)
        x = samples[int(t0 * SR) : int(t1 * SR)]
        scores = []
        for toks in (tokens[lo:hi], tokens[lo:i] + tokens[i + 1 : hi]):
            seg, dec, _, _ = force_align(x, toks, cfg)
            scores.append(np.log(max(dec.hyp().score, 1e-300)) if seg is not None else None)
        with_it, without = scores
        if without is None:
            if with_it is None:
                continue  # this window says nothing
            return ""
        if with_it is not None:
            if without - with_it <= _ABSENT_GAIN:
                return ""
            why = f"they align better without it (log score +{without - with_it:.2f})"
            break
        why = "they do not align with it"
    if not why:
        return ""
    where = (
        "it repeats the next word, which recognition did not find twice"
        if repeat
        else "recognition found its neighbours next to each other"
    )
    return f"not in the audio between {t0:.2f} s and {t1:.2f} s: {where}, and {why}"


def _cuts(tokens, found) -> list[tuple[int, float, float]]:
    """Cut points ``(first token of the next stretch, pause start, pause end)`` between
    anchored words.

    A stretch ends in a recognised pause between two anchored words once it is
    ``_MIN_STRETCH`` seconds long and before it is ``_MAX_STRETCH`` seconds long, so
    stretches have the length of short clips: at the first pause of at least
    ``_LONG_PAUSE`` seconds in that window (a break between sentences more than a breath),
    else at its longest pause of at least ``_MIN_PAUSE`` seconds, else at its longest gap
    between anchored words.
    """
    cands = []
    run = 0
    for k in range(1, len(tokens)):
        a, b = found[k - 1], found[k]
        run = run + 1 if a is not None else 0
        if a is None or b is None or run < _MIN_RUN - 1:
            continue
        if k + 1 < len(tokens) and found[k + 1] is None:
            continue  # the anchor run must go on past the cut
        if b[0] >= a[1]:
            cands.append((k, a[1], b[0]))
    cuts, last = [], 0.0
    i = 0
    while i < len(cands):
        window = [c for c in cands[i:] if last + _MIN_STRETCH <= c[1] <= last + _MAX_STRETCH]
        paused = [c for c in window if c[2] - c[1] >= _MIN_PAUSE]
        if paused:
            long_ = [c for c in paused if c[2] - c[1] >= _LONG_PAUSE]
            pick = long_[0] if long_ else max(paused, key=lambda c: c[2] - c[1])
        elif window:
            pick = max(window, key=lambda c: c[2] - c[1])
        else:
            later = [c for c in cands[i:] if c[1] > last + _MAX_STRETCH]
            if not later:
                break
            pick = later[0]
        cuts.append(pick)
        last = (pick[1] + pick[2]) / 2
        i = next((j for j, c in enumerate(cands) if c[1] > pick[1]), len(cands))
    return cuts


def _word_spans(seg, x: np.ndarray, held: list[str], cfg) -> list[Span]:
    """The words ``held`` of a forced alignment ``seg`` of the samples ``x``, as spans: their
    edges refined when ``cfg.refine``, PocketSphinx's own word times otherwise (fillers and
    pauses left out)."""
    from .sphinx import refine_edges, refine_options

    if cfg.refine:
        return refine_edges(seg, x, held, **refine_options(cfg))
    spoken = [y for y in seg if not y[0].startswith(("<", "[", "+"))]
    return [Span(held[i], a, b) for i, (_, a, b) in enumerate(spoken)]


def _place(words, unaligned, tokens, indices, by_index, dropped, offset: float) -> None:
    """Append the words ``indices`` of a stretch to ``words``, shifted by the stretch's start
    ``offset`` (s); those its alignment left out (``by_index`` lacks them) get NaN times and an
    entry in ``unaligned`` with their reason from ``dropped``."""
    for i in indices:
        w = by_index.get(i)
        if w is None:
            words.append(Span(tokens[i], float("nan"), float("nan")))
            unaligned.append({"index": i, "word": tokens[i], "reason": dropped[i]})
        else:
            words.append(Span(w.label, w.start + offset, w.end + offset))


def align_anchored(samples: np.ndarray, tokens: list[str], cfg, *, language: str = "en"):
    """Stretch-by-stretch alignment between recognition anchors (see the module docstring)."""
    from .sphinx import fit_phones_to_words, force_align, phone_spans

    duration = len(samples) / SR
    rec = recognise(samples, tokens, downsample=_ANCHOR_DOWNSAMPLE)
    found, runs, _ = _support(tokens, rec)
    dropped: dict[int, str] = {}
    for i in sorted(_inserted(tokens, found, runs, rec)):
        # of a repeated word, one copy at most
        if i - 1 in dropped and _norm(tokens[i - 1]) == _norm(tokens[i]):
            continue
        if reason := _absent(samples, tokens, i, found, cfg):
            dropped[i] = reason
    cuts = _cuts(tokens, found)
    # stretch i holds tokens k_i..k_{i+1}-1 and the audio from within the pause before it
    # to within the pause after it: like a short clip, with its own leading / trailing silence
    bounds = [(0, 0.0, 0.0), *cuts, (len(tokens), duration, duration)]
    words: list[Span] = []
    phones: list[Span] = []
    unaligned: list[dict] = []
    no_phones: list[tuple[float, float]] = []
    owners: list[int] = []  # the token of each phone
    retried = False
    fallbacks = [0]  # stretches left to recognition's times
    spans: list[tuple[int, int, float, float]] = []  # stretches as finally aligned

    def stretch(k0: int, k1: int, t0: float, t1: float, tight: bool = False) -> None:
        """Align tokens k0..k1-1 to t0..t1; where that fails, split at the anchor pair
        nearest the middle and try each half (Moreno et al.'s recursion)."""
        nonlocal retried, phones
        part = tokens[k0:k1]
        if not part:
            return
        s0, s1 = int(round(t0 * SR)), int(round(t1 * SR))
        x = samples[s0:s1]
        seg = None
        keep = [i for i in range(k0, k1) if i not in dropped]
        if s1 - s0 >= SR // 20 and keep:
            seg, dec, pcm, r = force_align(x, [tokens[i] for i in keep], cfg)
            retried |= r
        if seg is not None:
            held = [tokens[i] for i in keep]
            ws = _word_spans(seg, x, held, cfg)
            by_index = dict(zip(keep, ws))
            # padding that the aligner took for speech: a stretch's first (last) word, an
            # anchor, starting (ending) far outside where recognition put it; align again
            # without that padding
            first, last = by_index[keep[0]], by_index[keep[-1]]
            r0, r1 = found[keep[0]], found[keep[-1]]
            retry = None
            if not tight and r0 is not None and first.start + t0 < r0[0] - _EDGE_SLACK:
                t0_ = max(t0, r0[0] - _EDGE_PAD)
                retry = [(k0, k1, t0_, t1, True)]
            elif not tight and r1 is not None and last.end + t0 > r1[1] + _EDGE_SLACK:
                retry = [(k0, k1, t0, min(t1, r1[1] + _EDGE_PAD), True)]
            # likewise inside: a word that swallowed a pause recognition found between two
            # anchors; cut the stretch in that pause (Moreno et al.'s recursion, at the place
            # where alignment and recognition disagree)
            for i in keep[1:] if retry is None else ():
                a, b = found[i - 1], found[i]
                if a is None or b is None or b[0] - a[1] < _MIN_PAUSE or i - 1 not in by_index:
                    continue
                if (
                    by_index[i].start + t0 < b[0] - _EDGE_SLACK
                    or by_index[i - 1].end + t0 > a[1] + _EDGE_SLACK
                ):
                    pad = min(b[0] - a[1] - _PAD_MARGIN, _MAX_PAD)
                    retry = [(k0, i, t0, a[1] + pad, False), (i, k1, b[0] - pad, t1, False)]
                    break
            # and anywhere: a word in a run of anchors put far from where recognition heard
            # it (a transcript word the audio lacks pushed it there); cut just before it
            for i in keep[1:] if retry is None else ():
                b = found[i]
                if b is None or abs(by_index[i].start + t0 - b[0]) <= _FAR or not _in_run(i):
                    continue
                prev = next((found[j] for j in range(i - 1, k0 - 1, -1) if found[j]), None)
                p0 = max(t0, prev[1]) if prev is not None else t0
                pad = float(np.clip(b[0] - p0 - _PAD_MARGIN, 0.0, _MAX_PAD))
                if t0 < b[0] < t1:
                    retry = [(k0, i, t0, b[0], False), (i, k1, b[0] - pad, t1, False)]
                    break
            if retry is not None:
                # kept only where every part aligns; otherwise this alignment stands
                sizes = len(words), len(phones), len(unaligned), len(no_phones), fallbacks[0]
                n_spans = len(spans)
                for part_args in retry:
                    stretch(*part_args)
                if fallbacks[0] == sizes[4]:
                    return
                del words[sizes[0] :], phones[sizes[1] :], owners[sizes[1] :]
                del unaligned[sizes[2] :]
                del no_phones[sizes[3] :], spans[n_spans:]
                fallbacks[0] = sizes[4]
                seg, dec, pcm, _ = force_align(x, held, cfg)  # the decoder's state for phones
            _place(words, unaligned, tokens, range(k0, k1), by_index, dropped, t0)
            # no wide-beam retry of the phone pass here: on long recordings it costs more
            # than the rest of the alignment (a stretch whose phone pass fails has no phones)
            spans.append((k0, k1, round(t0, 3), round(t1, 3)))
            ph, at = phone_spans(dec, pcm, offset=t0)
            if len(set(at)) != len(keep):  # the phone pass lost a word: no phones here
                ph = []
            phones += ph
            owners.extend(keep[g] for g in at[: len(ph)])
            if not ph:
                no_phones.append((round(t0, 2), round(t1, 2)))
            return
        inner = [
            (k, (found[k - 1][1] + found[k][0]) / 2)
            for k in range(k0 + 1, k1)
            if found[k - 1] is not None
            and found[k] is not None
            and t0 < found[k - 1][1] <= found[k][0] < t1
        ]
        if inner:
            k, t = min(inner, key=lambda c: abs(c[1] - (t0 + t1) / 2))
            stretch(k0, k, t0, t)
            stretch(k, k1, t, t1)
            return
        if _in_context(k0, k1, t0, t1):
            return
        fallbacks[0] += 1
        for i, tok in enumerate(part, start=k0):
            r = found[i]
            if r is not None:
                words.append(Span(tok, r[0], r[1]))
            else:
                words.append(Span(tok, float("nan"), float("nan")))
                unaligned.append(
                    {
                        "index": i,
                        "word": tok,
                        "reason": f"not found in the audio between {t0:.2f} s and {t1:.2f} s "
                        f"(neither forced alignment of the stretch nor recognition holds it)",
                    }
                )

    def _in_run(i: int) -> bool:
        """Token i is one of at least ``_MIN_RUN`` consecutive anchored tokens."""
        lo = hi = i
        while lo > 0 and found[lo - 1] is not None:
            lo -= 1
        while hi + 1 < len(tokens) and found[hi + 1] is not None:
            hi += 1
        return hi - lo + 1 >= _MIN_RUN

    def _in_context(k0: int, k1: int, t0: float, t1: float) -> bool:
        """Align tokens k0..k1-1 together with one, else three, words on each side, over
        their audio and ``_CONTEXT_PAD`` seconds more: a short stretch cut between two
        anchors with no pause between them can leave a word no room to end in. Words only,
        no phones."""
        for n in (1, 3):
            c0, c1 = max(0, k0 - n), min(len(tokens), k1 + n)
            keep = [i for i in range(c0, c1) if i not in dropped]
            if not any(k0 <= i < k1 for i in keep):
                return False
            left = [found[i][0] for i in range(c0, k0) if found[i] is not None]
            right = [found[i][1] for i in range(k1, c1) if found[i] is not None]
            a = min([t0, *left]) - _CONTEXT_PAD
            b = max([t1, *right]) + _CONTEXT_PAD
            u0, u1 = max(0.0, a), min(duration, b)
            x = samples[int(round(u0 * SR)) : int(round(u1 * SR))]
            seg, _, _, _ = force_align(x, [tokens[i] for i in keep], cfg)
            if seg is not None:
                break
        else:
            return False
        ws = _word_spans(seg, x, [tokens[i] for i in keep], cfg)
        by_index = dict(zip(keep, ws))
        _place(words, unaligned, tokens, range(k0, k1), by_index, dropped, u0)
        spans.append((k0, k1, round(u0, 3), round(u1, 3)))
        no_phones.append((round(t0, 2), round(t1, 2)))
        return True

    def pad(p0: float, p1: float) -> float:
        return float(np.clip(p1 - p0 - _PAD_MARGIN, 0.0, _MAX_PAD))

    for (k0, a0, b0), (k1, a1, b1) in zip(bounds[:-1], bounds[1:]):
        t0 = max(0.0, b0 - pad(a0, b0)) if k0 > 0 else 0.0
        t1 = min(duration, a1 + pad(a1, b1)) if k1 < len(tokens) else duration
        stretch(k0, k1, t0, t1)
    for x, y in zip(words[:-1], words[1:]):  # stretches overlap in their padding
        if np.isfinite(x.end) and np.isfinite(y.start) and y.start < x.end:
            y.start = x.end
            y.end = max(y.end, y.start)
    for w, r in zip(words, found):
        w.score = _score(w, r)
        if np.isfinite(w.end):
            w.end = min(w.end, duration)
    fit_phones_to_words(words, phones, owners)
    result = SpeechAlignment(
        words=words,
        phones=phones,
        unaligned=unaligned,
        duration=duration,
        backend="sphinx",
        language=language,
        info={
            "retried": retried,
            "anchored": True,
            "stretches": len(bounds) - 1,
            "stretches_without_phones": no_phones,
            "stretch_bounds": spans,
        },
    )
    _flag(result, sum(r is not None for r in found) / max(1, len(tokens)), _coverage(rec), cfg)
    return result
