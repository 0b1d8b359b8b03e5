"""CTC forced alignment: the Viterbi path of a target sequence through CTC emissions.

Given frame log-probabilities from any CTC acoustic model (wav2vec 2.0, MMS, a small model
of your own), find the single most probable frame labelling that collapses to the target
tokens, then merge the frames of each token into spans and the tokens into words.

Reference: Graves et al. (2006), "Connectionist temporal classification: labelling
unsegmented sequence data with recurrent neural networks"; the interface follows
``torchaudio.functional.forced_align`` and ``merge_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._result import Span, SpeechAlignment
from .tts import tokenize

__all__ = ["TokenSpan", "CTCAlignment", "ctc_forced_align", "merge_tokens", "align_ctc"]


@dataclass
class TokenSpan:
    """Frames ``[start, end)`` labelled with ``token``; ``score`` = mean frame probability."""

    token: int
    start: int
    end: int
    score: float


@dataclass
class CTCAlignment:
    """Result of :func:`ctc_forced_align`.

    Attributes
    ----------
    labels : ndarray of shape (T,), int64
        Token id of every frame (the blank id where the path is on a blank).
    scores : ndarray of shape (T,), float64
        Log-probability of each frame's label.
    log_prob : float
        Log-probability of the whole path (the sum of ``scores``).
    spans : list of TokenSpan
        One per target token, in order.
    """

    labels: np.ndarray
    scores: np.ndarray
    log_prob: float
    spans: list[TokenSpan]


def _check_inputs(log_probs, targets, blank):
    lp = np.asarray(log_probs)
    if lp.ndim == 3 and lp.shape[0] == 1:
        lp = lp[0]
    if lp.ndim != 2 or not np.issubdtype(lp.dtype, np.floating):
        raise ValueError(
            f"log_probs must be a float array of shape (T, C), got shape {lp.shape} and dtype "
            f"{lp.dtype}; pass log_softmax outputs of one utterance."
        )
    T, C = lp.shape
    if T == 0:
        raise ValueError("log_probs has no frames (T = 0).")
    lp = np.ascontiguousarray(lp, dtype=np.float64)
    if np.isnan(lp).any():
        raise ValueError("log_probs holds NaN.")
    tg = np.asarray(targets)
    if tg.ndim == 2 and tg.shape[0] == 1:
        tg = tg[0]
    if tg.ndim != 1 or not np.issubdtype(tg.dtype, np.integer):
        raise ValueError(f"targets must be 1-D token ids, got shape {tg.shape} dtype {tg.dtype}.")
    if len(tg) == 0:
        raise ValueError("targets is empty; pass at least one token id.")
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)) or not 0 <= blank < C:
        raise ValueError(f"blank must be a class index in [0, {C}), got {blank!r}.")
    if tg.min() < 0 or tg.max() >= C:
        raise ValueError(f"targets must be class indices in [0, {C}), got {tg.min()}..{tg.max()}.")
    if (tg == blank).any():
        raise ValueError(f"targets must not contain the blank id {blank}.")
    repeats = int(np.sum(tg[1:] == tg[:-1]))
    if T < len(tg) + repeats:
        raise ValueError(
            f"log_probs has {T} frames but the {len(tg)} targets (with {repeats} repeats) need "
            f"at least {len(tg) + repeats}; the transcript is too long for the audio."
        )
    return lp, np.ascontiguousarray(tg, dtype=np.int64)


def ctc_forced_align(log_probs, targets, *, blank: int = 0) -> CTCAlignment:
    """Viterbi CTC alignment.

    Maximises ``sum_t log_probs[t, pi_t]`` over frame labellings ``pi`` (length T) with
    ``B(pi) = targets``, where ``B`` merges repeats and then removes blanks.

    Parameters
    ----------
    log_probs : array of shape (T, C) (or (1, T, C))
        Log-probabilities per frame.
    targets : array of shape (L,) (or (1, L)), int
        Token ids, without blanks.
    blank : int
        Id of the CTC blank.

    Returns
    -------
    CTCAlignment

    Examples
    --------
    >>> lp = np.log(np.array([[0.1, 0.9], [0.8, 0.2], [0.1, 0.9]]))
    >>> ctc_forced_align(lp, [1, 1], blank=0).labels.tolist()
    [1, 0, 1]
    """
    from ._kernels import ctc_viterbi

    lp, tg = _check_inputs(log_probs, targets, blank)
    states, score = ctc_viterbi(lp, tg, int(blank))
    labels = np.where(states % 2 == 0, blank, tg[np.maximum(states - 1, 0) // 2])
    scores = lp[np.arange(len(lp)), labels]
    spans = []
    t = 0
    T = len(states)
    while t < T:
        s = states[t]
        u = t
        while u < T and states[u] == s:
            u += 1
        if s % 2 == 1:
            spans.append(TokenSpan(int(tg[(s - 1) // 2]), t, u, float(np.exp(scores[t:u]).mean())))
        t = u
    return CTCAlignment(labels.astype(np.int64), scores, float(score), spans)


def merge_tokens(spans: Sequence[TokenSpan], word_lengths: Sequence[int]) -> list[list[TokenSpan]]:
    """Group consecutive token spans into words of ``word_lengths`` tokens each."""
    if sum(word_lengths) != len(spans):
        raise ValueError(
            f"word_lengths add up to {sum(word_lengths)} tokens but there are {len(spans)} spans."
        )
    out, k = [], 0
    for n in word_lengths:
        out.append(list(spans[k : k + n]))
        k += n
    return out


def align_ctc(
    log_probs,
    transcript: str,
    vocabulary: Sequence[str] | dict[str, int],
    *,
    blank: int = 0,
    frame_duration: float = 0.02,
    lowercase: bool = True,
    word_separator: str | None = "|",
) -> SpeechAlignment:
    """Word timings from CTC emissions of a character (or unit) model.

    Each word of :func:`mmalign.speech.tokenize` (transcript) is spelled with the
    vocabulary's tokens (characters missing from the vocabulary are skipped, as are word
    separators); the Viterbi path gives every token a span and every word the span from its
    first token's first frame to its last token's last frame.

    Parameters
    ----------
    log_probs : array of shape (T, C)
    transcript : str
    vocabulary : sequence of str or dict str -> int
        Token strings by id (``vocabulary[i]`` is id ``i``) or a token -> id mapping.
    blank : int
    frame_duration : float
        Seconds per emission frame (0.02 for wav2vec 2.0).
    lowercase : bool
        Lower-case the transcript when the vocabulary has no upper-case letters.
    word_separator : str, optional
        Token the model emits between words (``"|"`` in wav2vec 2.0 vocabularies); when the
        vocabulary has it, it is placed between the words of the target sequence.

    Returns
    -------
    SpeechAlignment
        ``words`` with the mean token probability as score; ``phones`` holds the token spans.
    """
    vocab = (
        dict(vocabulary)
        if isinstance(vocabulary, dict)
        else {t: i for i, t in enumerate(vocabulary)}
    )
    if lowercase and not any(t != t.lower() for t in vocab):
        transcript = transcript.lower()
    if not isinstance(frame_duration, (int, float)) or frame_duration <= 0:
        raise ValueError(
            f"frame_duration must be a positive number of seconds, got {frame_duration!r}."
        )
    words = tokenize(transcript)
    if not words:
        raise ValueError("transcript holds no words; pass the text spoken in the audio.")
    sep = vocab.get(word_separator) if word_separator is not None else None
    ids, lengths, is_word = [], [], []
    for k, (w, _, _) in enumerate(words):
        if sep is not None and k > 0:
            ids.append(sep)
            lengths.append(1)
            is_word.append(False)
        toks = [vocab[ch] for ch in w if ch in vocab and vocab[ch] not in (blank, sep)]
        if not toks:
            raise ValueError(
                f"word {w!r} has no character in the vocabulary; check the vocabulary or the "
                f"transcript's script / case."
            )
        ids.extend(toks)
        lengths.append(len(toks))
        is_word.append(True)
    res = ctc_forced_align(log_probs, np.asarray(ids, dtype=np.int64), blank=blank)
    inv = {i: t for t, i in vocab.items()}
    out, phones = [], []
    groups = [g for g, keep in zip(merge_tokens(res.spans, lengths), is_word) if keep]
    for (w, _, _), group in zip(words, groups):
        start, end = group[0].start * frame_duration, group[-1].end * frame_duration
        score = float(np.mean([g.score for g in group]))
        out.append(Span(w, start, end, score))
        for g in group:
            phones.append(
                Span(
                    inv.get(g.token, str(g.token)),
                    g.start * frame_duration,
                    g.end * frame_duration,
                    g.score,
                )
            )
    T = np.asarray(log_probs).shape[-2]
    return SpeechAlignment(
        words=out,
        phones=phones,
        duration=T * frame_duration,
        backend="ctc",
        cost=-res.log_prob / T,
        info={"log_prob": res.log_prob},
    )
