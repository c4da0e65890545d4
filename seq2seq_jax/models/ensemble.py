"""An ensemble of trained models as one ``interface.Model``, so every decoder takes it.

The members may be of different families (an LSTM without attention, one with
Bahdanau attention, a Transformer) but must share the source and target
vocabularies. At each step the ensemble's next-token distribution is the mean
of the members' probabilities, returned as log-probabilities (already
normalised, so the decoders' log-softmax leaves them unchanged):

    log p(y) = logsumexp_i(log p_i(y)) - log n

Parameters are a dict ``{"0": params_0, "1": params_1, ...}``; memory and
cache are tuples with one entry per member. The attention reported is the
first member's that has attention (None if no member does).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from seq2seq_jax.models.interface import Model, Output, Params, StepOutput

Array = jax.Array
UNLIMITED = 2**31 - 1  # decode length limit when no member has one


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
    """The members' functions and frozen configs (hashable: a static jit argument)."""

    members: tuple[tuple[Model, Any], ...]
    max_len: int = UNLIMITED  # the smallest member limit (Transformer positions)

    @classmethod
    def of(cls, members: Sequence[tuple[Model, Any]]) -> EnsembleConfig:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        limits = [c.max_len for _, c in members if getattr(c, "max_len", None)]
        return cls(tuple(members), min(limits, default=UNLIMITED))

    @property
    def cache_grows(self) -> bool:
        """Whether some member's cache has a length (decoders then grow it in steps)."""
        return any(m.grow_cache is not None for m, _ in self.members)


def _mean_log_probs(logits: Sequence[Array]) -> Array:
    """``log(mean_i softmax(logits_i))`` over the last axis, in float32."""
    logp = jnp.stack([jax.nn.log_softmax(x.astype(jnp.float32), axis=-1) for x in logits])
    return jax.nn.logsumexp(logp, axis=0) - math.log(len(logits))


def _first_attention(attentions: Sequence[Array | None]) -> Array | None:
    return next((a for a in attentions if a is not None), None)


def _keys(key: Array | None, n: int) -> list[Array | None]:
    return [None] * n if key is None else list(jax.random.split(key, n))


def init(key: Array, cfg: EnsembleConfig) -> Params:
    """Fresh parameters for every member (for tests; ensembles are of trained models)."""
    keys = jax.random.split(key, len(cfg.members))
    return {str(i): m.init(k, c) for i, ((m, c), k) in enumerate(zip(cfg.members, keys,
                                                                      strict=True))}


def apply(params: Params, cfg: EnsembleConfig, src: Array, tgt_in: Array,
          key: Array | None = None) -> Output:
    """Teacher-forced ``[T, V]`` mean log-probabilities of the members."""
    outs = [m.apply(params[str(i)], c, src, tgt_in, k)
            for i, ((m, c), k) in enumerate(zip(cfg.members, _keys(key, len(cfg.members)),
                                                strict=True))]
    return Output(_mean_log_probs([o.logits for o in outs]),
                  _first_attention([o.attention for o in outs]))


def encode(params: Params, cfg: EnsembleConfig, src: Array, key: Array | None = None) -> Any:
    return tuple(m.encode(params[str(i)], c, src, k)
                 for i, ((m, c), k) in enumerate(zip(cfg.members, _keys(key, len(cfg.members)),
                                                     strict=True)))


def init_cache(params: Params, cfg: EnsembleConfig, memory: Any, max_len: int) -> Any:
    return tuple(m.init_cache(params[str(i)], c, mem, max_len)
                 for i, ((m, c), mem) in enumerate(zip(cfg.members, memory, strict=True)))


def grow_cache(params: Params, cfg: EnsembleConfig, cache: Any, max_len: int) -> Any:
    return tuple(ca if m.grow_cache is None else m.grow_cache(params[str(i)], c, ca, max_len)
                 for i, ((m, c), ca) in enumerate(zip(cfg.members, cache, strict=True)))


def step(params: Params, cfg: EnsembleConfig, memory: Any, cache: Any, token: Array,
         key: Array | None = None) -> tuple[StepOutput, Any]:
    """One step of every member; the mean of their next-token probabilities."""
    outs, caches = [], []
    for i, ((m, c), mem, ca, k) in enumerate(zip(cfg.members, memory, cache,
                                                 _keys(key, len(cfg.members)), strict=True)):
        out, new = m.step(params[str(i)], c, mem, ca, token, k)
        outs.append(out)
        caches.append(new)
    return (StepOutput(_mean_log_probs([o.logits for o in outs]),
                       _first_attention([o.attention for o in outs])), tuple(caches))


MODEL = Model("ensemble", init, apply, encode, init_cache, step, grow_cache)


def combine(members: Sequence[tuple[Model, Any, Params]]) -> tuple[Model, EnsembleConfig,
                                                                   Params]:
    """``(MODEL, cfg, params)`` of an ensemble of ``(model, cfg, params)`` triples."""
    cfg = EnsembleConfig.of([(m, c) for m, c, _ in members])
    return MODEL, cfg, {str(i): p for i, (_, _, p) in enumerate(members)}
