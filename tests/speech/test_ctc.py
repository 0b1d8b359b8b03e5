import itertools

import numpy as np
import pytest

from mmalign.speech.ctc import align_ctc, ctc_forced_align, merge_tokens


def _log_softmax(x):
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _collapse(path, blank):
    out, prev = [], None
    for p in path:
        if p != prev and p != blank:
            out.append(p)
        prev = p
    return out


def _brute_force(lp, targets, blank):
    """Best labelling by enumerating all C**T frame paths."""
    T, C = lp.shape
    best, best_path = -np.inf, None
    for path in itertools.product(range(C), repeat=T):
        if _collapse(path, blank) == list(targets):
            s = lp[np.arange(T), path].sum()
            if s > best:
                best, best_path = s, path
    return best, best_path


@pytest.mark.parametrize("seed", range(8))
def test_viterbi_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    T, C = int(rng.integers(3, 7)), int(rng.integers(2, 4))
    blank = int(rng.integers(C))
    others = [c for c in range(C) if c != blank]
    L = int(rng.integers(1, min(3, T) + 1))
    targets = rng.choice(others, size=L)
    repeats = int(np.sum(targets[1:] == targets[:-1]))
    if T < L + repeats:
        targets = targets[:1]
    lp = _log_softmax(rng.normal(size=(T, C)) * 2)
    best, path = _brute_force(lp, targets, blank)
    res = ctc_forced_align(lp, targets, blank=blank)
    assert res.log_prob == pytest.approx(best, abs=1e-9)
    assert res.scores.sum() == pytest.approx(best, abs=1e-9)
    assert _collapse(res.labels.tolist(), blank) == list(targets)
    assert [s.token for s in res.spans] == list(targets)


def test_hand_example_repeat_needs_blank():
    lp = np.log(np.array([[0.1, 0.9], [0.8, 0.2], [0.1, 0.9]]))
    res = ctc_forced_align(lp, [1, 1], blank=0)
    assert res.labels.tolist() == [1, 0, 1]
    assert [(s.start, s.end) for s in res.spans] == [(0, 1), (2, 3)]
    assert res.spans[0].score == pytest.approx(0.9)


def test_errors():
    lp = _log_softmax(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="need at least 3"):
        ctc_forced_align(lp, [1, 1], blank=0)
    with pytest.raises(ValueError, match="must not contain the blank"):
        ctc_forced_align(lp, [0], blank=0)
    with pytest.raises(ValueError, match="shape \\(T, C\\)"):
        ctc_forced_align(np.zeros(4), [1])
    with pytest.raises(ValueError, match="blank must be a class index"):
        ctc_forced_align(lp, [1], blank=5)
    with pytest.raises(ValueError, match="add up to"):
        merge_tokens([], [1])


def test_align_ctc_words_from_planted_emissions():
    vocab = ["<b>", "a", "b", "c", "|"]
    # frames: blank blank a a blank b | c c blank a blank
    frames = [0, 0, 1, 1, 0, 2, 4, 3, 3, 0, 1, 0]
    lp = np.full((len(frames), len(vocab)), np.log(0.01))
    lp[np.arange(len(frames)), frames] = np.log(0.96)
    a = align_ctc(lp, "AB ca", vocab, frame_duration=0.02)
    assert [w.label for w in a.words] == ["ab", "ca"]
    assert a.words[0].start == pytest.approx(0.04) and a.words[0].end == pytest.approx(0.12)
    assert a.words[1].start == pytest.approx(0.14) and a.words[1].end == pytest.approx(0.22)
    assert [p.label for p in a.phones] == ["a", "b", "c", "a"]
    with pytest.raises(ValueError, match="no character in the vocabulary"):
        align_ctc(lp, "xyz", vocab)


def test_against_torchaudio_forced_align():
    F = pytest.importorskip("torchaudio.functional")
    import torch

    rng = np.random.default_rng(3)
    lp = _log_softmax(rng.normal(size=(40, 6)))
    targets = np.array([1, 2, 2, 3, 5, 1])
    res = ctc_forced_align(lp, targets, blank=0)
    ta, scores = F.forced_align(
        torch.from_numpy(lp)[None].float(), torch.from_numpy(targets)[None].int(), blank=0
    )
    assert scores[0].sum().item() == pytest.approx(res.log_prob, abs=1e-3)
