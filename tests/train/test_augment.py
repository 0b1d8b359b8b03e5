"""Training without a validation split, augmentation drawn every epoch, modality dropout,
label smoothing."""

import dataclasses

import numpy as np
import pytest
import torch

from mmalign.data import MultimodalDataset
from mmalign.train import TrainConfig, fit
from mmalign.train.module import (
    MultimodalModule,
    collate,
    drop_modalities,
    mix_batch,
    task_loss,
)

TINY_MULT = dict(d_model=8, n_heads=2, n_layers=1, n_mem_layers=1)


class Recorder:
    """An augmentation that adds its draw to every frame and records every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, sample, rng):
        shift = float(rng.normal())
        self.calls.append(shift)
        return {m: x + shift for m, x in sample.items()}


def test_collate_draws_a_fresh_augmentation_every_epoch(tiny):
    split = tiny["train"]
    c = collate(split, Recorder(), seed=3)
    a = c([0, 1])["inputs"]["audio"]
    again = collate(split, Recorder(), seed=3)([0, 1])["inputs"]["audio"]
    torch.testing.assert_close(a, again)  # seeded by (seed, epoch, index)
    c.epoch = 1
    b = c([0, 1])["inputs"]["audio"]
    assert not torch.allclose(a, b)
    # one shift per sample, the same for every frame of the sample
    n = int(split.lengths["audio"][0])
    plain = torch.from_numpy(split.features["audio"][0, :n])
    d = a[0, :n] - plain
    torch.testing.assert_close(d, torch.full_like(d, float(d[0, 0])))
    # a sample that loses its feature dimension is refused, naming the modality
    bad = collate(split, lambda s, rng: {**s, "audio": s["audio"][:, :2]})
    with pytest.raises(ValueError, match="modality 'audio'"):
        bad([0])


def test_fit_without_validation_trains_fixed_epochs_with_fresh_augmentation(tiny, tmp_path, capsys):
    no_valid = {k: v for k, v in tiny.splits.items() if k != "valid"}
    rec = Recorder()
    ds = MultimodalDataset(no_valid, tiny.task, tiny.n_outputs, tiny.name, augment=rec)
    cfg = TrainConfig(max_epochs=3, batch_size=8, progress_bar=False, n_plots=0, patience=1)
    res = fit(ds, cfg, model_options=TINY_MULT, out_dir=tmp_path / "run")
    assert res.epochs == 3 and len(res.history) == 3  # no early stopping without validation
    assert res.best_checkpoint == res.last_checkpoint
    assert all(np.isnan(h["val_score"]) for h in res.history)
    printed = capsys.readouterr().out
    assert "epoch   3/3  train loss" in printed and "val loss" not in printed  # no "nan" column
    assert 0.0 <= res.test.metrics["accuracy"] <= 1.0
    # every training sample once per epoch, each epoch a new draw
    n = len(tiny["train"])
    assert len(rec.calls) == 3 * n
    assert len(set(np.round(rec.calls, 12))) == 3 * n
    # the same run again draws the same augmentation
    rec2 = Recorder()
    ds2 = dataclasses.replace(ds, augment=rec2)
    fit(ds2, cfg, model_options=TINY_MULT, out_dir=tmp_path / "again")
    assert sorted(rec2.calls) == sorted(rec.calls)
    with pytest.raises(ValueError, match="lr_schedule 'plateau' watches the validation loss"):
        fit(ds, dataclasses.replace(cfg, lr_schedule="plateau"), out_dir=tmp_path / "p")
    train_only = MultimodalDataset({"train": tiny["train"]}, tiny.task, tiny.n_outputs)
    with pytest.raises(ValueError, match="'valid' or 'test' split"):
        fit(train_only, cfg, out_dir=tmp_path / "t")


def test_modality_dropout_blanks_at_most_one_stream():
    g = torch.Generator().manual_seed(0)
    inputs = {m: torch.ones(200, 4, 3) for m in ("a", "b", "c")}
    out = drop_modalities(inputs, 0.5, generator=g)
    kept = torch.stack([out[m].flatten(1).abs().sum(1) > 0 for m in inputs], 1)  # (B, 3)
    dropped = (~kept).sum(1)
    assert dropped.max() == 1  # never two streams of a sample
    assert 0.35 < dropped.float().mean() < 0.65  # about half the samples lose one
    assert torch.equal(inputs["a"], torch.ones(200, 4, 3))  # the inputs are left as they were
    same = drop_modalities(inputs, 0.0)
    assert all(torch.equal(same[m], inputs[m]) for m in inputs)
    with pytest.raises(ValueError, match="modality_dropout must be a probability"):
        TrainConfig(modality_dropout=1.0)


@pytest.mark.parametrize(
    "option,value", [("modality_dropout", 0.3), ("label_smoothing", 0.1), ("mixup", 0.2)]
)
def test_fit_records_the_regularisers(tiny, tmp_path, option, value):
    cfg = TrainConfig(max_epochs=1, batch_size=8, progress_bar=False, n_plots=0,
                      **{option: value})  # fmt: skip
    res = fit(tiny, cfg, model_options=TINY_MULT, out_dir=tmp_path / "run")
    ckpt = torch.load(res.last_checkpoint, weights_only=False)
    assert ckpt["hyper_parameters"][option] == value
    assert ckpt["mmalign_run"]["train"][option] == value
    assert np.isfinite(res.history[-1]["train_loss"])


def test_label_smoothing_in_training_only():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = torch.tensor([0, 1])
    logp = torch.log_softmax(logits, 1)
    # smoothed target: 1 - eps on the label, eps spread evenly over all k classes
    eps, k = 0.1, 3
    by_hand = -((1 - eps) * logp[[0, 1], labels] + eps / k * logp.sum(1)).mean()
    torch.testing.assert_close(task_loss(logits, labels, "classification", eps), by_hand)
    plain = task_loss(logits, labels, "classification")
    torch.testing.assert_close(plain, -logp[[0, 1], labels].mean())
    module = MultimodalModule("mult", {"a": 3, "b": 2}, 3, "classification", TINY_MULT,
                              label_smoothing=eps)  # fmt: skip
    out = type("Out", (), {"loss": None, "predictions": logits})()
    torch.testing.assert_close(module.train()._task_loss(out, labels), by_hand)
    torch.testing.assert_close(module.eval()._task_loss(out, labels), plain)
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError, match="label_smoothing must be in"):
            TrainConfig(label_smoothing=bad)


def test_mixup_mixes_streams_lengths_and_targets():
    g = torch.Generator().manual_seed(0)
    inputs = {"a": torch.randn(6, 5, 3, generator=g), "b": torch.randn(6, 4, 2, generator=g)}
    lengths = {"a": torch.tensor([5, 3, 5, 2, 4, 5]), "b": torch.tensor([4, 4, 1, 4, 2, 3])}
    labels = torch.arange(6)  # one class per sample: each target row names its pair and lam
    mixed, lens, target = mix_batch(
        inputs, lengths, labels, 6, 0.4, torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(target.sum(1), torch.ones(6))
    clean = {m: x * (torch.arange(x.shape[1])[None] < lengths[m][:, None])[..., None]
             for m, x in inputs.items()}  # fmt: skip
    partners = []
    for i in range(6):
        lam = float(target[i, i])
        j = i if lam == 1.0 else int(torch.argmax(target[i] * (torch.arange(6) != i)))
        partners.append(j)
        torch.testing.assert_close(
            target[i, j], torch.tensor(1.0 - lam) if j != i else target[i, i]
        )
        for m in inputs:
            torch.testing.assert_close(mixed[m][i], lam * clean[m][i] + (1 - lam) * clean[m][j])
            assert int(lens[m][i]) == max(int(lengths[m][i]), int(lengths[m][j]))
    assert sorted(partners) == list(range(6))  # a permutation of the batch
    moved = [i for i, j in enumerate(partners) if j != i]
    assert moved and 0 < float(target[moved[0], moved[0]]) < 1
    assert len({round(float(target[i, i]), 6) for i in range(6) if partners[i] != i}) == 1
    # padding content never leaks: the same draw on a batch whose padding holds other values
    noisy = {m: x.clone() for m, x in inputs.items()}
    noisy["a"][1, 3:] = 99.0
    again, _, _ = mix_batch(noisy, lengths, labels, 6, 0.4, torch.Generator().manual_seed(1))
    torch.testing.assert_close(again["a"], mixed["a"])


def test_mixup_errors():
    for bad in (-0.1, True, "0.2"):
        with pytest.raises(ValueError, match="mixup must be"):
            TrainConfig(mixup=bad)
    with pytest.raises(ValueError, match="classification only"):
        MultimodalModule("mult", {"a": 3, "b": 2}, 1, "regression", TINY_MULT, mixup=0.2)


def test_ema_decay_checkpoints_the_averaged_weights(tiny, tmp_path):
    # decay 0: off, the checkpoint holds the raw weights; decay 0.9: their moving average
    cfg = TrainConfig(max_epochs=2, batch_size=8, progress_bar=False, n_plots=0, patience=5)
    runs = {}
    for decay in (0.0, 0.9):
        cfg = dataclasses.replace(cfg, ema_decay=decay)
        res = fit(tiny, cfg, model_options=TINY_MULT, out_dir=tmp_path / f"ema{decay}")
        runs[decay] = torch.load(res.last_checkpoint, weights_only=True)
    plain, ema = runs[0.0], runs[0.9]
    assert "current_model_state" not in plain
    assert "ema_decay" not in plain["mmalign_run"]["train"]  # older runs still resume
    assert ema["mmalign_run"]["train"]["ema_decay"] == 0.9
    # the same seed trains the same raw weights; the checkpoint's weights are their average
    raw = ema["current_model_state"]
    for k, v in plain["state_dict"].items():
        torch.testing.assert_close(raw[k], v)
    moved = [k for k, v in ema["state_dict"].items() if v.is_floating_point()
             and not torch.allclose(v, raw[k])]  # fmt: skip
    assert moved, "the averaged weights equal the raw ones"
    # evaluate scores the averaged weights
    from mmalign.train import evaluate

    a = evaluate(tmp_path / "ema0.9/checkpoints/last.ckpt", tiny, split="test").scores
    b = evaluate(tmp_path / "ema0.0/checkpoints/last.ckpt", tiny, split="test").scores
    assert not np.allclose(a, b)
    # a run resumes with its average (the checkpoint keeps both weights)
    short = dataclasses.replace(cfg, max_epochs=1)
    fit(tiny, short, model_options=TINY_MULT, out_dir=tmp_path / "resumed")
    res = fit(tiny, cfg, model_options=TINY_MULT, out_dir=tmp_path / "resumed")
    again = torch.load(res.last_checkpoint, weights_only=True)
    assert res.resumed and res.epochs == 2 and set(again["current_model_state"]) == set(raw)
    for bad in (1.0, -0.5, True, "0.9"):
        with pytest.raises(ValueError, match="ema_decay must be in"):
            TrainConfig(ema_decay=bad)
