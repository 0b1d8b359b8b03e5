import json

import numpy as np
import pytest
import torch

from mmalign.train import TrainConfig, evaluate, fit
from mmalign.train.module import MultimodalDataModule, MultimodalModule

TINY_MULT = dict(d_model=8, n_heads=2, n_layers=1, n_mem_layers=1)


def _config(**kw):
    base = dict(max_epochs=1, batch_size=8, progress_bar=False, seed=0, n_plots=2)
    base.update(kw)
    return TrainConfig(**base)


def test_fit_writes_checkpoint_metrics_and_plots(tiny, tmp_path):
    result = fit(tiny, _config(), model_options=TINY_MULT, out_dir=tmp_path / "run")
    assert result.best_checkpoint.is_file() and result.last_checkpoint.is_file()
    doc = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.0 <= doc["metrics"]["accuracy"] <= 1.0
    assert doc["n_parameters"] == result.n_parameters > 0
    # every cross-modal pair is scored against digits-av's ground truth
    assert {"text<-audio", "text<-vision", "audio<-vision"} <= set(doc["alignment"])
    for v in doc["alignment"].values():
        assert 0.0 <= v["peak_accuracy"] <= 1.0 and v["n_scored"] > 0
    assert (tmp_path / "run" / "alignment" / "text_from_vision.png").is_file()
    assert result.train_samples_per_s > 0
    # one history row per epoch, also in metrics.json
    assert [r["epoch"] for r in result.history] == [1] and doc["history"] == result.history
    row = result.history[0]
    assert row["train_loss"] > 0 and row["val_loss"] > 0 and 0 <= row["val_score"] <= 1
    # fit applies digits-av's recipe: lr 3e-3 with 200 warm-up steps; the rate the next step uses
    steps = -(-len(tiny["train"]) // 8)
    assert row["lr"] == pytest.approx(3e-3 * (steps + 1) / 200) and row["seconds"] > 0
    assert doc["train_config"]["lr"] == 3e-3 and doc["train_config"]["lr_schedule"] == "cosine"
    # ... and the model preset under the given options (TINY_MULT overrides d_model)
    assert doc["model_options"]["embed_dropout"] == 0.1 and doc["model_options"]["d_model"] == 8
    # evaluate() reproduces the test scores of the best checkpoint
    again = evaluate(result.best_checkpoint, tiny, split="test")
    assert again.metrics["accuracy"] == pytest.approx(doc["metrics"]["accuracy"])
    # ... and keeps the raw outputs (logits) whose argmax is the decoded prediction
    assert again.scores.shape == (len(tiny["test"]), tiny.n_outputs)
    np.testing.assert_array_equal(again.scores.argmax(1), again.predictions)


def test_training_is_seeded(tiny, tmp_path):
    a = fit(tiny, _config(), model_options=TINY_MULT, out_dir=tmp_path / "a")
    b = fit(tiny, _config(), model_options=TINY_MULT, out_dir=tmp_path / "b")
    sa = torch.load(a.last_checkpoint, weights_only=False)["state_dict"]
    sb = torch.load(b.last_checkpoint, weights_only=False)["state_dict"]
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k])


def test_resume_continues_from_last_checkpoint(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    first = fit(tiny, _config(max_epochs=1), model_options=TINY_MULT, out_dir=out)
    assert not first.resumed and first.epochs == 1
    step1 = torch.load(first.last_checkpoint, weights_only=False)["global_step"]
    second = fit(tiny, _config(max_epochs=2), model_options=TINY_MULT, out_dir=out)
    assert second.resumed and second.epochs == 2
    step2 = torch.load(second.last_checkpoint, weights_only=False)["global_step"]
    assert step2 == 2 * step1  # one more epoch on top of the first, not two from scratch
    # the history of the first run's epochs survives the resume (metrics.json too)
    assert [r["epoch"] for r in second.history] == [1, 2]
    doc = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in doc["history"]] == [1, 2] and doc["resumed"] is True
    assert "resuming the run in" in capsys.readouterr().out
    # the same command once more: nothing left to train, and it says how to train longer
    third = fit(tiny, _config(max_epochs=2), model_options=TINY_MULT, out_dir=out)
    assert third.epochs == 2 and "already trained its 2 epochs" in capsys.readouterr().out


def test_fit_refuses_to_mix_another_run_into_out_dir(tiny, tmp_path, capsys):
    from mmalign.train.trainer import read_checkpoint

    out = tmp_path / "run"
    fit(tiny, _config(), model_options=TINY_MULT, out_dir=out)
    before = (out / "checkpoints" / "last.ckpt").read_bytes()
    # the checkpoint carries the run: model, options and the data to load again
    run = read_checkpoint(out / "checkpoints" / "last.ckpt")["mmalign_run"]
    assert run["model"] == "mult" and run["data"]["data"] == "digits-av"
    assert run["data"]["options"]["n_train"] == 24 and run["data_shape"]["sizes"]["test"] == 8
    other = tiny.select(["text", "vision"])  # other data
    with pytest.raises(ValueError, match=r"holds another run \(data.modalities: \(unset\)"):
        fit(other, _config(max_epochs=2), model_options=TINY_MULT, out_dir=out)
    with pytest.raises(ValueError, match=r"model: 'mult' -> 'mtag'.*pass --no-resume"):
        fit(tiny, _config(model="mtag"), model_options={"d_model": 8}, out_dir=out)
    # the run records the lr fit trained with: digits-av's recipe (3e-3), filled in by fit
    with pytest.raises(ValueError, match=r"train.lr: 0.003 -> 0.01"):
        fit(tiny, _config(lr=1e-2), model_options=TINY_MULT, out_dir=out)
    assert (out / "checkpoints" / "last.ckpt").read_bytes() == before  # nothing touched
    with pytest.raises(ValueError, match="nothing to resume"):
        fit(tiny, _config(), model_options=TINY_MULT, out_dir=tmp_path / "new", resume=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        fit(tiny, _config(), model_options=TINY_MULT, out_dir=tmp_path / "file")
    # a checkpoint of an older mmalign (no run record): resumed only when asked, and never
    # into another model
    import torch

    last = out / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    del ckpt["mmalign_run"]
    torch.save(ckpt, last)
    with pytest.raises(ValueError, match="does not record its configuration.*--resume"):
        fit(tiny, _config(max_epochs=2), model_options=TINY_MULT, out_dir=out)
    with pytest.raises(ValueError, match="model: 'mult' -> 'mtag'"):
        fit(tiny, _config(model="mtag"), model_options={"d_model": 8}, out_dir=out, resume=True)
    assert fit(
        tiny, _config(max_epochs=2), model_options=TINY_MULT, out_dir=out, resume=True
    ).resumed
    # resume=False replaces the run: another model trains in the same folder
    res = fit(tiny, _config(model="mtag"), model_options={"d_model": 8}, out_dir=out, resume=False)
    assert not res.resumed and [r["epoch"] for r in res.history] == [1]
    assert read_checkpoint(res.last_checkpoint)["mmalign_run"]["model"] == "mtag"


def test_module_overfits_a_tiny_batch(tiny):
    torch.manual_seed(0)
    module = MultimodalModule(
        "mult", tiny.input_dims, tiny.n_outputs, tiny.task, TINY_MULT, lr=1e-2
    )
    batch = next(iter(MultimodalDataModule(tiny, batch_size=8).train_dataloader()))
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = module.training_step(batch, 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    module.eval()  # judged without dropout: a single noisy training step can spike
    with torch.no_grad():
        final = module.training_step(batch, 0).item()
    assert final < 0.1 * losses[0], (final, losses[::10])
    # batches are trimmed to their longest sequence and keep their lengths
    assert batch["inputs"]["audio"].shape[1] == int(batch["lengths"]["audio"].max())


def test_every_model_takes_a_training_step(tiny, tmp_path):
    from mmalign.implicit import MODELS
    from mmalign.train.presets import model_preset

    dm = MultimodalDataModule(tiny, batch_size=4)
    batch = next(iter(dm.train_dataloader()))
    for name in [n for n, spec in MODELS.items() if tiny.task in spec.tasks]:
        opts = {**model_preset(name, "digits-av"), "d_model": 8, "n_heads": 2}
        module = MultimodalModule(name, tiny.input_dims, tiny.n_outputs, tiny.task, opts)
        loss = module.training_step(batch, 0)
        loss.backward()
        assert np.isfinite(float(loss)), name
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name


def test_recipe_and_presets_come_from_the_library():
    from mmalign.implicit.registry import MODELS
    from mmalign.train.presets import model_preset

    cfg = TrainConfig().resolved("digits-av")
    assert (cfg.lr, cfg.lr_schedule, cfg.warmup_steps) == (3e-3, "cosine", 200)
    other = TrainConfig(lr=1e-4).resolved("mosi")
    assert (other.lr, other.lr_schedule, other.warmup_steps) == (1e-4, "plateau", 0)
    for name, spec in MODELS.items():
        assert model_preset(name, "digits-av") == spec.presets.get("digits-av", {})
        assert model_preset(name, "mosi") == {}
    with pytest.raises(ValueError, match="Unknown model 'bert'"):
        model_preset("bert", "digits-av")


def test_config_and_data_errors(tiny, tmp_path):
    with pytest.raises(ValueError, match="Unknown model 'bert'; valid options are: mult"):
        TrainConfig(model="bert")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="Unknown lr_schedule 'step'; valid options are: plateau"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="warmup_steps must be an int >= 0"):
        TrainConfig(warmup_steps=-5)
    with pytest.raises(TypeError, match="dataset must be a MultimodalDataset"):
        fit({"train": 1}, _config())
    with pytest.raises(FileNotFoundError, match="does not exist; pass the checkpoints/best"):
        evaluate(tmp_path / "none.ckpt", tiny)
    for name, content in (("text.ckpt", b"hello"), ("empty.ckpt", b""), ("tensor.ckpt", None)):
        path = tmp_path / name
        if content is None:
            torch.save({"weights": torch.zeros(2)}, path)
        else:
            path.write_bytes(content)
        with pytest.raises(ValueError, match=f"{name}' is .*not a checkpoint written by"):
            evaluate(path, tiny)


def test_fit_on_a_mult_pickle_reports_sentiment_metrics(tmp_path):
    import pickle

    from mmalign.data import load_mult_pickle

    rng = np.random.default_rng(0)
    obj = {}
    for split, n in (("train", 16), ("valid", 8), ("test", 8)):
        obj[split] = {
            m: rng.normal(size=(n, t, d)).astype(np.float32)
            for m, t, d in (("text", 6, 5), ("audio", 9, 4), ("vision", 7, 3))
        }
        obj[split]["labels"] = rng.uniform(-3, 3, (n, 1, 1)).astype(np.float32)
    path = tmp_path / "mosi_data.pkl"
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)
    ds = load_mult_pickle(path)
    res = fit(ds, _config(), model_options=TINY_MULT, out_dir=tmp_path / "run")
    m = res.test.metrics
    assert {"acc2_nonzero", "acc2_haszero", "f1_nonzero", "acc7", "mae", "corr"} <= set(m)
    assert res.test.alignment == {}  # no ground truth in these pickles


def test_lr_schedules():
    from mmalign.train.module import lr_factor

    cosine = lr_factor("cosine", 4, 104)
    assert [cosine(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]  # linear warm-up
    assert cosine(54) == pytest.approx(0.5)  # half-way through the decay
    assert cosine(104) == pytest.approx(0.0) and cosine(500) == pytest.approx(0.0)
    assert all(cosine(s) >= cosine(s + 1) for s in range(4, 120))
    constant = lr_factor("constant", 2, 10)
    assert [constant(s) for s in (0, 1, 2, 9, 50)] == [0.5, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_fit_steps_the_schedule_per_batch(tiny, tmp_path, schedule, capsys):
    cfg = _config(lr_schedule=schedule, warmup_steps=2, lr=2e-3)
    res = fit(tiny, cfg, model_options=TINY_MULT, out_dir=tmp_path / schedule)
    ckpt = torch.load(res.last_checkpoint, map_location="cpu", weights_only=False)
    (sched,) = ckpt["lr_schedulers"]
    steps = sched["last_epoch"]  # LambdaLR counts optimizer steps
    assert steps == res.epochs * -(-len(tiny["train"]) // cfg.batch_size)
    (group,) = ckpt["optimizer_states"][0]["param_groups"]
    expected = 2e-3 * (0.0 if schedule == "cosine" else 1.0)  # cosine has decayed to 0
    assert group["lr"] == pytest.approx(expected, abs=1e-12)
    assert res.history[-1]["lr"] == pytest.approx(expected, abs=1e-12)
    # without a progress bar, each epoch prints one line, with the time taken and left
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("epoch   1/1  train loss") and "elapsed 0:" in line, line
    assert line.endswith("left ~0:00"), line


DDP_SCRIPT = """
import sys
from mmalign.data import load_digits_av
from mmalign.train import TrainConfig, fit

if __name__ == "__main__":
    out, cache = sys.argv[1], sys.argv[2]
    ds = load_digits_av(n_train=32, n_valid=8, n_test=8, n_digits=2, cache_dir=cache)
    cfg = TrainConfig(max_epochs=2, batch_size=8, accelerator="cpu", devices="2", strategy="ddp",
                      progress_bar=False, n_plots=0, threads=1)
    res = fit(ds, cfg, model_options=dict(d_model=8, n_heads=2, n_layers=1, n_mem_layers=1),
              out_dir=out)
    if res.test is not None:  # rank 0 only
        print("rank0 epochs", res.epochs, "accuracy", res.test.metrics["accuracy"])
"""


def test_ddp_on_two_cpu_processes(tmp_path):
    """strategy="ddp" with devices=2 trains in two processes (gloo) and rank 0 evaluates."""
    import subprocess
    import sys

    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run"), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("rank0 epochs 2") == 1, proc.stdout
    doc = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert doc["train_config"]["strategy"] == "ddp" and len(doc["history"]) == 2
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").is_file()
