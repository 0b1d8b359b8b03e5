"""Readers of AVLetters and UTD-MHAD on tiny files written in the corpora's formats."""

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from mmalign.data import (
    frame_times,
    load_avletters,
    load_dataset,
    load_utd_mhad,
    read_htk,
    sync_intervals,
)
from mmalign.data.avletters import AVLETTERS_SPEAKERS


def write_htk(path, frames, period_s=0.02, kind=326):
    frames = np.asarray(frames, np.float32)
    n, d = frames.shape
    header = np.array([(n, round(period_s * 1e7), 4 * d, kind)], dtype=">i4,>i4,>i2,>i2")
    path.write_bytes(header.tobytes() + frames.astype(">f4").tobytes())


@pytest.fixture(scope="module")
def avl_root(tmp_path_factory):
    """Letters A and B, one repetition, by every speaker: video T frames (60 x 80, MATLAB
    column order), audio 2 T frames of 26 MFCC whose first coefficient is the frame index."""
    root = tmp_path_factory.mktemp("avletters")
    (root / "Lips").mkdir()
    (root / "Audio" / "mfcc" / "Clean").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k, speaker in enumerate(AVLETTERS_SPEAKERS):
        for letter in "AB":
            t = 5 + k % 3
            img = rng.integers(0, 256, size=(60, 80, t)).astype(np.uint8)
            img[0, 0, :] = 255  # top-left pixel bright: survives pooling as the brightest block
            vid = img.reshape(4800, t, order="F")
            savemat(
                root / "Lips" / f"{letter}1_{speaker}-lips.mat",
                {"vid": vid, "siz": np.array([[60.0, 80.0, t]])},
            )
            mfcc = np.zeros((2 * t, 26), np.float32)
            mfcc[:, 0] = np.arange(2 * t)
            write_htk(root / "Audio" / "mfcc" / "Clean" / f"{letter}1_{speaker}.mfcc", mfcc)
    return root


def test_read_htk_header_and_frames(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5
    write_htk(tmp_path / "a.mfcc", x, period_s=0.01)
    frames, period = read_htk(tmp_path / "a.mfcc")
    np.testing.assert_array_equal(frames, x)
    assert period == pytest.approx(0.01)
    (tmp_path / "bad.mfcc").write_bytes((tmp_path / "a.mfcc").read_bytes()[:-4])
    with pytest.raises(ValueError, match="header says 3 frames"):
        read_htk(tmp_path / "bad.mfcc")


def test_avletters_splits_features_and_times(avl_root):
    ds = load_avletters(avl_root, standardize=False, center_video=False)
    assert ds.name == "avletters" and ds.n_outputs == 26
    assert ds.input_dims == {"audio": 26, "video": 300}
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 12, "valid": 4, "test": 4}
    assert set(ds["test"].extras["speaker"]) == {"Kate", "Stephen"}
    assert not set(ds["train"].extras["speaker"]) & {"Kate", "Stephen", "Nicola", "Bill"}
    tr = ds["train"]
    assert sorted(set(tr.labels.tolist())) == [0, 1]
    np.testing.assert_array_equal(tr.lengths["audio"], 2 * tr.lengths["video"])
    # pooled image of 4 x 4 blocks in (row, column) order: block (0, 0) holds the bright pixel
    i = 0
    n = tr.lengths["video"][i]
    raw = loadmat(avl_root / "Lips" / f"{tr.ids[i]}-lips.mat")["vid"]
    img = raw.reshape(60, 80, n, order="F").astype(np.float64) / 255
    expect = img[:4, 4:8, 0].mean()  # block row 0, column 1
    assert tr.features["video"][i, 0, 1] == pytest.approx(expect, rel=1e-5)
    np.testing.assert_array_equal(tr.features["audio"][i, : 2 * n, 0], np.arange(2 * n))
    assert np.all(tr.features["audio"][i, 2 * n :] == 0)
    # both streams span the utterance (video at 25 frames/s)
    ta, tv = tr.extras["times"]["audio"][i], tr.extras["times"]["video"][i]
    np.testing.assert_allclose(tv, (np.arange(n) + 0.5) / 25)
    np.testing.assert_allclose(ta, (np.arange(2 * n) + 0.5) / 50)


def test_avletters_standardized_on_training_frames(avl_root):
    centered = load_avletters(avl_root, standardize=False)["valid"]
    n = centered.lengths["video"][0]
    np.testing.assert_allclose(centered.features["video"][0, :n].mean(0), 0, atol=1e-6)
    ds = load_avletters(avl_root)
    tr = ds["train"]
    frames = np.concatenate(
        [tr.features["audio"][i, :n] for i, n in enumerate(tr.lengths["audio"])]
    )
    np.testing.assert_allclose(frames.mean(0), 0, atol=1e-5)
    assert frames[:, 0].std() == pytest.approx(1, rel=1e-4)


def test_sync_intervals_within_one_slow_frame(avl_root):
    s = load_avletters(avl_root)["test"]
    iv = sync_intervals(s, "video", "audio")
    n = s.lengths["video"][0]
    assert iv[0].shape == (n, 2)
    # video frame k is at (k + .5) / 25 s; audio frames within 1/25 s of it: 2k-1 .. 2k+2
    np.testing.assert_array_equal(iv[0][2], [3, 7])
    np.testing.assert_array_equal(iv[0][0], [0, 3])
    back = sync_intervals(s, "audio", "video", tolerance=0.0)  # nearest frame only
    np.testing.assert_array_equal(back[0][:4, 0], [0, 0, 1, 1])
    assert np.all(back[0][:, 1] - back[0][:, 0] == 1)
    with pytest.raises(ValueError, match="no frame times"):
        sync_intervals(s, "video", "text")


def test_frame_times_tile_the_interval():
    np.testing.assert_allclose(frame_times(4, 2.0), [0.25, 0.75, 1.25, 1.75])


def test_avletters_bad_folders(tmp_path, avl_root):
    with pytest.raises(FileNotFoundError, match=r"no Lips/\*-lips.mat under .*automl-in-action"):
        load_avletters(tmp_path)
    with pytest.raises(FileNotFoundError, match="no Lips"):
        load_dataset(f"avletters:{tmp_path}")
    with pytest.raises(ValueError, match="must be disjoint subsets"):
        load_avletters(avl_root, test_speakers=("Kate",), valid_speakers=("Kate",))
    with pytest.raises(ValueError, match="disjoint"):
        load_avletters(avl_root, test_speakers=("Nobody",))
    lips = tmp_path / "Lips"
    lips.mkdir()
    (lips / "A1_Anya-lips.mat").write_bytes((avl_root / "Lips" / "A1_Anya-lips.mat").read_bytes())
    with pytest.raises(FileNotFoundError, match=r"A1_Anya.mfcc is missing"):
        load_avletters(tmp_path)


@pytest.fixture(scope="module")
def utd_root(tmp_path_factory):
    """Actions 1-2, subjects 1-8, trials 1 and 4: inertial 2.5x the
    skeleton's frames; the skeleton's hip centre sits at (subject, 0, 0)."""
    root = tmp_path_factory.mktemp("utd")
    (root / "Inertial").mkdir()
    (root / "Skeleton").mkdir()
    rng = np.random.default_rng(1)
    for a in (1, 2):
        for s in range(1, 9):
            for t in (1, 4):
                if (a, s, t) == (2, 8, 4):
                    continue  # a missing sequence, as in the corpus
                n = 8 + s
                skel = rng.normal(size=(20, 3, n))
                skel[3] = np.array([s, 0.0, 0.0])[:, None]
                savemat(root / "Skeleton" / f"a{a}_s{s}_t{t}_skeleton.mat", {"d_skel": skel})
                iner = rng.normal(size=(round(2.5 * n), 6))
                savemat(root / "Inertial" / f"a{a}_s{s}_t{t}_inertial.mat", {"d_iner": iner})
    (root / "Inertial" / "a1_s1_t3_inertial.mat").write_bytes(
        (root / "Inertial" / "a1_s1_t1_inertial.mat").read_bytes()
    )  # no skeleton: skipped
    return root


def test_utd_mhad_cross_subject(utd_root):
    ds = load_utd_mhad(utd_root, standardize=False)
    assert ds.name == "utd-mhad" and ds.n_outputs == 27
    assert ds.input_dims == {"inertial": 6, "skeleton": 60}
    assert sorted(set(ds["train"].extras["subject"].tolist())) == [1, 3, 5]
    assert set(ds["valid"].extras["subject"].tolist()) == {7}
    by_trial = load_utd_mhad(utd_root, valid_subjects=(), valid_trials=(4,))
    assert sorted(set(by_trial["train"].extras["subject"].tolist())) == [1, 3, 5, 7]
    assert set(by_trial["train"].extras["trial"].tolist()) == {1}
    assert set(by_trial["valid"].extras["trial"].tolist()) == {4}
    assert sorted(set(ds["test"].extras["subject"].tolist())) == [2, 4, 6, 8]
    assert len(ds["test"]) == 15  # 2 actions x 4 subjects x 2 trials, one missing
    assert sorted(set(ds["train"].labels.tolist())) == [0, 1]
    tr = ds["train"]
    i = 0
    n = tr.lengths["skeleton"][i]
    # centred: the hip centre (joint 4, features 9-11) has not moved since the first frame
    np.testing.assert_allclose(tr.features["skeleton"][i, :n, 9:12], 0, atol=1e-6)
    raw = load_utd_mhad(utd_root, standardize=False, center=False)["train"]
    np.testing.assert_allclose(raw.features["skeleton"][i, :n, 9], tr.extras["subject"][i])
    # both streams span the skeleton's duration at 30 Hz
    ts, ti = tr.extras["times"]["skeleton"][i], tr.extras["times"]["inertial"][i]
    assert ts[-1] + ts[0] == pytest.approx(n / 30)
    assert ti[-1] + ti[0] == pytest.approx(n / 30)
    assert len(ti) == tr.lengths["inertial"][i]


def test_utd_mhad_bad_input(tmp_path, utd_root):
    with pytest.raises(FileNotFoundError, match="no Inertial/.*kinect-sequence-classification"):
        load_utd_mhad(tmp_path)
    with pytest.raises(ValueError, match="disjoint"):
        load_utd_mhad(utd_root, train_subjects=(1, 2), test_subjects=(2, 3))
    with pytest.raises(ValueError, match="valid_trials must be a proper subset"):
        load_utd_mhad(utd_root, valid_subjects=(), valid_trials=(1, 2, 3, 4))
    with pytest.raises(ValueError, match="at most one of valid_subjects and valid_trials"):
        load_utd_mhad(utd_root, valid_trials=(4,))
    with pytest.raises(ValueError, match="valid_subjects must be a proper subset"):
        load_utd_mhad(utd_root, valid_subjects=(2,))
    with pytest.raises(ValueError, match="needs a folder"):
        load_dataset("utd-mhad:")
    with pytest.raises(FileNotFoundError, match="'avletters:PATH'"):
        load_dataset("no-such-thing")


def test_cli_trains_on_a_corpus_folder(tmp_path, utd_root, capsys):
    from mmalign.cli import main

    out = tmp_path / "run"
    args = ["train", "--model", "mult", "--data", f"utd-mhad:{utd_root}", "--out", str(out)]
    args += ["--quiet", "--set", "max_epochs=1", "--set", "d_model=8", "--set", "n_heads=2"]
    args += ["--set", "n_layers=1"]
    args += ["--set", "data.valid_subjects=[3]"]  # a loader option goes through data.*
    assert main(args) == 0
    assert "mult on utd-mhad" in capsys.readouterr().out
    assert (out / "checkpoints" / "best.ckpt").is_file()
    # the checkpoint records the corpus folder and its options; evaluate reloads them
    assert main(["evaluate", str(out / "checkpoints" / "best.ckpt")]) == 0
    printed = capsys.readouterr().out
    assert "data: utd-mhad with the options it was trained on" in printed
    assert "on utd-mhad/test" in printed
    # an option the loader does not take is refused before any loading, naming the valid ones
    bad = ["train", "--data", f"utd-mhad:{utd_root}", "--set", "data.n_train=5"]
    assert main(bad + ["--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "utd-mhad options" in err and "data.valid_subjects" in err


def test_cli_bad_corpus_folder_is_one_line(tmp_path, capsys):
    from mmalign.cli import main

    assert main(["train", "--data", f"avletters:{tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no Lips/*-lips.mat" in err and "automl-in-action-notebooks" in err


def test_resample_and_time_warp_keep_streams_in_sync():
    from mmalign.data._recordings import random_time_warp, resample

    x = np.arange(5, dtype=np.float64)[:, None]
    # at the frame centres resample returns the frames; in between it interpolates
    np.testing.assert_allclose(resample(x, (np.arange(5) + 0.5) / 5)[:, 0], np.arange(5))
    np.testing.assert_allclose(resample(x, [0.0, 0.3, 1.0])[:, 0], [0, 1, 4])
    rng = np.random.default_rng(0)
    for _ in range(20):
        warp = random_time_warp(rng)
        # two streams of one recording at different rates: a ramp of the time in each
        ramps = []
        for n in (10, 25):
            at, n_out = warp(n)
            assert len(at) == n_out >= 2
            assert np.all(np.diff(at) > 0) and 0 <= at[0] and at[-1] <= 1
            ramp = (np.arange(n) + 0.5)[:, None] / n
            ramps.append((resample(ramp, at)[:, 0], (np.arange(n_out) + 0.5) / n_out))
        # the two warped ramps tell the same time at the same place of the warped recording
        (r1, u1), (r2, u2) = ramps
        np.testing.assert_allclose(np.interp(u1, u2, r2), r1, atol=0.06)


def test_utd_mhad_recipe_options(utd_root):
    from mmalign.data.utd_mhad import jitter_trial, read_utd_mhad_trials, skeleton_features

    plain = load_utd_mhad(utd_root, standardize=False)
    ds = load_utd_mhad(utd_root, standardize=False, n_frames=8, augment=2, seed=3)
    assert len(ds["train"]) == 3 * len(plain["train"])
    assert len(ds["valid"]) == len(plain["valid"]) and len(ds["test"]) == len(plain["test"])
    assert ds["train"].ids[:3] == [plain["train"].ids[0], plain["train"].ids[0] + "~1",
                                   plain["train"].ids[0] + "~2"]  # fmt: skip
    for s in ds.splits.values():
        assert set(s.lengths["inertial"]) == {8} and set(s.lengths["skeleton"]) == {8}
    # the test split is the same recordings, resampled (no jitter)
    from mmalign.data._recordings import resample

    x0, n0 = plain["test"].features["skeleton"][0], plain["test"].lengths["skeleton"][0]
    expect = resample(x0[:n0], (np.arange(8) + 0.5) / 8)
    np.testing.assert_allclose(ds["test"].features["skeleton"][0], expect, atol=1e-5)
    # jittered copies differ from their original; the same seed gives the same copies
    tr = ds["train"].features["skeleton"]
    assert not np.allclose(tr[0], tr[1])
    again = load_utd_mhad(utd_root, standardize=False, n_frames=8, augment=2, seed=3)
    np.testing.assert_array_equal(again["train"].features["skeleton"], tr)
    # a jittered skeleton is turned and scaled as a whole: distances between joints keep
    # their ratios
    trial = read_utd_mhad_trials(utd_root)[0]
    copy = jitter_trial(trial, np.random.default_rng(0))
    assert copy["skeleton"].shape[1:] == (20, 3) and copy["inertial"].shape[1] == 6
    d0 = np.linalg.norm(trial["skeleton"][0, 0] - trial["skeleton"][0, 5])
    d1 = np.linalg.norm(trial["skeleton"][0, 0] - trial["skeleton"][0, 9])
    e0 = np.linalg.norm(copy["skeleton"][0, 0] - copy["skeleton"][0, 5])
    e1 = np.linalg.norm(copy["skeleton"][0, 0] - copy["skeleton"][0, 9])
    assert d0 / d1 == pytest.approx(e0 / e1, rel=0.35)  # the first frame is interpolated
    # scale: unit spine; velocity: 60 more features, the frame differences
    sk = trial["skeleton"]
    f = skeleton_features(sk, scale=True, velocity=True)
    assert f.shape == (len(sk), 120)
    spine = np.linalg.norm(sk[:, 1] - sk[:, 3], axis=1).mean()
    np.testing.assert_allclose(f[:, 0:3] * spine, sk[:, 0] - sk[:, 3], atol=1e-9)
    np.testing.assert_allclose(f[:, 60:], np.gradient(f[:, :60], axis=0))
    # distances: 190 more, between every pair of joints, the same after a turn and a shift,
    # in spine lengths with scale
    from mmalign.data.utd_mhad import _rotation

    d = skeleton_features(sk, distances=True)
    assert d.shape == (len(sk), 250)
    np.testing.assert_allclose(d[:, :60], skeleton_features(sk))
    np.testing.assert_allclose(d[:, 60], np.linalg.norm(sk[:, 0] - sk[:, 1], axis=1))  # pair 0-1
    np.testing.assert_allclose(d[:, -1], np.linalg.norm(sk[:, 18] - sk[:, 19], axis=1))
    moved = sk @ _rotation(np.array([0.0, 1.0, 0.0]), 0.7).T + np.array([0.3, -0.1, 2.0])
    np.testing.assert_allclose(skeleton_features(moved, distances=True)[:, 60:], d[:, 60:])
    both = skeleton_features(sk, scale=True, velocity=True, distances=True)
    assert both.shape == (len(sk), 310)
    np.testing.assert_allclose(both[:, 120:] * spine, d[:, 60:], atol=1e-9)
    with_d = load_utd_mhad(utd_root, standardize=False, distances=True)
    assert with_d.input_dims == {"inertial": 6, "skeleton": 250}
    with pytest.raises(ValueError, match="n_frames must be None or an int >= 2"):
        load_utd_mhad(utd_root, n_frames=1)
    with pytest.raises(ValueError, match="augment must be an int >= 0"):
        load_utd_mhad(utd_root, augment=-1)


def test_utd_mhad_inertial_window_spread(utd_root):
    from mmalign.data.utd_mhad import read_utd_mhad_trials, window_std

    # 10 samples in 4 windows [k / 4, (k + 1) / 4): sample t at (t + 0.5) / 10
    x = np.arange(20.0).reshape(10, 2) ** 2
    got = window_std(x, 4)
    for k, rows in enumerate([[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]):
        np.testing.assert_allclose(got[k], x[rows].std(axis=0))
    assert not window_std(x, 8)[1].any()  # one sample in the window: no spread
    plain = load_utd_mhad(utd_root, standardize=False, n_frames=8)
    ds = load_utd_mhad(utd_root, standardize=False, n_frames=8, inertial_std=True)
    assert ds.input_dims == {"inertial": 12, "skeleton": 60}
    te = ds["test"].features["inertial"]
    np.testing.assert_array_equal(te[:, :, :6], plain["test"].features["inertial"])
    raw = next(r for r in read_utd_mhad_trials(utd_root)
               if f"a{r['action']}_s{r['subject']}_t{r['trial']}" == ds["test"].ids[0])  # fmt: skip
    np.testing.assert_allclose(te[0, :, 6:], window_std(raw["inertial"], 8), atol=1e-5)
    for bad in ({}, {"n_frames": 8, "augment": "online"}):
        with pytest.raises(ValueError, match="inertial_std needs n_frames"):
            load_utd_mhad(utd_root, inertial_std=True, **bad)


def test_corpus_recipe_is_applied_by_load_dataset(utd_root):
    from mmalign.data import CORPUS_PRESETS

    ds = load_dataset(f"utd-mhad:{utd_root}")
    recipe = CORPUS_PRESETS["utd-mhad"]
    assert set(ds["test"].lengths["skeleton"]) == {recipe["n_frames"]}
    plain = load_utd_mhad(utd_root)
    assert len(ds["train"]) == (1 + recipe["augment"]) * len(plain["train"])
    assert ds.source["options"]["augment"] == recipe["augment"]
    # the recipe's skeleton carries the joints' velocities; the loader alone reads positions
    # and every inertial frame the spread of its window's raw samples
    assert recipe["velocity"] is True and recipe["inertial_std"] is True
    assert ds.input_dims == {"inertial": 12, "skeleton": 120}
    assert plain.input_dims == {"inertial": 6, "skeleton": 60}
    # the user's options win over the recipe; reading the corpus as it is says what to drop
    with pytest.raises(ValueError, match="inertial_std=False"):
        load_dataset(f"utd-mhad:{utd_root}", n_frames=None)
    raw = load_dataset(f"utd-mhad:{utd_root}", augment=0, n_frames=None, velocity=False,
                       inertial_std=False)  # fmt: skip
    assert len(raw["train"]) == len(plain["train"])
    assert raw.input_dims == plain.input_dims
    np.testing.assert_array_equal(
        raw["test"].lengths["skeleton"], plain["test"].lengths["skeleton"]
    )


def test_avletters_recipe_options(avl_root):
    plain = load_avletters(avl_root, standardize=False)
    ds = load_avletters(avl_root, standardize=False, n_frames=6, augment=1, seed=0)
    assert len(ds["train"]) == 2 * len(plain["train"]) and len(ds["test"]) == len(plain["test"])
    assert set(ds["train"].lengths["audio"]) == {6} and set(ds["train"].lengths["video"]) == {6}
    # the audio's first coefficient counts frames: resampled to 6 frames it still rises
    a = ds["train"].features["audio"][1, :, 0]
    assert np.all(np.diff(a) > 0)
    assert ds["train"].ids[1].endswith("~1")
    with pytest.raises(ValueError, match="augment must be an int >= 0"):
        load_avletters(avl_root, augment=1.5)


def test_utd_mhad_without_validation_and_online_augmentation(utd_root):
    from mmalign.data._recordings import resample
    from mmalign.data.utd_mhad import UtdMhadAugment

    ds = load_utd_mhad(utd_root, valid_subjects=(), n_frames=8, augment="online")
    assert set(ds.splits) == {"train", "test"}  # the paper's protocol: all odd subjects train
    assert sorted(set(ds["train"].extras["subject"].tolist())) == [1, 3, 5, 7]
    plain = load_utd_mhad(utd_root, valid_subjects=(), n_frames=8)
    assert len(ds["train"]) == len(plain["train"])  # no copies stored
    np.testing.assert_array_equal(
        ds["train"].features["skeleton"], plain["train"].features["skeleton"]
    )
    assert isinstance(ds.augment, UtdMhadAugment) and plain.augment is None
    # a sample that stands still: the time warp leaves it, the turn about the vertical axis
    # and the scale act on every 3-D vector alike, the inertial tilt keeps each sensor's norm
    rng = np.random.default_rng(0)
    skel = np.tile(rng.normal(size=(1, 60)), (8, 1))
    iner = np.tile(rng.normal(size=(1, 6)), (8, 1))
    aug = UtdMhadAugment({}, keep_length=True)
    out = aug({"skeleton": skel, "inertial": iner}, np.random.default_rng(5))
    assert out["skeleton"].shape == (8, 60) and out["inertial"].shape == (8, 6)
    v0, v1 = skel.reshape(8, 20, 3), out["skeleton"].reshape(8, 20, 3)
    ratio = np.linalg.norm(v1, axis=2) / np.linalg.norm(v0, axis=2)
    np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-6)
    assert 0.9 <= ratio[0, 0] <= 1.1
    np.testing.assert_allclose(v1[..., 1] / v0[..., 1], ratio[0, 0], rtol=1e-6)  # vertical
    # with joint distances appended, those only scale (by the same factor); the vectors turn
    dist = np.abs(rng.normal(size=(1, 190)))
    aug_d = UtdMhadAugment({}, keep_length=True, n_distances=190)
    out_d = aug_d({"skeleton": np.tile(np.concatenate([skel[:1], dist], 1), (8, 1)),
                   "inertial": iner}, np.random.default_rng(5))  # fmt: skip
    np.testing.assert_allclose(out_d["skeleton"][:, :60], out["skeleton"], rtol=1e-6)
    np.testing.assert_allclose(out_d["skeleton"][:, 60:] / dist, ratio[0, 0], rtol=1e-6)
    online_d = load_utd_mhad(utd_root, n_frames=8, augment="online", distances=True)
    assert online_d.augment.n_distances == 190 and ds.augment.n_distances == 0
    acc = np.linalg.norm(out["inertial"][:, :3], axis=1) / np.linalg.norm(iner[:, :3], axis=1)
    gyro = np.linalg.norm(out["inertial"][:, 3:], axis=1) / np.linalg.norm(iner[:, 3:], axis=1)
    np.testing.assert_allclose(acc, gyro, rtol=1e-6)
    # standardised features: the same jitter, in the original units
    stats = {"skeleton": {"mean": np.full(60, 2.0), "std": np.full(60, 3.0)}}
    std_out = UtdMhadAugment(stats)({"skeleton": (skel - 2) / 3}, np.random.default_rng(5))
    np.testing.assert_allclose(std_out["skeleton"] * 3 + 2, out["skeleton"], atol=1e-9)
    # a moving sample is warped in time (same seed, same draw), a blank control frame is not
    ramp = np.repeat(np.linspace(0, 1, 8)[:, None], 6, axis=1)
    a = aug({"inertial": ramp, "skeleton": np.zeros((1, 60))}, np.random.default_rng(1))
    b = aug({"inertial": ramp, "skeleton": np.zeros((1, 60))}, np.random.default_rng(1))
    np.testing.assert_array_equal(a["inertial"], b["inertial"])
    assert a["skeleton"].shape == (1, 60)
    assert not np.allclose(
        a["inertial"], aug({"inertial": ramp}, np.random.default_rng(2))["inertial"]
    )
    free = UtdMhadAugment({}, keep_length=False)({"inertial": resample(ramp, np.linspace(0, 1, 40))},
                                                 np.random.default_rng(3))  # fmt: skip
    assert len(free["inertial"]) != 40  # without a fixed length the stretch changes it
    with pytest.raises(ValueError, match="or 'online'"):
        load_utd_mhad(utd_root, augment="sometimes")


def test_avletters_eigenlips_no_validation_and_online_augmentation(avl_root):
    from mmalign.data.avletters import AvlettersAugment, eigenlips

    ds = load_avletters(avl_root, video_pca=5, valid_speakers=(), standardize=False)
    assert set(ds.splits) == {"train", "test"} and ds.input_dims == {"audio": 26, "video": 5}
    assert len(ds["train"]) == 2 * 8
    # fitted on the training speakers' frames: their coefficients have zero mean there, and
    # the components are orthonormal
    tr = ds["train"]
    frames = np.concatenate(
        [tr.features["video"][i, :n] for i, n in enumerate(tr.lengths["video"])]
    )
    np.testing.assert_allclose(frames.mean(0), 0, atol=1e-4)
    x = np.random.default_rng(0).normal(size=(50, 12)) @ np.diag(np.arange(12, 0, -1.0))
    mean, comps = eigenlips(x, 4)
    np.testing.assert_allclose(comps @ comps.T, np.eye(4), atol=1e-10)
    var = ((x - mean) @ comps.T).var(0)
    assert np.all(np.diff(var) < 0)  # by decreasing variance
    with pytest.raises(ValueError, match="video_pca must be None or an int >= 1"):
        load_avletters(avl_root, video_pca=0)
    # online: a shift of the pooled lip image (a fraction of a pooled pixel) and a gain
    on = load_avletters(avl_root, n_frames=6, augment="online", standardize=False)
    assert isinstance(on.augment, AvlettersAugment) and on.augment.grid == (15, 20)
    s = on["train"]
    sample = {m: s.features[m][0, : s.lengths[m][0]] for m in s.features}
    out = on.augment(sample, np.random.default_rng(0))
    assert out["video"].shape == sample["video"].shape and out["audio"].shape == (6, 26)
    assert not np.allclose(out["video"], sample["video"])
    pca = load_avletters(avl_root, n_frames=6, augment="online", video_pca=5)
    assert pca.augment.grid is None  # coefficients are scaled, never shifted as images


def test_cli_trains_without_validation_with_online_augmentation(tmp_path, utd_root, capsys):
    from mmalign.cli import main

    out = tmp_path / "run"
    args = ["train", "--model", "mult", "--data", f"utd-mhad:{utd_root}", "--out", str(out)]
    args += ["--quiet", "--set", "max_epochs=2", "--set", "d_model=8", "--set", "n_heads=2"]
    args += ["--set", "n_layers=1", "--set", "data.valid_subjects=[]"]
    args += ["--set", "data.augment=online", "--set", "modality_dropout=0.2"]
    # the recipe's window spreads are measured once, on stored frames: one line says what to drop
    assert main(args) == 2
    assert "--set data.inertial_std=false" in capsys.readouterr().err
    args += ["--set", "data.inertial_std=false"]
    assert main(args) == 0
    capsys.readouterr()
    ckpt = out / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and not (out / "checkpoints" / "best.ckpt").exists()
    # evaluate reloads the corpus without a validation split, with the same options
    assert main(["evaluate", str(ckpt)]) == 0
    assert "on utd-mhad/test" in capsys.readouterr().out


def test_benchmark_late_fusion_on_a_tiny_folder(tmp_path, avl_root, monkeypatch, capsys):
    """benchmarks/real_train.py --late-fusion: each stream trained alone, their logits kept,
    the stream weights chosen on validation (or given where there is none), three rows."""
    import importlib.util
    import json
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "real_train.py"
    spec = importlib.util.spec_from_file_location("real_train", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.chdir(tmp_path)
    common = ["real_train.py", "--corpus", f"avletters:{avl_root}", "--late-fusion",
              "--epochs", "1", "--batch-size", "8", "--model-opt", "d_model=8",
              "--model-opt", "n_heads=2", "--variant", "tiny"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", common)
    bench.main()
    rows = json.loads(Path("runs/benchmarks/real/results.json").read_text())
    by = {r["modalities"]: r for r in rows}
    assert set(by) == {"audio", "video", "audio+video"}
    fused = by["audio+video"]
    assert fused["variant"] == "tiny, late fusion" and fused["weights_from"] == "validation split"
    assert sum(fused["stream_weights"].values()) == pytest.approx(1.0)
    assert fused["single_stream_accuracy"] == {m: by[m]["accuracy"] for m in ("audio", "video")}
    scores = np.load("runs/benchmarks/real/runs/avletters/lxmert-tiny-audio-s0/scores.npz")
    assert scores["valid"].shape == (4, 26) and scores["test"].shape == (4, 26)
    # the fused row's accuracy is the fusion of the kept logits with the chosen weights
    from mmalign.train import late_fusion

    both = {m: np.load(f"runs/benchmarks/real/runs/avletters/lxmert-tiny-{m}-s0/scores.npz")
            ["test"] for m in ("audio", "video")}  # fmt: skip
    test_labels = load_avletters(avl_root)["test"].labels
    acc = (late_fusion(both, fused["stream_weights"]).argmax(1) == test_labels).mean()
    assert fused["accuracy"] == pytest.approx(acc)
    # a second variant that changes the video only reuses the audio stream's logits
    monkeypatch.setattr(sys, "argv", [*common[:-1], "velocity video", "--data-opt",
                                      "velocity=true", "--reuse", "audio=tiny"])  # fmt: skip
    bench.main()
    rows = json.loads(Path("runs/benchmarks/real/results.json").read_text())
    again = [r for r in rows if r["variant"].startswith("velocity video")]
    assert sorted(r["modalities"] for r in again) == ["audio+video", "video"]
    fused2 = next(r for r in again if r["modalities"] == "audio+video")
    assert fused2["reused_streams"] == {"audio": "tiny"}
    assert fused2["single_stream_accuracy"]["audio"] == by["audio"]["accuracy"]
    monkeypatch.setattr(sys, "argv", [*common, "--reuse", "audio=nothing"])
    with pytest.raises(SystemExit, match="run that variant with --late-fusion first"):
        bench.main()
    # no validation split: the weights must be given, each stream once, summing to 1
    monkeypatch.setattr(sys, "argv", [*common, "--data-opt", "valid_speakers=[]"])
    with pytest.raises(SystemExit, match="give --weights"):
        bench.main()
    monkeypatch.setattr(
        sys, "argv", [*common, "--data-opt", "valid_speakers=[]", "--weights", "audio=0.9"]
    )
    with pytest.raises(SystemExit, match="one weight >= 0 for each of audio, video"):
        bench.main()


def test_benchmark_subject_folds_on_a_tiny_folder(tmp_path, utd_root, monkeypatch, capsys):
    """benchmarks/real_cv.py: one fold per validation subject, the last checkpoint scored on
    that subject only (never the test subjects), one line per fold, and its table."""
    import importlib.util
    import json
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "real_cv.py"
    spec = importlib.util.spec_from_file_location("real_cv", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["real_cv.py", "--corpus", f"utd-mhad:{utd_root}",
                                      "--folds", "3,5", "--epochs", "1", "--batch-size", "8",
                                      "--model-opt", "d_model=8", "--model-opt", "n_heads=2",
                                      "--model-opt", "kernel_sizes=3", "--variant", "tiny"])  # fmt: skip
    bench.main()
    rows = [json.loads(x) for x in Path("runs/benchmarks/real/cv.jsonl").read_text().splitlines()]
    assert [(r["fold"], r["seed"], r["variant"]) for r in rows] == [(3, 0, "tiny"), (5, 0, "tiny")]
    assert all(r["data_options"]["valid_subjects"] == [r["fold"]] for r in rows)
    # the fold's accuracy is its checkpoint's on that subject's sequences (2 actions x 2 trials)
    from mmalign.data import load_dataset
    from mmalign.train import evaluate

    run = Path("runs/benchmarks/real/cv/coattention-tiny-both-v5-s0")
    ds = load_dataset(f"utd-mhad:{utd_root}", seed=0, valid_subjects=[5])
    assert len(ds["valid"]) == 4
    scores = evaluate(run / "checkpoints" / "last.ckpt", ds, split="valid").scores
    assert rows[1]["accuracy"] == pytest.approx((scores.argmax(1) == ds["valid"].labels).mean())
    # the run never scored the test subjects: fit's own scoring is on the validation subject
    assert json.loads((run / "metrics.json").read_text())["split"] == "valid"
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["real_cv.py", "--table"])
    bench.main()
    assert "| tiny | coattention | both | 0 |" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["real_cv.py", "--corpus", f"utd-mhad:{utd_root}",
                                      "--folds", "2"])  # fmt: skip
    with pytest.raises(SystemExit, match="training subjects 1, 3, 5, 7"):
        bench.main()


def test_avletters_video_velocity(avl_root):
    plain = load_avletters(avl_root, n_frames=6, standardize=False)
    ds = load_avletters(avl_root, n_frames=6, velocity=True, standardize=False)
    assert ds.input_dims == {"audio": 26, "video": 600}
    x, v = plain["train"].features["video"][0], ds["train"].features["video"][0]
    np.testing.assert_allclose(v[:, :300], x)
    np.testing.assert_allclose(v[:, 300:], np.gradient(x, axis=0), atol=1e-6)
    # with eigenlips the differences are those of the coefficients
    pca = load_avletters(avl_root, video_pca=4, velocity=True, standardize=False)
    c = pca["test"].features["video"][0, : pca["test"].lengths["video"][0]]
    assert c.shape[1] == 8
    np.testing.assert_allclose(c[:, 4:], np.gradient(c[:, :4], axis=0), atol=1e-5)
    # online augmentation shifts the difference image like the image itself
    on = load_avletters(avl_root, n_frames=6, augment="online", velocity=True, standardize=False)
    s = on["train"]
    sample = {m: s.features[m][0] for m in s.features}
    out = on.augment(sample, np.random.default_rng(0))
    assert out["video"].shape == (6, 600) and not np.allclose(out["video"], sample["video"])
    with pytest.raises(ValueError, match="velocity must be True or False"):
        load_avletters(avl_root, velocity="yes")


def test_benchmark_seed_ensembles_on_a_tiny_folder(tmp_path, utd_root, monkeypatch, capsys):
    """benchmarks/real_train.py --ensemble N: the runs of the seeds, fused N at a time with
    equal weights, one row per ensemble with its members' accuracies."""
    import importlib.util
    import json
    import sys
    from pathlib import Path

    from mmalign.data import load_dataset
    from mmalign.train import evaluate, late_fusion

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "real_train.py"
    spec = importlib.util.spec_from_file_location("real_train", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.chdir(tmp_path)
    common = ["real_train.py", "--corpus", f"utd-mhad:{utd_root}", "--models", "coattention",
              "--epochs", "1", "--batch-size", "8", "--model-opt", "d_model=8",
              "--model-opt", "n_heads=2", "--variant", "tiny", "--no-attention"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", [*common, "--seeds", "0,1", "--ensemble", "2"])
    with pytest.raises(SystemExit, match="train seed 0 first"):
        bench.main()
    monkeypatch.setattr(sys, "argv", [*common, "--seeds", "0,1", "--ensemble", "-1"])
    with pytest.raises(SystemExit, match="needs at least 2 runs"):
        bench.main()
    monkeypatch.setattr(sys, "argv", [*common, "--seeds", "0,1,2"])
    bench.main()
    # a single-stream control records no loader options: the command's own are used
    ctl = [*common, "--seeds", "0,1", "--modalities", "inertial"]
    monkeypatch.setattr(sys, "argv", ctl)
    bench.main()
    monkeypatch.setattr(sys, "argv", [*ctl, "--ensemble", "2"])
    bench.main()
    monkeypatch.setattr(sys, "argv", [*common, "--seeds", "0,1,2", "--ensemble", "2"])
    with pytest.raises(SystemExit, match="a multiple of 2 seeds"):
        bench.main()
    monkeypatch.setattr(sys, "argv", [*common, "--seeds", "0,1", "--ensemble", "2"])
    bench.main()
    rows = json.loads(Path("runs/benchmarks/real/results.json").read_text())
    ens = [r for r in rows if r["variant"] == "tiny, ensemble of 2"]
    assert sorted(r["modalities"] for r in ens) == ["inertial", "inertial+skeleton"]
    alone = next(r for r in ens if r["modalities"] == "inertial")
    assert alone["members"] == {str(r["seed"]): r["accuracy"] for r in rows
                                if r["variant"] == "tiny" and r["modalities"] == "inertial"}  # fmt: skip
    ens = [r for r in ens if r["modalities"] == "inertial+skeleton"]
    assert len(ens) == 1 and ens[0]["seed"] == "0+1"
    singles = {r["seed"]: r["accuracy"] for r in rows
               if r["variant"] == "tiny" and r["modalities"] == "inertial+skeleton"}  # fmt: skip
    assert ens[0]["members"] == {"0": singles[0], "1": singles[1]}
    # the row is the fusion of the two runs, each scored on its own seed's data
    scores = {}
    for seed in (0, 1):
        ds = load_dataset(f"utd-mhad:{utd_root}", seed=seed)
        run = Path(f"runs/benchmarks/real/runs/utd-mhad/coattention-tiny-inertial+skeleton-s{seed}")
        scores[str(seed)] = evaluate(run / "checkpoints" / "last.ckpt", ds).scores
    fused = late_fusion(scores, {"0": 0.5, "1": 0.5})
    assert ens[0]["accuracy"] == pytest.approx((fused.argmax(1) == ds["test"].labels).mean())
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["real_train.py", "--table"])
    bench.main()
    assert "| tiny, ensemble of 2 | inertial+skeleton |" in capsys.readouterr().out


def test_cli_evaluates_seeds_as_one_ensemble(tmp_path, utd_root, capsys):
    """mmalign evaluate A B: each run on its own data (the seed's augmentation), their
    log-posteriors averaged; metrics.json holds the ensemble and its members."""
    import json

    from mmalign.cli import main
    from mmalign.data import load_dataset
    from mmalign.train import evaluate, late_fusion

    ckpts = []
    for seed in (0, 1):
        out = tmp_path / f"s{seed}"
        args = ["train", "--model", "coattention", "--data", f"utd-mhad:{utd_root}", "--quiet"]
        args += ["--out", str(out), "--set", "max_epochs=1", "--set", "d_model=8"]
        args += ["--set", "n_heads=2", "--set", f"seed={seed}", "--set", f"data.seed={seed}"]
        assert main(args) == 0
        ckpts.append(str(out / "checkpoints" / "last.ckpt"))
    capsys.readouterr()
    assert main(["evaluate", *ckpts]) == 2  # where would the ensemble's metrics go?
    assert "give --out" in capsys.readouterr().err
    assert main(["evaluate", *ckpts, "--out", str(tmp_path / "ens")]) == 0
    printed = capsys.readouterr().out
    assert "ensemble of 2 checkpoints on test" in printed and "member 2" in printed
    doc = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    assert [m["checkpoint"] for m in doc["members"]] == ckpts
    scores, labels = {}, None
    for seed, ckpt in enumerate(ckpts):
        ds = load_dataset(f"utd-mhad:{utd_root}", seed=seed)
        scores[str(seed)] = evaluate(ckpt, ds).scores
        assert doc["members"][seed]["metrics"]["accuracy"] == pytest.approx(
            (scores[str(seed)].argmax(1) == ds["test"].labels).mean()
        )
        labels = ds["test"].labels
    fused = late_fusion(scores, {"0": 0.5, "1": 0.5})
    assert doc["metrics"]["accuracy"] == pytest.approx((fused.argmax(1) == labels).mean())
    # members scored on other samples are refused
    other = ["evaluate", *ckpts, "--set", "data.valid_subjects=[3]", "--out", str(tmp_path / "x")]
    assert main(other) == 0  # the same change for every member: still the same samples
    capsys.readouterr()
    odd = tmp_path / "odd"
    args = ["train", "--model", "coattention", "--data", f"utd-mhad:{utd_root}", "--quiet"]
    args += ["--out", str(odd), "--set", "max_epochs=1", "--set", "d_model=8"]
    args += ["--set", "n_heads=2", "--set", "data.test_subjects=[2]"]
    assert main(args) == 0
    capsys.readouterr()
    bad = ["evaluate", ckpts[0], str(odd / "checkpoints" / "last.ckpt"), "--out", str(odd)]
    assert main(bad) == 2
    assert "must be runs on the same data" in capsys.readouterr().err


def test_evaluate_reads_an_older_record_with_the_loader_defaults(tmp_path, utd_root, capsys):
    """A checkpoint records every loader option; one recorded before an option existed (or
    before a recipe changed) is reloaded with the loader's default for it, not today's recipe."""
    import torch

    from mmalign.cli import main

    out = tmp_path / "run"
    args = ["train", "--model", "mult", "--data", f"utd-mhad:{utd_root}", "--out", str(out)]
    args += ["--quiet", "--set", "max_epochs=1", "--set", "d_model=8", "--set", "n_heads=2"]
    args += ["--set", "n_layers=1", "--set", "data.inertial_std=false"]
    assert main(args) == 0
    ckpt_path = out / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    options = ckpt["mmalign_run"]["data"]["options"]
    assert options["inertial_std"] is False and options["center"] is True  # every option
    del options["inertial_std"], options["center"]  # as an older mmalign recorded it
    torch.save(ckpt, ckpt_path)
    capsys.readouterr()
    assert main(["evaluate", str(ckpt_path)]) == 0  # 6 inertial features, as trained
    assert "with the options it was trained on" in capsys.readouterr().out


def test_benchmark_streams_name_the_loaders_modalities(utd_root, avl_root):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "real_train.py"
    spec = importlib.util.spec_from_file_location("real_train", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.STREAMS["utd-mhad"] == load_utd_mhad(utd_root).modalities
    assert bench.STREAMS["avletters"] == load_avletters(avl_root).modalities
