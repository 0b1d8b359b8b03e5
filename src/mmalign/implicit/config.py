"""Configuration dataclasses of the implicit alignment models (no torch import here).

One dataclass per model. Every config has ``input_dims`` (modality name -> feature dimension;
insertion order is the modality order) and ``n_outputs``; the other fields are documented with
their defaults. Configs round-trip through JSON with :meth:`ModelConfig.to_dict` and
:meth:`ModelConfig.from_dict`, which rejects unknown keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mmalign._utils import check_option

__all__ = [
    "ModelConfig",
    "MulTConfig",
    "EarlyFusionConfig",
    "CoAttentionConfig",
    "LXMERTConfig",
    "MTAGConfig",
]

FloatOrMap = float | dict[str, float]
IntOrMap = int | dict[str, int]


def _check_positive_int(value: Any, name: str, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")


def _check_rate(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}.")


def _check_per_modality(value: Any, name: str, modalities: list[str], check) -> None:
    """Check a value that is either one scalar or a dict modality -> scalar."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(modalities))
        if unknown:
            raise ValueError(
                f"{name} names unknown modalities {unknown}; the modalities are {modalities} "
                f"(from input_dims)."
            )
        for key, item in value.items():
            check(item, f"{name}[{key!r}]")
    else:
        check(value, name)


@dataclass
class ModelConfig:
    """Fields shared by every model.

    Parameters
    ----------
    input_dims : dict of str to int
        Modality name -> feature dimension ``D_m``; insertion order is the modality order
        (at least 2 modalities).
    n_outputs : int, default 1
        Width of the prediction head (1 for MOSI / MOSEI regression, 8 for IEMOCAP 4x2).
    """

    model_name: ClassVar[str] = ""

    input_dims: dict[str, int]
    n_outputs: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.input_dims, dict) or len(self.input_dims) < 2:
            raise ValueError(
                f"input_dims must be a dict modality name -> feature dim with at least 2 "
                f"modalities, got {self.input_dims!r}; e.g. {{'text': 300, 'audio': 74}}."
            )
        for key, dim in self.input_dims.items():
            if not isinstance(key, str) or not key or "." in key or key == "default":
                raise ValueError(
                    f"input_dims keys must be non-empty strings without '.' (and not 'default'), "
                    f"got {key!r}; rename the modality."
                )
            _check_positive_int(dim, f"input_dims[{key!r}]")
        _check_positive_int(self.n_outputs, "n_outputs")
        self._validate()

    def _validate(self) -> None:  # model-specific checks
        pass

    @property
    def modalities(self) -> list[str]:
        """Modality names in order."""
        return list(self.input_dims)

    def per_modality(self, name: str, modality: str) -> Any:
        """Resolve the scalar-or-dict field ``name`` for one modality.

        A dict maps modality -> value; a missing modality takes the dict's ``"default"`` entry,
        else the field's declared default.
        """
        value = getattr(self, name)
        if not isinstance(value, dict):
            return value
        if modality in value:
            return value[modality]
        if "default" in value:
            return value["default"]
        declared = {f.name: f for f in dataclasses.fields(self)}[name]
        if declared.default is not dataclasses.MISSING and not isinstance(declared.default, dict):
            return declared.default
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build a config from a dict; unknown keys raise ValueError listing the valid ones."""
        if not isinstance(data, dict):
            raise TypeError(f"config data must be a dict, got {type(data).__name__}.")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(
                f"Unknown {cls.__name__} fields {unknown}; valid fields are: {', '.join(valid)}."
            )
        return cls(**data)


@dataclass
class MulTConfig(ModelConfig):
    """Multimodal Transformer (MulT; Tsai et al., ACL 2019).

    The defaults are the reference code's (yaohungt/Multimodal-Transformer, ``main.py``):
    d 30, Conv1d kernel 1, 5 heads, 5 layers, 3+ layers in the self-attention ("memory")
    Transformers, the same dropouts, the first modality in the role of the reference's text.
    Two departures by default, both switchable: real padding masks (the reference has none)
    and ``future_mask=False`` (the reference applies its triangular "future" mask by default).
    :meth:`reference` reproduces the reference exactly (same parameter count, same outputs for
    the same weights).

    Parameters
    ----------
    d_model : int, default 30
        Width of every projected modality stream (the paper's appendix uses 40 on MOSEI).
    kernel_sizes : int or dict of str to int, default 1
        Conv1d kernel size of the temporal projection, per modality (odd; padding keeps T).
        As in the reference, a modality whose feature dim already equals ``d_model`` (with
        kernel 1) is not projected.
    n_heads : int, default 5
        Attention heads; must divide ``d_model``.
    n_layers : int, default 5
        Layers of each crossmodal Transformer (``--nlevels``).
    n_mem_layers : int or None, default None
        Layers of the per-target self-attention Transformer; None = ``max(n_layers, 3)``.
    attn_dropout : float, dict of str to float, or None, default None
        Attention dropout of a crossmodal block, taken from its SOURCE modality. None = the
        reference's rule: 0.1 for the first modality (its text), 0.0 for the others.
    mem_attn_dropout : float, default 0.1
        Attention dropout of the self-attention Transformers.
    relu_dropout, res_dropout : float, default 0.1
        Dropout after the FFN's ReLU and on each residual branch.
    embed_dropout : float, default 0.25
        Dropout on every Transformer's scaled input plus positions (queries, keys, values).
    input_dropout : float, dict of str to float, or None, default None
        Dropout on the raw input features. None = the reference's rule: 0.25 on the first
        modality (its text), none on the others.
    out_dropout : float, default 0.0
        Dropout inside the residual MLP head.
    future_mask : bool, default False
        Triangular mask: query ``i`` sees keys ``j <= i + |L_k - L_q|`` (valid lengths).
    """

    model_name: ClassVar[str] = "mult"

    d_model: int = 30
    kernel_sizes: IntOrMap = 1
    n_heads: int = 5
    n_layers: int = 5
    n_mem_layers: int | None = None
    attn_dropout: FloatOrMap | None = None
    mem_attn_dropout: float = 0.1
    relu_dropout: float = 0.1
    res_dropout: float = 0.1
    embed_dropout: float = 0.25
    input_dropout: FloatOrMap | None = None
    out_dropout: float = 0.0
    future_mask: bool = False

    def _validate(self) -> None:
        mods = self.modalities
        _check_positive_int(self.d_model, "d_model")
        _check_positive_int(self.n_heads, "n_heads")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads ({self.n_heads}) must divide d_model ({self.d_model}); "
                f"e.g. d_model={self.n_heads * max(1, self.d_model // self.n_heads)}."
            )
        _check_positive_int(self.n_layers, "n_layers")
        if self.n_mem_layers is not None:
            _check_positive_int(self.n_mem_layers, "n_mem_layers")

        def _odd(value: Any, name: str) -> None:
            _check_positive_int(value, name)
            if value % 2 == 0:
                raise ValueError(f"{name} must be odd so that lengths are kept, got {value}.")

        _check_per_modality(self.kernel_sizes, "kernel_sizes", mods + ["default"], _odd)
        for name in ("attn_dropout", "input_dropout"):
            if getattr(self, name) is not None:
                _check_per_modality(getattr(self, name), name, mods + ["default"], _check_rate)
        for name in ("mem_attn_dropout", "relu_dropout", "res_dropout", "embed_dropout"):
            _check_rate(getattr(self, name), name)
        _check_rate(self.out_dropout, "out_dropout")

    @property
    def mem_layers(self) -> int:
        """Depth of the self-attention Transformers."""
        return self.n_mem_layers if self.n_mem_layers is not None else max(self.n_layers, 3)

    def source_attn_dropout(self, modality: str) -> float:
        """Attention dropout of crossmodal blocks whose source is ``modality``."""
        value = self.per_modality("attn_dropout", modality)
        if value is None:
            return 0.1 if modality == self.modalities[0] else 0.0
        return float(value)

    def input_dropout_of(self, modality: str) -> float:
        """Dropout on the raw features of ``modality``."""
        value = self.per_modality("input_dropout", modality)
        if value is None:
            return 0.25 if modality == self.modalities[0] else 0.0
        return float(value)

    @classmethod
    def reference(cls, input_dims: dict[str, int], n_outputs: int = 1) -> MulTConfig:
        """The reference code's defaults exactly (``main.py`` of yaohungt/Multimodal-Transformer).

        The first modality plays the reference's text: its raw input gets dropout 0.25 and
        attention dropout 0.1; the others get attention dropout 0.0. The future mask is on.
        """
        mods = list(input_dims)
        return cls(
            input_dims=dict(input_dims),
            n_outputs=n_outputs,
            attn_dropout={m: (0.1 if i == 0 else 0.0) for i, m in enumerate(mods)},
            input_dropout={m: (0.25 if i == 0 else 0.0) for i, m in enumerate(mods)},
            future_mask=True,
        )

    @classmethod
    def paper(cls, input_dims: dict[str, int], n_outputs: int = 1) -> MulTConfig:
        """The paper's unaligned-MOSEI appendix setting: d 40, kernels 1 (first) / 3 (others)."""
        mods = list(input_dims)
        base = cls.reference(input_dims, n_outputs)
        return dataclasses.replace(
            base, d_model=40, kernel_sizes={m: (1 if i == 0 else 3) for i, m in enumerate(mods)}
        )


POOLINGS = ("cls", "mean", "last")
POSITIONS = ("learned", "sinusoidal")


def _check_bert(cfg: Any) -> None:
    """Checks of the fields every BERT-family config has."""
    _check_width(cfg)
    _check_positive_int(cfg.ff_mult, "ff_mult")
    _check_rate(cfg.dropout, "dropout")
    _check_rate(cfg.attn_dropout, "attn_dropout")
    check_option(cfg.positions, "positions", POSITIONS)
    _check_positive_int(cfg.max_positions, "max_positions")
    _check_bool(cfg.norm_first, "norm_first")
    check_option(cfg.pooling, "pooling", POOLINGS)


@dataclass
class EarlyFusionConfig(ModelConfig):
    """Single-stream early fusion as in VisualBERT (Li et al., 2019).

    Each modality is projected to ``d_model`` and gets a learned modality-type embedding and a
    position embedding; the streams are concatenated after a learned [CLS] vector, and one
    Transformer encoder runs over the joint sequence with the joint padding mask. The head
    reads the pooled [CLS] output (``tanh(Linear)``, BERT's pooler).

    Parameters
    ----------
    d_model : int, default 64
    n_heads : int, default 4
        Must divide ``d_model``.
    ff_mult : int, default 4
        FFN width is ``ff_mult * d_model`` (GELU).
    dropout : float, default 0.1
        Embedding, residual and FFN dropout.
    attn_dropout : float, default 0.1
    positions : {"learned", "sinusoidal"}, default "learned"
        ``"learned"``: a position table initialised N(0, 0.02), as BERT and the model's paper
        (small next to the content at the start); ``"sinusoidal"``: fixed unit-scale
        sinusoids (any length; at initialisation they outweigh the projected content).
    max_positions : int, default 512
        Length of the learned position table (longest stream accepted).
    norm_first : bool, default False
        Pre-LN sub-layers and ``sqrt(d_model)``-scaled embeddings without LayerNorm, plus a
        final LayerNorm per stream (MulT's layout) instead of the paper's post-LN (BERT) layout.
    n_layers : int, default 4
    pooling : {"cls", "mean", "last"}, default "cls"
        ``"cls"``: the [CLS] output; ``"mean"``: the mean of every valid step of every
        modality; ``"last"``: the last valid step of each modality, concatenated.
    """

    model_name: ClassVar[str] = "early-fusion"

    d_model: int = 64
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    attn_dropout: float = 0.1
    positions: str = "learned"
    max_positions: int = 512
    norm_first: bool = False
    n_layers: int = 4
    pooling: str = "cls"

    def _validate(self) -> None:
        _check_bert(self)
        _check_positive_int(self.n_layers, "n_layers")


def _check_width(cfg: Any) -> None:
    _check_positive_int(cfg.d_model, "d_model")
    _check_positive_int(cfg.n_heads, "n_heads")
    if cfg.d_model % cfg.n_heads:
        raise ValueError(
            f"n_heads ({cfg.n_heads}) must divide d_model ({cfg.d_model}); change one of them."
        )


def _check_self_layers(cfg: Any) -> None:
    _check_per_modality(
        cfg.n_self_layers,
        "n_self_layers",
        cfg.modalities + ["default"],
        lambda v, n: _check_positive_int(v, n, minimum=0),
    )


@dataclass
class CoAttentionConfig(ModelConfig):
    """Two-stream co-attention as in ViLBERT (Lu et al., NeurIPS 2019).

    Each modality is embedded to ``d_model``, runs ``n_self_layers`` self-attention layers of
    its own (per-stream depth), then ``n_coattn_layers`` co-attention blocks. In a block every
    stream queries the others (keys/values = the concatenation of all other streams; with two
    modalities exactly ViLBERT's co-attention), then its own FFN; a self-attention layer per
    stream follows (ViLBERT interleaves Co-TRM and TRM).

    Parameters
    ----------
    d_model : int, default 64
    n_heads : int, default 4
        Must divide ``d_model``.
    ff_mult : int, default 4
        FFN width is ``ff_mult * d_model`` (GELU).
    dropout : float, default 0.1
        Embedding, residual and FFN dropout.
    attn_dropout : float, default 0.1
    positions : {"learned", "sinusoidal"}, default "learned"
        ``"learned"``: a position table initialised N(0, 0.02), as BERT and the model's paper
        (small next to the content at the start); ``"sinusoidal"``: fixed unit-scale
        sinusoids (any length; at initialisation they outweigh the projected content).
    max_positions : int, default 512
        Length of the learned position table (longest stream accepted).
    norm_first : bool, default False
        Pre-LN sub-layers and ``sqrt(d_model)``-scaled embeddings without LayerNorm, plus a
        final LayerNorm per stream (MulT's layout) instead of the paper's post-LN (BERT) layout.
    n_self_layers : int or dict of str to int, default 1
        Self-attention layers per stream before co-attention (0 allowed; ViLBERT's text
        stream is deeper).
    n_coattn_layers : int, default 2
    pooling : {"cls", "mean", "last"}, default "cls"
        ``"cls"``: every stream starts with a learned summary token (BERT's [CLS]; ViLBERT's
        [IMG]) and the pooled vector is their final states through BERT's pooler
        (``tanh(Linear)``), concatenated; ``"mean"``: the masked means of the streams;
        ``"last"``: each stream's last real step (MulT's read-out). Attention maps never include
        the summary tokens.
    """

    model_name: ClassVar[str] = "coattention"

    d_model: int = 64
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    attn_dropout: float = 0.1
    positions: str = "learned"
    max_positions: int = 512
    norm_first: bool = False
    n_self_layers: IntOrMap = 1
    n_coattn_layers: int = 2
    pooling: str = "cls"

    def _validate(self) -> None:
        _check_bert(self)
        _check_self_layers(self)
        _check_positive_int(self.n_coattn_layers, "n_coattn_layers")


@dataclass
class LXMERTConfig(ModelConfig):
    """LXMERT-style encoder (Tan & Bansal, EMNLP 2019).

    Per-modality self-attention encoders (``n_self_layers`` each; LXMERT uses 9 for language
    and 5 for objects), then ``n_cross_layers`` cross-modality layers; in each, per stream:
    cross-attention to the other streams (concatenated, as in :class:`CoAttentionConfig`),
    then self-attention, then FFN.

    Parameters
    ----------
    d_model : int, default 64
    n_heads : int, default 4
        Must divide ``d_model``.
    ff_mult : int, default 4
        FFN width is ``ff_mult * d_model`` (GELU).
    dropout : float, default 0.1
        Embedding, residual and FFN dropout.
    attn_dropout : float, default 0.1
    positions : {"learned", "sinusoidal"}, default "learned"
        ``"learned"``: a position table initialised N(0, 0.02), as BERT and the model's paper
        (small next to the content at the start); ``"sinusoidal"``: fixed unit-scale
        sinusoids (any length; at initialisation they outweigh the projected content).
    max_positions : int, default 512
        Length of the learned position table (longest stream accepted).
    norm_first : bool, default False
        Pre-LN sub-layers and ``sqrt(d_model)``-scaled embeddings without LayerNorm, plus a
        final LayerNorm per stream (MulT's layout) instead of the paper's post-LN (BERT) layout.
    n_self_layers : int or dict of str to int, default 2
    n_cross_layers : int, default 2
    pooling : {"cls", "mean", "last"}, default "cls"
        ``"cls"``: every stream starts with a learned summary token (BERT's [CLS]; ViLBERT's
        [IMG]) and the pooled vector is their final states through BERT's pooler
        (``tanh(Linear)``), concatenated; ``"mean"``: the masked means of the streams;
        ``"last"``: each stream's last real step (MulT's read-out). Attention maps never include
        the summary tokens.
    """

    model_name: ClassVar[str] = "lxmert"

    d_model: int = 64
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    attn_dropout: float = 0.1
    positions: str = "learned"
    max_positions: int = 512
    norm_first: bool = False
    n_self_layers: IntOrMap = 2
    n_cross_layers: int = 2
    pooling: str = "cls"

    def _validate(self) -> None:
        _check_bert(self)
        _check_self_layers(self)
        _check_positive_int(self.n_cross_layers, "n_cross_layers")


@dataclass
class MTAGConfig(ModelConfig):
    """Modal-Temporal Attention Graph (MTAG; Yang et al., NAACL 2021).

    Defaults follow the reference ``run.sh`` for unaligned MOSI (d 64, 4 heads, 6 layers,
    keep 0.8 of the edges after each layer).

    Parameters
    ----------
    d_model : int, default 64
    n_heads : int, default 4
        Must divide ``d_model`` (heads are concatenated).
    n_layers : int, default 6
    keep_ratio : float, default 0.8
        Fraction of edges kept (by head-averaged attention) after each layer; 1.0 = no pruning.
    window_factor : float, default 2.0
        Width factor of the pseudo-alignment window between sequences of different lengths.
    all_to_all_within : bool, default False
        Within a modality link every pair of steps (past/future by order) instead of adjacent
        steps only.
    vision_conv : dict of str to bool, default {}
        Modalities whose input projection is a Conv1d(k=3) instead of a Linear (the reference
        does this for vision).
    dropout : float, default 0.1
        Dropout on the node embeddings and on the attention coefficients.
    negative_slope : float, default 0.2
        LeakyReLU slope of the attention logits.
    attention : {"gat", "dot"}, default "gat"
        ``"gat"``: the reference's additive (GAT) attention, whose ranking of a node's neighbours
        of one edge type is the same for every target node; ``"dot"`` adds a scaled dot-product
        query-key term per head (``q_i . k_j / sqrt(c)``, content-dependent), which lets a node
        pick the neighbours that match it (e.g. a word its image).
    content_scale : bool, default False
        Scale the projected content by ``sqrt(d_model)`` against the unit-scale sinusoidal
        positions (as the original Transformer and MulT); the reference adds them unscaled.
    pooling : {"mean", "last"}, default "mean"
        ``"mean"``: the reference's mean over all real nodes (d); ``"last"``: the last real node of
        every modality, concatenated (M d), as MulT reads its last steps.
    head_hidden : int or None, default None
        Width of the MLP head's two hidden layers; None = the reference's ``d_model // 4``.
    residual : bool, default False
        Add each graph layer's input to its output (``x + layer(x)``); the reference chains the
        layers with neither residual nor activation, so a node's own content is one message
        among all its neighbours' after the first layer.
    norm_first : bool, default False
        LayerNorm on each graph layer's input and on the nodes before the readout (pre-LN, as
        MulT); the reference has no normalisation.
    """

    model_name: ClassVar[str] = "mtag"

    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 6
    keep_ratio: float = 0.8
    window_factor: float = 2.0
    all_to_all_within: bool = False
    vision_conv: dict[str, bool] = field(default_factory=dict)
    dropout: float = 0.1
    negative_slope: float = 0.2
    attention: str = "gat"
    content_scale: bool = False
    pooling: str = "mean"
    head_hidden: int | None = None
    residual: bool = False
    norm_first: bool = False

    def _validate(self) -> None:
        _check_width(self)
        _check_positive_int(self.n_layers, "n_layers")
        check_option(self.attention, "attention", ("gat", "dot"))
        _check_bool(self.content_scale, "content_scale")
        check_option(self.pooling, "pooling", ("mean", "last"))
        _check_bool(self.residual, "residual")
        _check_bool(self.norm_first, "norm_first")
        if self.head_hidden is not None:
            _check_positive_int(self.head_hidden, "head_hidden")
        if not isinstance(self.keep_ratio, int | float) or not 0.0 < self.keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio must be in (0, 1], got {self.keep_ratio!r}.")
        if not isinstance(self.window_factor, int | float) or self.window_factor <= 0:
            raise ValueError(f"window_factor must be > 0, got {self.window_factor!r}.")
        _check_per_modality(
            self.vision_conv, "vision_conv", self.modalities, lambda v, n: _check_bool(v, n)
        )
        _check_rate(self.dropout, "dropout")
        if not isinstance(self.negative_slope, int | float) or self.negative_slope < 0:
            raise ValueError(f"negative_slope must be >= 0, got {self.negative_slope!r}.")


def _check_bool(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")


# The registry (mmalign.implicit.registry) lists the models; these names stay importable here.
_FROM_REGISTRY = ("MODEL_NAMES", "CONFIG_CLASSES", "config_class")


def __getattr__(name: str) -> Any:
    if name in _FROM_REGISTRY:
        from mmalign.implicit import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
