"""The weakly supervised grounding model, a model of the registry trained by ``fit``."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmalign.data import load_dataset, load_digit_scenes
from mmalign.implicit import GroundingConfig, GroundingModel, build_model, from_pretrained
from mmalign.train import TrainConfig, evaluate, fit

torch.set_num_threads(1)
DIMS = {"text": 1, "regions": 68}


def _batch(seed=0, b=3, t=6, r=4):
    g = torch.Generator().manual_seed(seed)
    x = {
        "text": torch.randint(1, 18, (b, t, 1), generator=g).float(),
        "regions": torch.rand(b, r, 68, generator=g),
    }
    lengths = {"text": torch.tensor([t, 4, 5][:b]), "regions": torch.tensor([r, 2, 3][:b])}
    return x, lengths


def test_config_validation():
    with pytest.raises(ValueError, match="exactly two modalities"):
        GroundingConfig({"a": 1, "b": 2, "c": 3})
    with pytest.raises(ValueError, match="token ids, one feature per step; 'text' has 5"):
        GroundingConfig({"text": 5, "regions": 68}, vocab_size=18)
    with pytest.raises(ValueError, match="Unknown objective 'triplet'"):
        GroundingConfig(DIMS, vocab_size=18, objective="triplet")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        GroundingConfig(DIMS, temperature=0.0)


def test_forward_attention_and_padding():
    torch.manual_seed(0)
    model = build_model("grounding", DIMS, 4, vocab_size=18, dim=8, hidden=16).eval()
    x, lengths = _batch()
    out = model(x, lengths, return_attention=True)
    assert out.predictions.shape == (3, 6, 4) and out.pooled.shape == (3, 8)
    (att,) = out.attentions[("text", "regions")]
    assert att.shape == (3, 1, 6, 4)
    torch.testing.assert_close(att.sum(-1), torch.ones(3, 1, 6))
    assert float(att[1, :, :, 2:].detach().sum()) == 0.0  # sample 1 has 2 regions
    # the attention peak is the region with the highest cosine similarity
    w, r = model.embed(x["text"], x["regions"])
    sim = torch.einsum("td,rd->tr", w[0], r[0])
    assert torch.equal(att[0, 0].argmax(-1), sim.argmax(-1))
    # padded words and regions do not change the real ones' scores
    x2 = {k: v.clone() for k, v in x.items()}
    x2["regions"][1, 2:] = 9.0
    torch.testing.assert_close(model(x2, lengths).predictions[1], out.predictions[1])


def test_contrastive_loss_by_hand():
    """Symmetric InfoNCE on the late-interaction score (mean over words of the best region)."""
    torch.manual_seed(1)
    model = GroundingModel(GroundingConfig(DIMS, vocab_size=18, dim=8, hidden=16)).eval()
    x, lengths = _batch(seed=3)
    out = model(x, lengths)
    w, r = model.embed(x["text"], x["regions"])
    b = 3
    score = torch.zeros(b, b)
    for i in range(b):
        for j in range(b):
            nw, nr = int(lengths["text"][i]), int(lengths["regions"][j])
            best = (w[i, :nw] @ r[j, :nr].T).amax(-1)
            score[i, j] = best.mean() / model.config.temperature
    labels = torch.arange(b)
    expected = 0.5 * (F.cross_entropy(score, labels) + F.cross_entropy(score.T, labels))
    torch.testing.assert_close(out.loss, expected)
    sup = GroundingModel(GroundingConfig(DIMS, vocab_size=18, objective="supervised"))
    assert sup(x, lengths).loss is None  # trained on the labels by the trainer


@pytest.fixture(scope="module")
def scenes():
    return load_digit_scenes(n_train=200, n_valid=40, n_test=60, max_digits=3)


def test_digit_scenes_dataset(scenes):
    assert scenes.task == "grounding" and scenes.input_dims == DIMS and scenes.n_outputs == 3
    test = scenes["test"]
    # the words are token ids, the labels name a real region of the same scene
    ids = test.features["text"][..., 0]
    assert np.array_equal(ids, np.round(ids)) and ids.max() < 18
    rows, cols = np.nonzero(test.labels >= 0)
    assert np.all(test.labels[rows, cols] < test.lengths["regions"][rows])
    assert np.all(cols < test.lengths["text"][rows])
    again = load_dataset("digit-scenes", n_train=200, n_valid=40, n_test=60, max_digits=3)
    assert np.array_equal(again["test"].labels, test.labels)
    with pytest.raises(ValueError, match=r"\['n_scenes'\] are not options of digit-scenes"):
        load_dataset("digit-scenes", n_scenes=3)


@pytest.mark.parametrize("objective", ["contrastive", "supervised"])
def test_fit_learns_to_point_and_reloads(scenes, tmp_path, objective):
    config = TrainConfig(model="grounding", max_epochs=4, batch_size=32, progress_bar=False)
    result = fit(scenes, config, model_options={"objective": objective}, out_dir=tmp_path / "run")
    metrics = result.test.metrics
    test = scenes["test"]
    chance = np.mean(1.0 / test.lengths["regions"][np.nonzero(test.labels >= 0)[0]])
    assert metrics["n_words"] == int((test.labels >= 0).sum())
    assert metrics["pointing_accuracy"] > chance + 0.15, (metrics, chance)
    # the checkpoint's run record rebuilds it: evaluate gives the same scores
    again = evaluate(result.best_checkpoint, scenes)
    assert again.metrics == pytest.approx(metrics)
    ckpt = torch.load(result.best_checkpoint, weights_only=True)
    record = ckpt["mmalign_run"]
    assert record["model"] == "grounding" and record["data"]["data"] == "digit-scenes"
    assert record["model_options"] == {"vocab_size": 18, "objective": objective}
    doc = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # selection never reads the word-region labels: the score is minus the validation loss
    assert all(row["val_score"] == pytest.approx(-row["val_loss"]) for row in doc["history"])


def test_save_pretrained_and_deprecated_path_agree(scenes, tmp_path):
    from mmalign.connections.grounding import embed_scenes, train_grounding
    from mmalign.data.digit_scenes import make_digit_scenes

    train = make_digit_scenes(n_scenes=40, seed=2, max_digits=3)
    with pytest.warns(DeprecationWarning, match="train_grounding is deprecated"):
        model = train_grounding(train, steps=3, batch_size=8, seed=3)
    assert isinstance(model, GroundingModel) and model.config.vocab_size == 18
    model.save_pretrained(tmp_path / "g")
    back = from_pretrained(tmp_path / "g")
    assert isinstance(back, GroundingModel)
    w1, r1 = embed_scenes(model, train)
    w2, r2 = embed_scenes(back, train)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(r1, r2)


def test_fit_refuses_a_model_of_another_task(scenes, tmp_path):
    with pytest.raises(
        ValueError, match="'mult' trains on regression, .* Models for it: grounding"
    ):
        fit(scenes, TrainConfig(model="mult"), out_dir=tmp_path)


def test_weak_training_never_reads_the_labels(scenes, tmp_path):
    """The contrastive objective trains on the pairing alone: with every training and validation
    label erased (-1) it learns as well as with them (a trainer that fell back on the labels'
    loss would get NaN from an empty cross-entropy)."""
    from mmalign.data import MultimodalDataset, MultimodalSplit

    def erased(s):
        return MultimodalSplit(s.features, s.lengths, np.full_like(s.labels, -1), s.ids, s.extras)

    splits = {k: erased(v) if k != "test" else v for k, v in scenes.splits.items()}
    blind = MultimodalDataset(splits, scenes.task, scenes.n_outputs, scenes.name)
    config = TrainConfig(model="grounding", max_epochs=2, batch_size=32, progress_bar=False)
    a = fit(blind, config, out_dir=tmp_path / "blind")
    b = fit(scenes, config, out_dir=tmp_path / "seen")
    assert all(np.isfinite(row["train_loss"]) for row in a.history)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    assert a.test.metrics == b.test.metrics
