import numpy as np
import pytest

from mmalign.data import DIGITS_AV_LABELS, DigitsAVConfig, load_digits_av, true_intervals
from mmalign.data.digits_av import generate_digits_av

TINY = dict(n_train=6, n_valid=3, n_test=3, n_digits=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_digits_av(cache_dir=tmp_path_factory.mktemp("cache"), **TINY)


def test_shapes_lengths_and_labels(tiny):
    assert tiny.input_dims == {"text": 11, "audio": 13, "vision": 192}
    assert tiny.task == "classification" and tiny.n_outputs == 4
    tr = tiny["train"]
    assert tr.lengths["text"].tolist() == [3] * 6
    # every digit appears in order in every stream; words are ~0.2-0.5 s at 100 frames/s
    seg_a = tr.extras["segments"]["audio"]
    seg_v = tr.extras["segments"]["vision"]
    assert np.all(np.diff(seg_a[:, :, 0], axis=1) > 0) and np.all(seg_a[:, :, 1] > seg_a[:, :, 0])
    assert np.all((seg_a[:, :, 1] - seg_a[:, :, 0]) >= 10)
    assert np.all(seg_v[:, :-1, 1] <= seg_v[:, 1:, 0])  # images keep the words' order
    assert np.all(seg_v[:, :, 1] > seg_v[:, :, 0])
    assert np.all(seg_a[:, -1, 1] <= tr.lengths["audio"])
    assert np.all(seg_v[:, -1, 1] <= tr.lengths["vision"])
    # padding is zero, labels follow their definitions
    for m in tiny.modalities:
        for i, n in enumerate(tr.lengths[m]):
            assert np.all(tr.features[m][i, n:] == 0)
    stress, emph, ink = tr.extras["marks"].transpose(1, 0, 2)
    assert np.all(emph.sum(1) == 1)
    focus = emph.argmax(1)
    np.testing.assert_array_equal(tr.labels, ink[np.arange(6), focus])
    np.testing.assert_array_equal(tr.extras["labels"]["text_audio"], stress[np.arange(6), focus])
    np.testing.assert_array_equal(tr.extras["labels"]["audio_only"], stress.sum(1))
    # the image of each digit lights the colour planes of its ink (red, green, blue, white)
    inks = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
    raw = tr.features["vision"][0]
    for j, (s, e) in enumerate(seg_v[0]):
        energy = np.array([np.abs(raw[s:e, 64 * c : 64 * (c + 1)]).sum() for c in range(3)])
        cosine = inks @ energy / np.linalg.norm(inks, axis=1) / np.linalg.norm(energy)
        assert int(np.argmax(cosine)) == ink[0, j]
    # the text stream spells the digits and their emphasis
    # the text lists the digits in a shuffled order: position p holds the digit of slot order[p]
    order = np.argsort(tr.extras["segments"]["text"][:, :, 0], axis=1)
    rows = np.arange(6)[:, None]
    np.testing.assert_array_equal(
        tr.features["text"][:, :, :10].argmax(-1), tr.extras["digits"][rows, order]
    )
    np.testing.assert_array_equal(tr.features["text"][:, :, 10], emph[rows, order])
    assert not np.all(order == np.arange(3))
    # the emphasized digit closes the transcript; inks are distinct within a sample
    assert np.all(tr.features["text"][:, -1, 10] == 1)
    assert all(len(set(row)) == 3 for row in ink)
    np.testing.assert_array_equal(
        tr.extras["labels"]["text_only"], tr.features["text"][:, -1, :10].argmax(-1)
    )
    assert set(tr.extras["labels"]) == set(DIGITS_AV_LABELS)


def test_deterministic_and_cached(tiny, tmp_path):
    again = load_digits_av(cache=False, **TINY)
    # every random choice is reproduced; eSpeak's waveforms may differ by a few samples
    np.testing.assert_array_equal(again["test"].features["text"], tiny["test"].features["text"])
    np.testing.assert_array_equal(again["test"].extras["marks"], tiny["test"].extras["marks"])
    assert again["test"].extras["speaker"] == tiny["test"].extras["speaker"]
    diff = again["test"].extras["segments"]["audio"] - tiny["test"].extras["segments"]["audio"]
    assert np.abs(diff).max() <= 2
    load_digits_av(cache_dir=tmp_path, **TINY)
    files = list((tmp_path / "digits-av").glob("*.npz"))
    assert len(files) == 1
    other = load_digits_av(cache=False, seed=1, **TINY)
    assert not np.array_equal(other["train"].extras["digits"], tiny["train"].extras["digits"])


def test_speakers_and_images_split():
    raw = generate_digits_av(DigitsAVConfig(**TINY))
    voices = {s: {v.split("|")[0] for v in raw[s]["speaker"]} for s in raw}
    assert voices["train"].isdisjoint(voices["test"]) and voices["train"].isdisjoint(
        voices["valid"]
    )


def test_true_intervals_match_segments(tiny):
    te = tiny["test"]
    ti = true_intervals(te, "text", "audio")
    order = np.argsort(te.extras["segments"]["text"][0, :, 0])
    np.testing.assert_array_equal(ti[0], te.extras["segments"]["audio"][0][order])
    tv = true_intervals(te, "vision", "text")
    seg_v = te.extras["segments"]["vision"][1]
    seg_t = te.extras["segments"]["text"][1]
    assert len(tv[1]) == te.lengths["vision"][1]
    for j, (s, e) in enumerate(seg_v):
        np.testing.assert_array_equal(tv[1][s:e], np.tile(seg_t[j], (e - s, 1)))
    # blank frames between two images belong to the nearer one
    e0, s1 = seg_v[0, 1], seg_v[1, 0]
    for f in range(e0, s1):
        near = 0 if (f + 0.5) - e0 <= s1 - (f + 0.5) else 1
        np.testing.assert_array_equal(tv[1][f], seg_t[near])
    # silence frames before the first word belong to the first digit
    ta = true_intervals(te, "audio", "vision")
    first = te.extras["segments"]["audio"][2, 0, 0]
    np.testing.assert_array_equal(
        ta[2][:first], np.tile(te.extras["segments"]["vision"][2, 0], (first, 1))
    )
    with pytest.raises(ValueError, match="valid options are: text, audio, vision"):
        true_intervals(te, "video", "audio")


def test_fsdd_recordings(fsdd_root, tmp_path):
    ds = load_digits_av(fsdd_root=str(fsdd_root), cache_dir=tmp_path, **TINY)
    assert ds.input_dims["audio"] == 13
    spk = {s.split("|")[0] for s in ds["test"].extras["speaker"]}
    assert spk == {"yweweler"}
    spoken = load_digits_av(text_order="spoken", cache=False, **TINY)["train"]
    np.testing.assert_array_equal(
        spoken.features["text"][:, :, :10].argmax(-1), spoken.extras["digits"]
    )


def test_config_errors():
    with pytest.raises(
        ValueError,
        match="Unknown label 'x'; valid options are: text_vision, ink_pair, ink_claims, text_audio",
    ):
        DigitsAVConfig(label="x")
    with pytest.raises(ValueError, match="n_digits must be an int from 2 to 10"):
        DigitsAVConfig(n_digits=11)
    with pytest.raises(ValueError, match="Unknown image_split 'writer'; valid options are"):
        DigitsAVConfig(image_split="writer")
    with pytest.raises(ValueError, match=r"Unknown digits-av option\(s\) \['n_samples'\]"):
        load_digits_av(n_samples=3, cache=False)
    with pytest.raises(FileNotFoundError, match="fsdd_root"):
        load_digits_av(fsdd_root="/nonexistent", cache=False, **TINY)


def test_select_modalities_and_load_dataset(tiny, tmp_path, monkeypatch):
    from mmalign.data import load_dataset

    sub = tiny.select(["vision", "text"])
    assert list(sub.input_dims) == ["vision", "text"]
    np.testing.assert_array_equal(sub["train"].labels, tiny["train"].labels)
    with pytest.raises(ValueError, match="non-empty subset"):
        tiny.select(["video"])
    monkeypatch.setenv("MMALIGN_CACHE", str(tmp_path))
    ds = load_dataset("digits-av", label="vision_only", **TINY)
    assert ds.n_outputs == 4 and ds["train"].labels.max() < 4
    assert list((tmp_path / "digits-av").glob("*.npz"))


def test_export_to_mult_pickle(tiny, tmp_path):
    from mmalign.data import load_mult_pickle, save_mult_pickle

    back = load_mult_pickle(save_mult_pickle(tiny, tmp_path / "digits_av_data_noalign.pkl"))
    for m in tiny.modalities:
        np.testing.assert_array_equal(back["test"].features[m], tiny["test"].features[m])
        np.testing.assert_array_equal(back["test"].lengths[m], tiny["test"].lengths[m])
    np.testing.assert_array_equal(back["train"].labels, tiny["train"].labels)


@pytest.mark.parametrize("how", ["random", "block"])
def test_image_pools_are_disjoint_and_cover_every_digit(how):
    from mmalign.data.digits_av import _digit_images

    pools = {s: _digit_images(s, how) for s in ("train", "valid", "test")}
    assert sum(len(x) for x, _ in pools.values()) == 1797
    seen = {s: {x.tobytes() for x in xs} for s, (xs, _) in pools.items()}
    assert not seen["train"] & seen["valid"] and not seen["train"] & seen["test"]
    assert not seen["valid"] & seen["test"]
    for _, digits in pools.values():
        assert set(digits.tolist()) == set(range(10))
    if how == "block":  # scikit-learn's file order
        from sklearn.datasets import load_digits

        np.testing.assert_array_equal(pools["train"][1], load_digits().target[:1078])


def test_ink_claims_label_needs_every_word_paired_with_its_image(tmp_path):
    from mmalign.data.digits_av import _draw_claims

    # the claims are distinct inks; the count of true claims is uniform over the possible ones
    rng = np.random.default_rng(0)
    ink = np.array([2, 0, 3, 1])
    counts = [int((_draw_claims(ink, rng) == ink).sum()) for _ in range(400)]
    assert set(counts) == {0, 1, 2, 4}  # three true claims force the fourth
    assert min(np.bincount(counts)[[0, 1, 2, 4]]) > 70
    ds = load_digits_av(cache_dir=tmp_path, n_train=300, n_valid=2, n_test=2, label="ink_claims")
    tr = ds["train"]
    assert ds.input_dims["text"] == 15 and ds.n_outputs == 5
    claims, ink = tr.extras["claims"], tr.extras["marks"][:, 2]
    np.testing.assert_array_equal(tr.labels, (claims == ink).sum(1))
    # each token's claim columns hold the claim for its own digit
    text = tr.features["text"]
    slot = tr.extras["segments"]["text"][:, :, 0]
    rows = np.arange(len(tr.labels))[:, None]
    np.testing.assert_array_equal(text[rows, slot, 11:].argmax(-1), claims)
    np.testing.assert_array_equal(text[rows, slot, :10].argmax(-1), tr.extras["digits"])
    # controls: neither stream alone tells the count. Text alone: the claims are distinct inks
    # whatever the count; video alone: the inks on screen are distinct whatever the count.
    assert all(len(set(c)) == 4 for c in claims) and all(len(set(i)) == 4 for i in ink)
    # the other labels' text is unchanged (no claim columns that would hint at an ink)
    assert (
        load_digits_av(cache_dir=tmp_path, n_train=300, n_valid=2, n_test=2).input_dims["text"]
        == 11
    )


def test_ink_pair_label_pairs_the_two_named_words_with_their_images(tmp_path):
    ds = load_digits_av(cache_dir=tmp_path, n_train=200, n_valid=2, n_test=2, label="ink_pair")
    tr = ds["train"]
    assert ds.input_dims["text"] == 11 and ds.n_outputs == 6
    marked, ink, digits = tr.extras["underline"], tr.extras["marks"][:, 2], tr.extras["digits"]
    assert (marked.sum(1) == 2).all()
    pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
    want = [pairs.index(tuple(sorted(ink[i][marked[i] == 1]))) for i in range(len(marked))]
    np.testing.assert_array_equal(tr.labels, want)
    # the text is the two marked digits, in random order (no query slot, no flag)
    assert tr.features["text"].shape[1] == 2 and (tr.lengths["text"] == 2).all()
    named = tr.features["text"][:, :, :10].argmax(-1)
    for i in range(len(marked)):
        assert sorted(named[i]) == sorted(digits[i][marked[i] == 1])
    first_is_earlier = [
        list(digits[i]).index(named[i][0]) < list(digits[i]).index(named[i][1])
        for i in range(len(marked))
    ]
    assert 0.3 < np.mean(first_is_earlier) < 0.7
    assert len(set(tr.labels.tolist())) == 6
    # ground truth: each word -> its image's frames; a frame of an unnamed image -> a named one
    for t, s in (("text", "vision"), ("vision", "text"), ("text", "audio")):
        iv = true_intervals(tr, t, s)
        assert all((x[:, 1] > x[:, 0]).all() for x in iv)
    tv = true_intervals(tr, "text", "vision")
    seg_v = tr.extras["segments"]["vision"]
    for i in range(len(marked)):
        for w in range(2):
            j = list(digits[i]).index(named[i][w])
            np.testing.assert_array_equal(tv[i][w], seg_v[i, j])
