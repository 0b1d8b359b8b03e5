"""A model is added in one place: its file and one registry entry.

The test writes a new model in one file (its config at the top, then the module), adds one
``ModelSpec``, and then builds it, checks its options, shows it in ``mmalign train --help``,
trains it with ``fit``, reloads its checkpoint with ``evaluate`` and its weights with
``from_pretrained``; no other list in mmalign is touched.
"""

import subprocess
import sys
import textwrap

import pytest
import torch

from mmalign.implicit import registry

TINY_MODEL = '''
"""A mean-pooled linear model: the smallest model the registry can hold."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from mmalign.implicit._common import PretrainedMixin, prepare_inputs
from mmalign.implicit.config import ModelConfig, check_positive_int
from mmalign.implicit.outputs import ModelOutput


@dataclass
class TinyConfig(ModelConfig):
    model_name: ClassVar[str] = "tiny"

    width: int = 4

    def _validate(self) -> None:
        check_positive_int(self.width, "width")


class TinyModel(PretrainedMixin, nn.Module):
    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = nn.ModuleDict(
            {m: nn.Linear(d, config.width) for m, d in config.input_dims.items()}
        )
        self.head = nn.Linear(config.width * len(config.input_dims), config.n_outputs)

    def forward(self, inputs, lengths=None, return_attention=False):
        xs, lens, masks = prepare_inputs(self.config, inputs, lengths)
        pooled = torch.cat(
            [
                (self.proj[m](x) * k[..., None]).sum(1) / n[:, None]
                for m, x, n, k in zip(self.config.modalities, xs, lens, masks)
            ],
            dim=-1,
        )  # (B, M width)
        return ModelOutput(self.head(pooled), pooled, {}, dict(zip(self.config.modalities, lens)))
'''


@pytest.fixture
def tiny_model(tmp_path, monkeypatch):
    """The model's file, and its one registry entry (undone after the test)."""
    (tmp_path / "tiny_model.py").write_text(TINY_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))
    monkeypatch.setattr(registry, "MODEL_NAMES", registry.MODEL_NAMES)
    registry.register(
        registry.ModelSpec(
            "tiny",
            "tiny_model:TinyModel",
            "TinyConfig",
            "a mean-pooled linear model (test)",
            presets={"digits-av": {"width": 6}},
        )
    )
    yield "tiny"
    sys.modules.pop("tiny_model", None)


def test_a_model_in_one_file_and_one_entry(tiny_model, tmp_path):
    from mmalign.cli import build_parser
    from mmalign.data import load_digits_av
    from mmalign.implicit import build_model, from_pretrained
    from mmalign.train import TrainConfig, evaluate, fit
    from mmalign.train._cli import split_overrides

    assert registry.MODEL_NAMES[-1] == "tiny" and registry.CONFIG_CLASSES["tiny"].__name__ == (
        "TinyConfig"
    )
    model = build_model("tiny", {"t": 3, "v": 5}, 4, width=8)
    assert model.head.in_features == 16
    with pytest.raises(ValueError, match=r"Unknown TinyConfig options \['depth'\].*width"):
        build_model("tiny", {"t": 3, "v": 5}, 4, depth=2)
    # the CLI: the help lists it with its summary, --set knows its options
    train_help = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "tiny: a mean-pooled linear model (test)" in " ".join(train_help.split())
    assert split_overrides(["width=3", "lr=0.01"], "tiny")[:2] == ({"lr": 0.01}, {"width": 3})
    with pytest.raises(ValueError, match="tiny options: width"):
        split_overrides(["d_model=3"], "tiny")
    # fit trains it (with its preset for digits-av), evaluate reloads the checkpoint
    torch.set_num_threads(1)
    data = load_digits_av(
        n_train=24, n_valid=8, n_test=8, n_digits=2, cache_dir=tmp_path / "cache"
    ).select(["text", "vision"])
    config = TrainConfig(model="tiny", max_epochs=2, batch_size=8, progress_bar=False)
    result = fit(data, config, out_dir=tmp_path / "run")
    assert len(result.history) == 2 and result.history[1]["train_loss"] > 0
    again = evaluate(result.best_checkpoint, data)
    assert again.metrics["accuracy"] == pytest.approx(result.test.metrics["accuracy"])
    ckpt = torch.load(result.best_checkpoint, weights_only=True)
    assert ckpt["mmalign_run"]["model"] == "tiny"
    assert ckpt["mmalign_run"]["model_options"] == {"width": 6}  # the registry's preset
    # save_pretrained / from_pretrained find it through the registry
    model.save_pretrained(tmp_path / "pretrained")
    back = from_pretrained(tmp_path / "pretrained")
    assert type(back).__name__ == "TinyModel" and back.config == model.config


def test_register_refuses_a_taken_or_bad_name(monkeypatch):
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))
    with pytest.raises(ValueError, match="'mult' is already registered"):
        registry.register(registry.MODELS["mult"])
    with pytest.raises(ValueError, match="lower-case letters"):
        registry.ModelSpec("My Model", "m:M", "MConfig", "x")
    with pytest.raises(ValueError, match="'package.module:Class'"):
        registry.ModelSpec("mine", "m.M", "MConfig", "x")


def test_listing_the_models_imports_no_torch():
    """The registry, the package and `mmalign train --help` name every model without loading a
    model file (and torch); a config is imported with its model's file."""
    code = textwrap.dedent(
        """
        import contextlib, io, sys
        import mmalign.implicit as mi
        from mmalign.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            main(["train", "--help"])
        assert all(name in out.getvalue() for name in mi.MODEL_NAMES), out.getvalue()
        assert "MulTConfig" in dir(mi) and "MTAG" in mi.__all__
        print("torch" in sys.modules, end=" ")
        from mmalign.implicit.config import MulTConfig
        print("torch" in sys.modules, MulTConfig.__module__)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "True", "mmalign.implicit.mult"], out.stderr


def test_real_corpus_presets_build():
    """Every model's preset for the real corpora builds (co-attention's UTD-MHAD one with its
    3-frame temporal convolution), with the corpora's stream widths."""
    from mmalign.implicit import build_model
    from mmalign.implicit._common import TemporalConv
    from mmalign.train.presets import model_preset

    dims = {"utd-mhad": {"inertial": 6, "skeleton": 120}, "avletters": {"audio": 26, "video": 48}}
    for corpus, input_dims in dims.items():
        for name in ("mult", "early-fusion", "coattention", "lxmert", "mtag"):
            model = build_model(name, input_dims, 27, **model_preset(name, corpus))
            assert model.config.d_model == 32
    coatt = build_model(
        "coattention", dims["utd-mhad"], 27, **model_preset("coattention", "utd-mhad")
    )
    assert all(isinstance(coatt.proj[m], TemporalConv) for m in dims["utd-mhad"])
