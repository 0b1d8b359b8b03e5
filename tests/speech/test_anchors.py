"""Anchored (stretch-by-stretch) alignment: cuts, skipped words, pause-side word ends."""

import numpy as np
import pytest

from mmalign.speech import anchors
from mmalign.speech.sphinx import SphinxConfig, refine_edges


def _found(times):
    return [None if t is None else (float(t[0]), float(t[1])) for t in times]


def test_cuts_end_stretches_at_the_first_anchored_pause_past_the_minimum():
    # words of 0.5 s back to back, with a 0.4 s pause before word 4 (too early, 2 s in)
    # and before words 12 and 14 (the first one past _MIN_STRETCH must be taken)
    times, t = [], 0.0
    for k in range(20):
        if k in (4, 12, 14):
            t += 0.4
        times.append((t, t + 0.5))
        t += 0.5
    tokens = [f"w{k}" for k in range(20)]
    cuts = anchors._cuts(tokens, _found(times))
    assert cuts, "no cut although anchored pauses exist past the minimum stretch"
    k, p0, p1 = cuts[0]
    assert k == 12 and p0 == pytest.approx(times[11][1]) and p1 == pytest.approx(times[12][0])
    assert all(b[1] - a[1] >= anchors._MIN_STRETCH for a, b in zip([(0, 0.0)], cuts))


def test_cuts_need_anchor_runs_on_both_sides():
    times = [
        (k * 0.5 + (0.4 if k >= 12 else 0.0), k * 0.5 + 0.5 + (0.4 if k >= 12 else 0.0))
        for k in range(20)
    ]
    found = _found(times)
    found[12] = None  # the word after the pause was not recognised: no anchor there
    cuts = anchors._cuts([f"w{k}" for k in range(20)], found)
    assert all(k != 12 and k != 13 for k, _, _ in cuts)


def test_skipped_word_between_adjacent_anchors_is_a_candidate():
    tokens = ["one", "two", "uh", "three", "four"]
    hyp = [("one", 0.0, 0.3), ("two", 0.3, 0.6), ("three", 0.62, 0.9), ("four", 0.9, 1.2)]
    found, runs, _ = anchors._support(tokens, hyp)
    assert anchors._inserted(tokens, found, runs, hyp) == {2}
    # a pause or other sound between the neighbours leaves room for the word: no candidate
    paused = [*hyp[:2], ("three", 0.9, 1.1), ("four", 1.1, 1.3)]
    found, runs, _ = anchors._support(tokens, paused)
    assert anchors._inserted(tokens, found, runs, paused) == set()
    garbage = [*hyp[:2], ("_ah_", 0.6, 0.62), *hyp[2:]]
    found, runs, _ = anchors._support(tokens, garbage)
    assert anchors._inserted(tokens, found, runs, garbage) == set()


def test_pause_side_word_end_moves_back_over_the_decaying_tail():
    sr = 16000
    rng = np.random.default_rng(0)
    t = np.arange(int(1.2 * sr)) / sr
    level = np.where(t < 0.1, 0.0, np.where(t < 0.5, 0.5, 0.5 * np.exp(-(t - 0.5) / 0.04)))
    x = (level * np.sin(2 * np.pi * 220 * t) + 3e-3 * rng.standard_normal(len(t))).astype(
        np.float32
    )
    segments = [("<sil>", 0.0, 0.1), ("word", 0.1, 0.75), ("<sil>", 0.75, 1.2)]
    plain = refine_edges(segments, x, ["word"], 0.2, end_level=0.0)[0]
    trimmed = refine_edges(segments, x, ["word"], 0.2, end_level=0.35)[0]
    assert 0.5 <= trimmed.end < plain.end, (trimmed, plain)
    assert trimmed.end < 0.65  # early in the decay (35 % of the way up from the floor)
    assert trimmed.start == plain.start


def test_end_level_is_checked():
    with pytest.raises(ValueError, match="end_level"):
        SphinxConfig(end_level=1.5)


def test_repeated_word_is_a_candidate_once_recognition_misses_a_copy():
    tokens = ["one", "two", "two", "three", "four"]
    hyp = [("one", 0.0, 0.3), ("two", 0.3, 0.6), ("three", 0.6, 0.9), ("four", 0.9, 1.2)]
    found, runs, _ = anchors._support(tokens, hyp)
    cands = anchors._inserted(tokens, found, runs, hyp)
    assert cands & {1, 2} and cands <= {1, 2}, cands
    # both copies recognised: the repeat is in the audio, no candidate
    both = [*hyp[:2], ("two", 0.6, 0.9), ("three", 0.9, 1.2), ("four", 1.2, 1.5)]
    found, runs, _ = anchors._support(tokens, both)
    assert anchors._inserted(tokens, found, runs, both) == set()


def _two_words_with_a_pause(pause_db: float, gap: float):
    """Two 0.4 s 'words' (220 Hz tones) with a ``gap`` of noise ``pause_db`` below them."""
    sr = 16000
    rng = np.random.default_rng(0)
    t = np.arange(int((0.9 + gap) * sr)) / sr
    on = ((t >= 0.05) & (t < 0.45)) | ((t >= 0.45 + gap) & (t < 0.85 + gap))
    x = np.where(on, 0.3 * np.sin(2 * np.pi * 220 * t), 0.0)
    x = x + 0.3 / np.sqrt(2) * 10 ** (pause_db / 20) * rng.standard_normal(len(t))
    return x.astype(np.float32)


def test_hidden_pause_is_put_back_between_words_joined_over_it():
    x = _two_words_with_a_pause(-30.0, 0.4)  # words 0.05-0.45 and 0.85-1.25 s
    # PocketSphinx gave the whole pause to the first word
    segments = [
        ("<sil>", 0.0, 0.05),
        ("one", 0.05, 0.84),
        ("two", 0.84, 1.25),
        ("<sil>", 1.25, 1.3),
    ]
    out = sphinx_hidden(segments, x)
    assert [s[0] for s in out] == ["<sil>", "one", "<sil>", "two", "<sil>"], out
    assert abs(out[1][2] - 0.45) < 0.03 and abs(out[3][1] - 0.85) < 0.03, out
    words = refine_edges(segments, x, ["one", "two"], 0.2, 0.35, hidden_pause=0.25)
    assert abs(words[0].end - 0.45) < 0.03 and abs(words[1].start - 0.85) < 0.03, words
    # a short gap (a stop closure) or a pause that is not much quieter stays with the word
    short = _two_words_with_a_pause(-30.0, 0.15)
    seg = [("<sil>", 0.0, 0.05), ("one", 0.05, 0.58), ("two", 0.58, 1.0), ("<sil>", 1.0, 1.05)]
    assert len(sphinx_hidden(seg, short)) == len(seg)
    loud = _two_words_with_a_pause(-12.0, 0.4)
    assert len(sphinx_hidden(segments, loud)) == len(segments)


def sphinx_hidden(segments, x):
    from mmalign.speech.sphinx import hidden_pauses

    return hidden_pauses(segments, x, 0.25, 21.0)


def test_a_word_recognition_heard_twice_at_a_run_edge_is_no_anchor():
    # "now" heard in the pause before the real one: either copy could be the transcript's
    tokens = ["made", "him", "now", "move", "the"]
    hyp = [
        ("made", 0.0, 0.3),
        ("him", 0.3, 0.6),
        ("now", 0.6, 0.8),
        ("<sil>", 0.8, 1.5),
        ("now", 1.5, 1.8),
        ("move", 1.8, 2.1),
        ("the", 2.1, 2.2),
    ]
    found, _, _ = anchors._support(tokens, hyp)
    assert found[2] is None
    assert all(found[k] is not None for k in (0, 1, 3, 4)), found
    # heard once: an anchor as before
    once = [h for k, h in enumerate(hyp) if k != 4]
    found, _, _ = anchors._support(tokens, once)
    assert found[2] == (0.6, 0.8)


def test_cuts_prefer_a_long_pause_in_the_window_else_the_longest():
    # words of 0.5 s; pauses before word 12 (0.2 s), 14 (0.6 s) and 16 (0.3 s): all in the
    # first stretch's window (5-15 s); the first pause of at least _LONG_PAUSE wins
    def times(pauses):
        out, t = [], 0.0
        for k in range(30):
            t += pauses.get(k, 0.0)
            out.append((t, t + 0.5))
            t += 0.5
        return _found(out)

    tokens = [f"w{k}" for k in range(30)]
    assert anchors._cuts(tokens, times({12: 0.2, 14: 0.6, 16: 0.3}))[0][0] == 14
    # no pause that long: the longest one
    assert anchors._cuts(tokens, times({12: 0.2, 14: 0.16, 16: 0.3}))[0][0] == 16
