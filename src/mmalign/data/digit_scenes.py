"""digit-scenes: image-caption pairs with a known word-region alignment (weak grounding).

Each scene is a square canvas with 2 to 5 *distinct* handwritten digits (scikit-learn's 8x8
``load_digits``, rescaled) at random non-overlapping positions and scales. Its caption names
every digit exactly once, in pairs joined by a spatial relation::

    "a seven left of a two and a three above a five and a one"

The digit boxes are the regions (as detector boxes are for UNITER-style models), so the true
word -> region alignment is known: ``token_region[i, t]`` is the region that word ``t`` names,
or -1 for the other words. Regions are stored in a random order, independent of the order in
which the caption mentions them, so position in the list gives nothing away. The ``train`` and
``test`` splits draw from disjoint halves of the handwritten images.

Region features are the box's crop resized to 8x8 (64 values in [0, 1]) followed by its
normalized geometry ``(cx, cy, w, h)``: shape (n_scenes, max_digits, 68).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mmalign._utils import resolve_config

__all__ = [
    "DigitScenesConfig",
    "DigitScenes",
    "make_digit_scenes",
    "load_digit_scenes",
    "DIGIT_WORDS",
    "VOCAB",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Token ids: 0 is padding; the digit names come last so that ``id - DIGIT_OFFSET`` is the digit.
VOCAB = ("<pad>", "a", "and", "left", "right", "of", "above", "below", *DIGIT_WORDS)
DIGIT_OFFSET = VOCAB.index("zero")
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class DigitScenesConfig:
    """How to draw digit-scenes. Every default is listed here.

    Attributes
    ----------
    n_scenes : int
        Number of scenes (default 2000).
    split : {"train", "test"}
        Which half of the handwritten images to draw from (default "train").
    canvas : int
        Canvas side in pixels (default 64).
    min_digits, max_digits : int
        Digits per scene, drawn uniformly in ``[min_digits, max_digits]`` (default 2 and 5).
    size_range : (int, int)
        Side of each digit in pixels, drawn uniformly (default 10 to 20).
    noise : float
        Standard deviation of pixel noise added to the canvas (default 0.05).
    seed : int
        Seed of everything random (default 0).
    """

    n_scenes: int = 2000
    split: str = "train"
    canvas: int = 64
    min_digits: int = 2
    max_digits: int = 5
    size_range: tuple[int, int] = (10, 20)
    noise: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.n_scenes, (int, np.integer)) or self.n_scenes < 1:
            raise ValueError(f"n_scenes must be a positive int, got {self.n_scenes!r}.")
        if self.split not in _SPLITS:
            raise ValueError(f"Unknown split {self.split!r}; valid options are: train, test.")
        if not 1 <= self.min_digits <= self.max_digits <= 10:
            raise ValueError(
                f"need 1 <= min_digits <= max_digits <= 10 (digits in a scene are distinct), got "
                f"min_digits={self.min_digits!r}, max_digits={self.max_digits!r}."
            )
        lo, hi = self.size_range
        if not 4 <= lo <= hi:
            raise ValueError(
                f"size_range must be (low, high) with 4 <= low <= high, got {self.size_range!r}."
            )
        # the digits must fit side by side with room to move
        if self.max_digits * (hi + 1) ** 2 > 0.6 * self.canvas**2:
            raise ValueError(
                f"canvas={self.canvas} is too small for {self.max_digits} digits of up to {hi} px; "
                f"use a canvas of at least {int(np.ceil(np.sqrt(self.max_digits / 0.6) * (hi + 1)))} px "
                "or smaller digits."
            )
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise!r}.")


@dataclass(frozen=True)
class DigitScenes:
    """A set of digit-scenes.

    Attributes
    ----------
    images : ndarray of shape (n_scenes, canvas, canvas), float32
    boxes : ndarray of shape (n_scenes, max_digits, 4), int64
        ``(x0, y0, x1, y1)`` pixel boxes (end exclusive); -1 for padding.
    digits : ndarray of shape (n_scenes, max_digits), int64
        Digit class of each region; -1 for padding.
    region_features : ndarray of shape (n_scenes, max_digits, 68), float32
        8x8 crop of each box then ``(cx, cy, w, h) / canvas``; zeros for padding.
    region_mask : ndarray of shape (n_scenes, max_digits), bool
    captions : list of str
    tokens : ndarray of shape (n_scenes, max_words), int64
        Ids into :data:`VOCAB`; 0 is padding.
    token_mask : ndarray of shape (n_scenes, max_words), bool
    token_region : ndarray of shape (n_scenes, max_words), int64
        The region each word names (the true alignment); -1 for other words and padding.
    config : DigitScenesConfig
    """

    images: np.ndarray
    boxes: np.ndarray
    digits: np.ndarray
    region_features: np.ndarray
    region_mask: np.ndarray
    captions: list[str]
    tokens: np.ndarray
    token_mask: np.ndarray
    token_region: np.ndarray
    config: DigitScenesConfig

    def __len__(self) -> int:
        return len(self.captions)

    def words(self, i: int) -> list[str]:
        """The caption of scene ``i`` as a list of words (no padding)."""
        return [VOCAB[t] for t in self.tokens[i][self.token_mask[i]]]

    def subset(self, index: np.ndarray | slice) -> DigitScenes:
        """The scenes at ``index`` (an int array or a slice)."""
        idx = np.arange(len(self))[index]
        return dataclasses.replace(
            self,
            images=self.images[idx],
            boxes=self.boxes[idx],
            digits=self.digits[idx],
            region_features=self.region_features[idx],
            region_mask=self.region_mask[idx],
            captions=[self.captions[i] for i in idx],
            tokens=self.tokens[idx],
            token_mask=self.token_mask[idx],
            token_region=self.token_region[idx],
        )


def _image_pool(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)  # (1797, 8, 8) in [0, 1]
    half = len(x) // 2
    sl = slice(0, half) if split == "train" else slice(half, None)
    return x[sl], d.target[sl]


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    from scipy.ndimage import zoom

    out = zoom(img, size / img.shape[0], order=1)
    return np.clip(out[:size, :size], 0.0, 1.0)


def _relation(box_a: np.ndarray, box_b: np.ndarray) -> tuple[str, ...]:
    ca = ((box_a[0] + box_a[2]) / 2, (box_a[1] + box_a[3]) / 2)
    cb = ((box_b[0] + box_b[2]) / 2, (box_b[1] + box_b[3]) / 2)
    dx, dy = ca[0] - cb[0], ca[1] - cb[1]
    if abs(dx) >= abs(dy):
        return ("left", "of") if dx < 0 else ("right", "of")
    return ("above",) if dy < 0 else ("below",)  # image rows grow downwards


def _place(rng: np.random.Generator, sizes: list[int], canvas: int) -> list[np.ndarray] | None:
    boxes: list[np.ndarray] = []
    for s in sizes:
        for _ in range(200):
            x0, y0 = rng.integers(0, canvas - s + 1, size=2)
            box = np.array([x0, y0, x0 + s, y0 + s])
            # one pixel of clearance between boxes
            if all(
                box[0] >= b[2] + 1 or b[0] >= box[2] + 1 or box[1] >= b[3] + 1 or b[1] >= box[3] + 1
                for b in boxes
            ):
                boxes.append(box)
                break
        else:
            return None
    return boxes


def make_digit_scenes(config: DigitScenesConfig | None = None, **overrides) -> DigitScenes:
    """Draw digit-scenes (deterministic given the config).

    Parameters
    ----------
    config : DigitScenesConfig, optional
        Defaults to ``DigitScenesConfig()``; keyword ``overrides`` replace its fields.

    Returns
    -------
    DigitScenes

    Examples
    --------
    >>> s = make_digit_scenes(n_scenes=3, seed=1)
    >>> s.images.shape, s.region_features.shape
    ((3, 64, 64), (3, 5, 68))
    >>> all(s.digits[i, r] == VOCAB.index(w) - DIGIT_OFFSET
    ...     for i in range(3) for w, r in zip(s.words(i), s.token_region[i]) if r >= 0)
    True
    """
    config = resolve_config(config, DigitScenesConfig, overrides, "digit-scenes")
    cfg = config
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, _SPLITS.index(cfg.split)]))
    pool, pool_digit = _image_pool(cfg.split)
    by_digit = [np.flatnonzero(pool_digit == d) for d in range(10)]
    n, r_max, c = cfg.n_scenes, cfg.max_digits, cfg.canvas
    max_words = 3 * r_max + 2 * (r_max // 2) + (r_max - 1) // 2 * 1 + r_max  # generous bound
    images = np.zeros((n, c, c), np.float32)
    boxes = np.full((n, r_max, 4), -1, np.int64)
    digits = np.full((n, r_max), -1, np.int64)
    feats = np.zeros((n, r_max, 68), np.float32)
    tokens = np.zeros((n, max_words), np.int64)
    token_region = np.full((n, max_words), -1, np.int64)
    captions = []
    for i in range(n):
        k = int(rng.integers(cfg.min_digits, cfg.max_digits + 1))
        while True:
            sizes = [int(s) for s in rng.integers(cfg.size_range[0], cfg.size_range[1] + 1, size=k)]
            placed = _place(rng, sizes, c)
            if placed is not None:
                break
        dg = rng.choice(10, size=k, replace=False)
        canvas = np.zeros((c, c), np.float32)
        for j in range(k):
            img = pool[by_digit[dg[j]][int(rng.integers(len(by_digit[dg[j]])))]]
            x0, y0, x1, y1 = placed[j]
            canvas[y0:y1, x0:x1] = np.maximum(canvas[y0:y1, x0:x1], _resize(img, x1 - x0))
        canvas = np.clip(canvas + rng.normal(0.0, cfg.noise, size=canvas.shape), 0.0, 1.0)
        images[i] = canvas
        for j in range(k):
            x0, y0, x1, y1 = placed[j]
            boxes[i, j] = placed[j]
            digits[i, j] = dg[j]
            feats[i, j, :64] = _resize(canvas[y0:y1, x0:x1], 8).ravel()
            feats[i, j, 64:] = np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]) / c
        # caption: mention the regions in a fresh random order, in related pairs
        order = rng.permutation(k)
        words: list[str] = []
        refs: list[int] = []
        for p in range(0, k, 2):
            if words:
                words.append("and")
                refs.append(-1)
            a = int(order[p])
            words += ["a", DIGIT_WORDS[dg[a]]]
            refs += [-1, a]
            if p + 1 < k:
                b = int(order[p + 1])
                rel = _relation(placed[a], placed[b])
                words += [*rel, "a", DIGIT_WORDS[dg[b]]]
                refs += [-1] * len(rel) + [-1, b]
        captions.append(" ".join(words))
        tokens[i, : len(words)] = [VOCAB.index(w) for w in words]
        token_region[i, : len(words)] = refs
    width = int((tokens > 0).sum(1).max())
    tokens, token_region = tokens[:, :width], token_region[:, :width]
    return DigitScenes(
        images=images,
        boxes=boxes,
        digits=digits,
        region_features=feats,
        region_mask=digits >= 0,
        captions=captions,
        tokens=tokens,
        token_mask=tokens > 0,
        token_region=token_region,
        config=cfg,
    )


def load_digit_scenes(
    *,
    n_train: int = 2000,
    n_valid: int = 300,
    n_test: int = 500,
    seed: int = 0,
    min_digits: int = 2,
    max_digits: int = 5,
):
    """digit-scenes as a :class:`~mmalign.data.MultimodalDataset` of task ``"grounding"``,
    for :func:`mmalign.train.fit` (the weakly supervised ``grounding`` model).

    Streams: ``text``, the caption's token ids as one feature (N, T, 1) (0 = padding, ids of
    :data:`VOCAB`), and ``regions``, the region features (N, max_digits, 68). Labels
    (N, T): the region each word names, -1 for the other words (``token_region``); a weakly
    supervised model never trains on them. Training and validation scenes are drawn from the
    training half of the handwriting (seeds ``seed`` and ``seed + 2``), test scenes from the
    other half (seed ``seed + 1``: the same test scenes as ``make_digit_scenes(seed=seed + 1,
    split="test")``).

    Examples
    --------
    >>> ds = load_digit_scenes(n_train=8, n_valid=4, n_test=4)
    >>> ds.task, ds.input_dims, ds["test"].labels.shape
    ('grounding', {'text': 1, 'regions': 68}, (4, 16))
    """
    from mmalign.data._types import MultimodalDataset, MultimodalSplit

    options = dict(
        n_train=n_train,
        n_valid=n_valid,
        n_test=n_test,
        seed=seed,
        min_digits=min_digits,
        max_digits=max_digits,
    )
    draws = {
        "train": dict(n_scenes=n_train, seed=seed, split="train"),
        "valid": dict(n_scenes=n_valid, seed=seed + 2, split="train"),
        "test": dict(n_scenes=n_test, seed=seed + 1, split="test"),
    }
    splits = {}
    for name, draw in draws.items():
        s = make_digit_scenes(min_digits=min_digits, max_digits=max_digits, **draw)
        splits[name] = MultimodalSplit(
            features={
                "text": s.tokens[..., None].astype(np.float32),  # (N, T, 1) token ids
                "regions": s.region_features,  # (N, R, 68)
            },
            lengths={"text": s.token_mask.sum(1), "regions": s.region_mask.sum(1)},
            labels=s.token_region,  # (N, T)
            ids=[f"{name}-{i}" for i in range(len(s))],
            extras={"captions": list(s.captions), "digits": s.digits},
        )
    return MultimodalDataset(
        splits,
        task="grounding",
        n_outputs=max_digits,
        name="digit-scenes",
        source={"data": "digit-scenes", "options": options},
    )
