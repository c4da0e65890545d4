"""The interface every model family offers, so training, decoding,
benchmarking and checkpointing treat them alike.

The shape glossary of the whole package: each letter means one thing everywhere, in
shape comments (``# [T, V]``) and docstrings. Model functions are written per example;
B appears where a batch does.

====  =========================================================================
B     batch
S     source positions
T     target positions: teacher-forced inputs, or the tokens a decoder emits
M     positions a Transformer decode cache holds (``max_len``)
V     target vocabulary
E     embedding width
H     recurrent hidden width (one direction)
C     encoder state width, the keys and values of recurrent attention
Q     query width (the decoder state that scores attention)
A     additive attention's scoring width
D     Transformer model width
N     attention heads;  Dh: head width, D / N
F     feed-forward width
Y     stacked layers
K     beam size
R     hypotheses returned per input (n-best, R <= K)
====  =========================================================================
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax

Array = jax.Array
Params = dict[str, Any]


class Output(NamedTuple):
    """Teacher-forced result for one example."""

    logits: Array  # [T, V] float32
    # [T, S], rows sum to 1 over real source positions; None without attention
    attention: Array | None


class StepOutput(NamedTuple):
    """One decoding step for one example."""

    logits: Array  # [V] float32
    attention: Array | None  # [S] or None


class InitFn(Protocol):
    def __call__(self, key: Array, cfg: Any) -> Params: ...


class ApplyFn(Protocol):
    def __call__(self, params: Params, cfg: Any, src: Array, tgt_in: Array,
                 key: Array | None = None) -> Output: ...


class EncodeFn(Protocol):
    def __call__(self, params: Params, cfg: Any, src: Array, key: Array | None = None) -> Any: ...


class InitCacheFn(Protocol):
    def __call__(self, params: Params, cfg: Any, memory: Any, max_len: int) -> Any: ...


class GrowCacheFn(Protocol):
    def __call__(self, params: Params, cfg: Any, cache: Any, max_len: int) -> Any: ...


class StepFn(Protocol):
    def __call__(self, params: Params, cfg: Any, memory: Any, cache: Any, token: Array,
                 key: Array | None = None) -> tuple[StepOutput, Any]: ...


class Model(NamedTuple):
    """A model family: pure functions over a params pytree, each for ONE example.

    ``init(key, cfg) -> params``
    ``apply(params, cfg, src [S], tgt_in [T], key=None) -> Output``  (teacher forcing)
    ``encode(params, cfg, src [S], key=None) -> memory``  (computed once per sequence)
    ``init_cache(params, cfg, memory, max_len) -> cache``
    ``step(params, cfg, memory, cache, token [], key=None) -> (StepOutput, cache)``
    ``grow_cache(params, cfg, cache, max_len) -> cache`` (None when the cache has no
    length: an RNN's state): the same cache with room for ``max_len`` positions, so
    decoders start small and grow it only when an output gets that long.

    ``src`` is padded with ``PAD_ID`` (0); the mask is ``src != PAD_ID``.
    ``tgt_in`` starts with ``BOS_ID``. Running ``step`` T times from ``init_cache``
    on ``tgt_in`` reproduces ``apply``'s logits and attention.
    ``cfg`` is a frozen dataclass and must be a static argument under ``jax.jit``.
    """

    name: str
    init: InitFn
    apply: ApplyFn
    encode: EncodeFn
    init_cache: InitCacheFn
    step: StepFn
    grow_cache: GrowCacheFn | None = None
