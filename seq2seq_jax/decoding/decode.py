"""Decoding: greedy search, beam search and sampling over a model's step function.

Shapes: B batch, S source length, K beam size, R hypotheses returned (n-best), T output length
(``max_len``), V target vocabulary.

Every algorithm reaches a model only through its per-example functions
(``interface.Model``): ``encode`` and ``init_cache`` once per source, vmapped
over B, then one ``step`` per position inside ``jax.lax.while_loop``. Beams are
a second vmapped axis K sharing one memory; reordering them gathers every leaf
of the model's cache (LSTM states and input feed, or a Transformer KV cache).

* Outputs hold the generated tokens (no BOS), PAD after EOS; ``lengths`` count
  the tokens up to and including EOS (T without one).
* PAD and BOS are never generated (their log-probs are set to -inf after the
  softmax), so every ``log_prob`` is the model's own.
* Beam search ranks by ``score = log_prob / lp(length)``, the GNMT length
  penalty ``lp(n) = ((5 + n) / 6) ** alpha`` (Wu et al. 2016, eq. 14); greedy
  search and sampling report ``score == log_prob``.
* Examples never interact: a batch decodes each sentence exactly as alone.
* The public functions pass every option positionally to a jitted core, so
  keywords or defaults never cause a recompile.

This module is the one entry point: beam search lives in ``beam`` and the pieces
every algorithm shares (``Decoded``, the batched model access) in ``search``;
both are re-exported here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.constants import BOS_ID, DECODE_METHODS, EOS_ID, PAD_ID
from seq2seq_jax.decoding.beam import beam_search
from seq2seq_jax.decoding.search import (
    NEG_INF,
    NEVER_GENERATED,
    Array,
    Batched,
    Decoded,
    Params,
    cache_sizes,
    check_src,
    default_max_len,
    length_penalty,
    lengths,
    log_probs,
    running,
    trim,
)
from seq2seq_jax.models.interface import Model

__all__ = ["METHODS", "NEVER_GENERATED", "Decoded", "beam_search", "decode",
           "default_max_len", "filter_logits", "greedy", "length_penalty", "sample"]

METHODS = DECODE_METHODS


class SearchState(NamedTuple):
    """The ``while_loop`` carry of greedy search and sampling."""

    t: Array  # [] int32, the output position decoded next
    cache: Any  # the model's decoder state, leaves [B, ...]
    done: Array  # [B] bool, EOS emitted
    tokens: Array  # [B, T] int32, PAD from t on and after EOS
    log_prob: Array  # [B] float32
    attention: Array | None  # [B, T, S] float32, or None without attention
    logits: Array | None  # [B, T, V] float32, or None unless asked for


def _search_step(fns: Batched, memory: Any, choose: Callable[[Array, Array], Array],
                 s: SearchState) -> SearchState:
    """Decode position ``s.t`` of every example; ``choose(t, logp [B, V]) -> [B]``."""
    prev = jnp.where(s.t == 0, BOS_ID, s.tokens[:, jnp.maximum(s.t - 1, 0)])  # [B]
    out, cache = fns.step(memory, s.cache, prev)
    logp = log_probs(out.logits)  # [B, V]
    live = ~s.done
    token = jnp.where(live, choose(s.t, logp), PAD_ID)  # [B]
    picked = jnp.take_along_axis(logp, token[:, None], axis=1)[:, 0]

    def record(history: Array | None, row: Array | None) -> Array | None:
        if history is None or row is None:
            return None
        return history.at[:, s.t].set(jnp.where(live[:, None], row, 0.0))

    return SearchState(s.t + 1, cache, s.done | (token == EOS_ID),
                       s.tokens.at[:, s.t].set(token),
                       s.log_prob + jnp.where(live, picked, 0.0),
                       record(s.attention, out.attention), record(s.logits, out.logits))


@functools.partial(jax.jit, static_argnums=(0, 2, 4, 5, 6, 11))
def _search(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
            return_logits: bool, sampling: bool, key: Array | None, temperature: Array,
            top_k: Array, top_p: Array, with_attention: bool = True) -> Decoded:
    """Greedy search, or sampling when ``sampling``: one loop, one token a step."""

    def choose(t: Array, logp: Array) -> Array:
        best = jnp.argmax(logp, axis=-1).astype(jnp.int32)
        if not sampling:
            return best
        assert key is not None
        x = filter_logits(logp, temperature, top_k, top_p)  # [B, V], rows drawn independently
        return jnp.where(temperature > 0, jax.random.categorical(jax.random.fold_in(key, t), x),
                         best)

    fns = Batched(model, params, cfg)
    sizes = cache_sizes(model, cfg, max_len)
    memory, cache = fns.start(src, sizes[0])
    batch = src.shape[0]
    out = fns.step_shapes(memory, cache)
    if not with_attention:  # no history kept: the loop neither stores nor computes it
        out = out._replace(attention=None)
    zeros = functools.partial(jnp.zeros, dtype=jnp.float32)
    state = SearchState(
        jnp.zeros((), jnp.int32), cache, jnp.zeros((batch,), bool),
        jnp.full((batch, max_len), PAD_ID, jnp.int32), zeros((batch,)),
        None if out.attention is None else zeros((batch, max_len, out.attention.shape[-1])),
        zeros((batch, max_len, out.logits.shape[-1])) if return_logits else None)
    body = functools.partial(_search_step, fns, memory, choose)
    for i, size in enumerate(sizes):  # the cache grows when an output gets this long
        if i:
            state = state._replace(cache=fns.grow(state.cache, size))
        state = jax.lax.while_loop(functools.partial(running, size), body, state)
    return trim(Decoded(state.tokens, lengths(state.tokens), state.log_prob, state.log_prob,
                         state.attention, state.logits), src.shape[1])


def greedy(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
           return_logits: bool = False, with_attention: bool = True) -> Decoded:
    """Greedy search: the most probable token at every step (jitted).

    Args:
      model, params, cfg: a model family's functions, params and frozen config
        (``model`` and ``cfg`` static).
      src: ``[B, S]`` int token ids, padded with PAD.
      max_len: T, the most tokens generated per example, EOS included (static).
      return_logits: also return every step's logits ``[B, T, V]`` (static).
      with_attention: keep the attention weights of every step (static); False
        spares the loop that history.

    Returns:
      ``Decoded``: ``tokens [B, T]``, ``lengths``, ``log_prob == score [B]``,
      ``attention [B, T, S]`` (None without attention or ``with_attention``) and
      ``logits``.
    """
    zero = jnp.zeros(())
    return _search(model, params, cfg, check_src(cfg, src, max_len), max_len, return_logits,
                   False, None, zero, zero, zero, with_attention)


def filter_logits(logits: Array, temperature: float | Array = 1.0, top_k: int | Array = 0,
                  top_p: float | Array = 1.0) -> Array:
    """The sampling distribution's logits ``[..., V]``: tempered, then truncated.

    Args:
      logits: ``[..., V]``; entries at ``-inf`` stay excluded.
      temperature: divides the logits (> 0; 0 is treated as 1 here).
      top_k: keep the ``top_k`` largest (0 keeps all); ties with the k-th are kept.
      top_p: nucleus (Holtzman et al. 2020): of what top-k kept, the smallest
        set of most probable tokens with mass >= ``top_p`` (1 keeps all).
      All three may be traced: one compiled sampler serves every setting.

    Returns:
      ``[..., V]`` float32 with the removed tokens at ``-inf``.
    """
    x = logits.astype(jnp.float32) / jnp.where(temperature > 0, temperature, 1.0)
    vocab = x.shape[-1]
    desc = -jnp.sort(-x, axis=-1)  # [..., V]
    k = jnp.where(top_k > 0, jnp.minimum(top_k, vocab), vocab)
    kth = jnp.take_along_axis(desc, jnp.broadcast_to(k - 1, (*x.shape[:-1], 1)), axis=-1)
    desc = jnp.where(desc < kth, NEG_INF, desc)
    probs = jax.nn.softmax(desc, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # the mass of the more probable tokens
    keep = (before < top_p) | (top_p >= 1.0)
    cutoff = jnp.min(jnp.where(keep, desc, jnp.inf), axis=-1, keepdims=True)
    return jnp.where(x < jnp.maximum(kth, cutoff), NEG_INF, x)


def sample(model: Model, params: Params, cfg: Any, src: Array, key: Array, max_len: int,
           temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           return_logits: bool = False, with_attention: bool = True) -> Decoded:
    """Ancestral sampling, optionally tempered and truncated (jitted).

    Args:
      model, params, cfg, src, max_len, return_logits: as in ``greedy``.
      key: a PRNG key; step t draws with ``fold_in(key, t)``.
      temperature, top_k, top_p: see ``filter_logits`` (traced: changing them
        does not recompile); ``temperature=0`` is greedy search.

    Returns:
      ``Decoded`` as in ``greedy``; ``log_prob`` under the model itself.
    """
    return _search(model, params, cfg, check_src(cfg, src, max_len), max_len, return_logits, True,
                   key, jnp.float32(temperature), jnp.int32(top_k), jnp.float32(top_p),
                   with_attention)



def decode(model: Model, params: Params, cfg: Any, src: Array, *, method: str = "greedy",
           max_len: int | None = None, beam_size: int = 4, alpha: float = 0.6,
           n_best: int = 1, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           key: Array | None = None, return_logits: bool = False,
           stop: str = "exact", with_attention: bool = True) -> Decoded:
    """Decode ``src: [B, S]`` with ``method`` "greedy", "beam" or "sample".

    ``max_len`` defaults to ``default_max_len(S)`` (capped by a config's own
    ``max_len``); pass it explicitly when the result must not depend on how far
    the batch was padded. Options of the other methods are ignored. Shapes as
    in ``greedy`` and ``beam_search`` (beams have the n-best axis R);
    ``sample`` needs a PRNG ``key``.
    """
    if max_len is None:
        max_len = default_max_len(jnp.shape(src)[-1])
        max_len = min(max_len, getattr(cfg, "max_len", max_len))
    if method == "greedy":
        return greedy(model, params, cfg, src, max_len, return_logits, with_attention)
    if method == "beam":
        return beam_search(model, params, cfg, src, max_len, beam_size, alpha, n_best,
                           stop=stop, with_attention=with_attention)
    if method == "sample":
        if key is None:
            raise ValueError("method='sample' needs a PRNG key, e.g. jax.random.PRNGKey(0)")
        return sample(model, params, cfg, src, key, max_len, temperature, top_k, top_p,
                      return_logits, with_attention)
    raise ValueError(f"method={method!r} is not valid; choose one of {list(METHODS)}")
