"""attention_alignment, alignment_accuracy, plot_alignment."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mmalign.implicit import (  # noqa: E402
    AttentionAlignment,
    ModelOutput,
    alignment_accuracy,
    attention_alignment,
    build_model,
    plot_alignment,
)


def fake_output() -> ModelOutput:
    # 2 layers, B=1, H=2, T_t=2, T_s=3
    l0 = torch.tensor([[[[1.0, 0, 0], [0, 1, 0]], [[1.0, 0, 0], [0, 1, 0]]]])
    l1 = torch.tensor([[[[0, 0, 1.0], [0, 0, 1]], [[0, 1.0, 0], [0, 0, 1]]]])
    return ModelOutput(torch.zeros(1, 1), torch.zeros(1, 4), {("t", "s"): [l0, l1]})


def test_attention_alignment_layers_and_heads():
    out = fake_output()
    last = attention_alignment(out, target="t", source="s")
    assert isinstance(last, AttentionAlignment)
    torch.testing.assert_close(last.soft[0], torch.tensor([[0, 0.5, 0.5], [0, 0, 1.0]]))
    assert last.hard.tolist() == [[1, 2]]
    first_head1 = attention_alignment(out, target="t", source="s", layers=[0], heads=1)
    assert first_head1.hard.tolist() == [[0, 1]]
    both = attention_alignment(out, target="t", source="s", layers="all", heads=[0])
    torch.testing.assert_close(both.soft[0], torch.tensor([[0.5, 0, 0.5], [0, 0.5, 0.5]]))


def test_attention_alignment_errors():
    out = fake_output()
    with pytest.raises(
        ValueError, match=r"No attention maps for \(target, source\) = \('s', 't'\)"
    ):
        attention_alignment(out, target="s", source="t")
    with pytest.raises(ValueError, match="must index the 2 layers"):
        attention_alignment(out, target="t", source="s", layers=5)
    with pytest.raises(ValueError, match="heads must be 'mean'"):
        attention_alignment(out, target="t", source="s", heads="max")
    empty = ModelOutput(torch.zeros(1, 1), torch.zeros(1, 1))
    with pytest.raises(ValueError, match="return_attention=True"):
        attention_alignment(empty, target="t", source="s")


def test_alignment_accuracy_hand_values():
    soft = np.array(
        [
            [[0.6, 0.4, 0.0, 0.0], [0.0, 0.2, 0.3, 0.5], [0.1, 0.1, 0.1, 0.7]],
            [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
        ]
    )
    truth = [np.array([[0, 2], [2, 3], [3, 4]]), np.array([[1, 2], [1, 2]])]
    score = alignment_accuracy(soft, truth)
    # sample 0: peaks 0 (in), 3 (out), 3 (in); sample 1: 1 (in), 0 (out)
    assert score.peak_accuracy == pytest.approx(3 / 5)
    assert score.mass == pytest.approx((1.0 + 0.3 + 0.7 + 1.0 + 0.0) / 5)
    np.testing.assert_allclose(score.per_sample_peak, [2 / 3, 1 / 2])
    assert score.n_scored == 5
    only_first = alignment_accuracy(soft, truth, lengths=[1, 1])
    assert only_first.peak_accuracy == 1.0 and only_first.n_scored == 2


def test_alignment_accuracy_errors():
    soft = np.full((1, 2, 3), 1 / 3)
    with pytest.raises(ValueError, match="one array per sample"):
        alignment_accuracy(soft, [])
    with pytest.raises(ValueError, match=r"must be an int array of shape \(T_target_valid, 2\)"):
        alignment_accuracy(soft, [np.array([[0.0, 1.0]])])
    with pytest.raises(ValueError, match="0 <= start < end <= 3"):
        alignment_accuracy(soft, [np.array([[0, 4]])])


def test_plot_alignment_draws_truth(tmp_path):
    soft = np.eye(3, 4)
    ax = plot_alignment(soft, np.array([[0, 1], [1, 2], [2, 4]]), title="demo")
    assert len(ax.patches) == 3 and ax.get_title() == "demo"
    assert ax.images[0].get_array().shape == (3, 4)
    with pytest.raises(ValueError, match="pass soft"):
        plot_alignment(np.zeros((1, 3, 4)))


def test_plot_alignment_one_box_per_word_labels_and_colorbar():
    import matplotlib.pyplot as plt

    # an audio target (60 frames) over a text source (3 words): frames of one word share a box
    truth = np.repeat(np.array([[0, 1], [1, 2], [2, 3]]), [25, 15, 20], axis=0)
    soft = np.random.default_rng(0).random((60, 3))
    fig, ax = plt.subplots()
    plot_alignment(soft, truth, ax=ax, source_ticks=["two", "eight", "six*"])
    boxes = [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches]
    assert boxes == [(-0.5, -0.5, 1, 25), (0.5, 24.5, 1, 15), (1.5, 39.5, 1, 20)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["two", "eight", "six*"]
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "attention"  # the colorbar
    # frame axes get whole-number ticks only
    assert all(float(t).is_integer() for t in ax.get_yticks())
    with pytest.raises(ValueError, match="one label per position \\(3\\), got 2"):
        plot_alignment(soft, ax=ax, source_ticks=["a", "b"])
    plt.close(fig)


def test_readout_from_a_real_model():
    torch.manual_seed(0)
    model = build_model("mult", {"t": 3, "a": 2}, 1, d_model=8, n_heads=2, n_layers=2).eval()
    x = {"t": torch.randn(2, 4, 3), "a": torch.randn(2, 6, 2)}
    lengths = {"a": torch.tensor([6, 3])}
    out = model(x, lengths, return_attention=True)
    al = attention_alignment(out, target="t", source="a", layers="all")
    assert al.soft.shape == (2, 4, 6) and al.hard.shape == (2, 4)
    torch.testing.assert_close(al.soft.sum(-1), torch.ones(2, 4))
    assert int(al.hard[1].max()) < 3  # never a padded source step
    truth = [np.stack([np.arange(4), np.arange(4) + 2], 1), np.array([[0, 3]] * 4)]
    score = alignment_accuracy(al, truth)
    assert score.per_sample_peak[1] == 1.0 and score.per_sample_mass[1] == pytest.approx(1.0)
