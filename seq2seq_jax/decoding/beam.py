"""Beam search over a model's step function (re-exported by ``decode``).

Shapes as in ``decode``: B batch, K beam size, R hypotheses returned (n-best), T output length, S
source length, V target vocabulary. Beams are a second vmapped axis K sharing
one memory; reordering them gathers every leaf of the model's cache (LSTM
states and input feed, or a Transformer KV cache).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.constants import BOS_ID, EOS_ID, PAD_ID, STOP_RULES
from seq2seq_jax.decoding.search import (
    NEG_INF,
    Array,
    Batched,
    Decoded,
    Params,
    cache_sizes,
    check_src,
    length_penalty,
    lengths,
    log_probs,
    running,
    trim,
)
from seq2seq_jax.models.interface import Model, StepOutput


class Hyps(NamedTuple):
    """K hypotheses per example (one of the two sets a beam search keeps)."""

    tokens: Array  # [B, K, T] int32, PAD after the last token
    log_prob: Array  # [B, K] float32; -inf marks an empty slot
    score: Array  # [B, K] float32, log_prob / lp(number of tokens)
    attention: Array | None  # [B, K, T, S] float32, or None without attention


class BeamState(NamedTuple):
    """The ``while_loop`` carry of beam search (after Flax ``examples/wmt/decode.py``)."""

    t: Array  # [] int32, tokens decoded so far by every alive hypothesis
    cache: Any  # the model's decoder state per alive hypothesis, leaves [B, K, ...]
    alive: Hyps  # [B, K, ...] the best unfinished; never contain EOS
    finished: Hyps  # [B, K, ...] the best ending in EOS, best score first
    done: Array  # [B] bool, no alive hypothesis can enter the finished set any more


def _gather(tree: Any, idx: Array) -> Any:
    """Pick ``idx: [B, K']`` from every leaf ``[B, K, ...]`` -> ``[B, K', ...]``."""
    rows = jnp.arange(idx.shape[0])[:, None]
    return jax.tree.map(lambda x: x[rows, idx], tree)


def _concat(a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.concatenate([x, y], axis=1), a, b)


def _beam_init(out: StepOutput, cache: Any, batch: int, beam: int, max_len: int) -> BeamState:
    """K copies of the first cache; only beam 0 is alive, so no copy is found twice."""
    cache = jax.tree.map(lambda x: jnp.broadcast_to(x[:, None], (batch, beam, *x.shape[1:])),
                         cache)
    attn = None
    if out.attention is not None:
        attn = jnp.zeros((batch, beam, max_len, out.attention.shape[-1]), jnp.float32)
    none = jnp.full((batch, beam), NEG_INF)
    empty = Hyps(jnp.full((batch, beam, max_len), PAD_ID, jnp.int32), none, none, attn)
    alive = empty._replace(log_prob=none.at[:, 0].set(0.0))
    return BeamState(jnp.zeros((), jnp.int32), cache, alive, empty, jnp.zeros((batch,), bool))


def _beam_step(fns: Batched, memory: Any, alpha: float, early_stopping: bool, stop: str,
               s: BeamState) -> BeamState:
    """Extend every alive beam by every token; keep the best K alive and K finished."""
    batch, beam, max_len = s.alive.tokens.shape
    prev = jnp.where(s.t == 0, BOS_ID, s.alive.tokens[:, :, jnp.maximum(s.t - 1, 0)])
    out, cache = fns.step_beams(memory, s.cache, prev)
    logp = log_probs(out.logits)  # [B, K, V]
    # 2K candidates hold at least K that do not end in EOS (a beam has one EOS). They
    # are picked in two stages, each beam's best first: the same 2K in the same order
    # as one top_k over [B, K * V] (ties: lower beam, then lower token), but XLA:CPU
    # turned that one, whose output is sliced twice below, into a full sort of K * V
    # per example (1.5 s a step at B = 128, K = 5, V = 8k, against 0.1 s).
    per_beam = min(2 * beam, logp.shape[-1])
    beam_lp, beam_tok = jax.lax.top_k(s.alive.log_prob[:, :, None] + logp, per_beam)
    cand_lp, flat = jax.lax.top_k(beam_lp.reshape(batch, beam * per_beam), 2 * beam)
    parent = flat // per_beam  # [B, 2K], best first
    token = jnp.take_along_axis(beam_tok.reshape(batch, -1), flat, axis=1).astype(jnp.int32)
    is_eos = token == EOS_ID
    history = _gather(s.alive, parent)
    attn = None
    if history.attention is not None:
        assert out.attention is not None
        attn = history.attention.at[:, :, s.t].set(_gather(out.attention, parent))
    cands = Hyps(history.tokens.at[:, :, s.t].set(token), cand_lp,
                 cand_lp / length_penalty(s.t + 1, alpha), attn)  # [B, 2K, ...]

    # Alive: the best K candidates that do not end in EOS.
    alive_lp, pick = jax.lax.top_k(jnp.where(is_eos, NEG_INF, cand_lp), beam)
    alive = _gather(cands, pick)._replace(log_prob=alive_lp,
                                          score=alive_lp / length_penalty(s.t + 1, alpha))

    # Finished: an EOS candidate counts only among the best K candidates (as in
    # fairseq), so beam size 1 is exactly greedy search. Old ones win ties.
    new = jax.tree.map(lambda x: x[:, :beam], cands)
    eos = is_eos[:, :beam]
    new = new._replace(log_prob=jnp.where(eos, new.log_prob, NEG_INF),
                       score=jnp.where(eos, new.score, NEG_INF))
    pool = _concat(s.finished, new)  # [B, 2K, ...]
    merged = _gather(pool, jax.lax.top_k(pool.score, beam)[1])
    finished = jax.tree.map(
        lambda old, m: jnp.where(s.done.reshape((-1,) + (1,) * (m.ndim - 1)), old, m),
        s.finished, merged)
    done = s.done
    if early_stopping:
        if stop == "first_k":  # every finished slot taken
            done = done | (jnp.min(finished.score, axis=1) > NEG_INF)
        else:
            done = done | _settled(alive_lp, finished.score, s.t + 1,
                                   max_len if stop == "exact" else None, alpha)
    return BeamState(s.t + 1, _gather(cache, jnp.take_along_axis(parent, pick, axis=1)),
                     alive, finished, done)


def _settled(alive_lp: Array, finished_score: Array, decoded: Array | int, max_len: int | None,
             alpha: float) -> Array:
    """``[B]``: True where no alive hypothesis can still beat the worst finished one.

    An alive log-prob (<= 0) only falls, so its final score is at most
    ``log_prob / max lp(n)`` over the lengths ``decoded < n <= max_len`` left;
    ``lp`` is monotone, so that max is at one end (the far end if alpha >= 0).
    With ``max_len`` None only the next length counts (the "current" rule): with
    alpha > 0 a hypothesis that would win only by growing much longer is dropped.
    """
    best = jnp.max(alive_lp, axis=1)
    biggest = length_penalty(decoded + 1, alpha)
    if max_len is not None:
        biggest = jnp.maximum(biggest, length_penalty(max_len, alpha))
    worst = jnp.min(finished_score, axis=1)  # -inf while a slot is empty
    return (best / biggest < worst) | (best == NEG_INF)


def _beam_finalize(s: BeamState, n_best: int) -> Decoded:
    """The best ``n_best`` per example: finished hypotheses by score, then alive
    ones (cut off at ``max_len``) only for the slots no finished one fills."""
    pool = _concat(s.finished, s.alive)  # [B, 2K, ...]
    in_finished = jnp.arange(pool.score.shape[1]) < s.finished.score.shape[1]
    group = jnp.where(pool.score > NEG_INF, jnp.where(in_finished, 0, 1), 2)  # [B, 2K]
    order = jnp.lexsort((-pool.score, group), axis=-1)[:, :n_best]  # [B, R]
    best = _gather(pool, order)
    return Decoded(best.tokens, lengths(best.tokens), best.log_prob, best.score,
                   best.attention, None)


@functools.partial(jax.jit, static_argnums=(0, 2, 4, 5, 6, 7, 8, 9, 10))
def _beam_search(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
                 beam_size: int, alpha: float, n_best: int, early_stopping: bool,
                 stop: str, with_attention: bool) -> Decoded:
    fns = Batched(model, params, cfg)
    sizes = cache_sizes(model, cfg, max_len)
    memory, cache = fns.start(src, sizes[0])
    batch = src.shape[0]
    out = fns.step_shapes(memory, cache)
    if not with_attention:  # no [B, K, T, S] history to reorder every step
        out = out._replace(attention=None)
    state = _beam_init(out, cache, batch, beam_size, max_len)
    body = functools.partial(_beam_step, fns, memory, alpha, early_stopping, stop)
    for i, size in enumerate(sizes):  # the cache grows when an output gets this long
        if i:
            state = state._replace(cache=fns.grow(state.cache, size, batch_axes=2))
        state = jax.lax.while_loop(functools.partial(running, size), body, state)
    return trim(_beam_finalize(state, n_best), src.shape[1])


def beam_search(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
                beam_size: int = 4, alpha: float = 0.6, n_best: int = 1,
                early_stopping: bool = True, stop: str = "exact",
                with_attention: bool = True) -> Decoded:
    """Beam search with the GNMT length penalty and a separate finished set (jitted).

    Each step extends the K alive hypotheses by every token and keeps the best
    2K by log-prob: those ending in EOS among the best K enter the finished set
    (the best K by ``score``), the best K others stay alive. An example stops
    when no alive hypothesis can beat its worst finished one, or at ``max_len``;
    hypotheses alive then fill only the n-best slots no finished one took.

    Args:
      model, params, cfg, src, max_len: as in ``greedy``.
      beam_size: K (static).
      alpha: length-penalty exponent; 0 ranks by log-prob alone (static).
      n_best: R <= K hypotheses returned per example, best first (static).
      early_stopping: stop an example once its finished set is settled; False
        always runs to ``max_len`` (static).
      stop: when a finished set is settled (static). "exact": no alive hypothesis
        can beat its worst member at any length up to ``max_len``, so the result is
        that of searching to ``max_len``. "current": none beats it at its next
        length (Hugging Face's default rule). "first_k": K hypotheses have ended
        (fairseq's and CTranslate2's rule). With alpha > 0 the exact rule keeps
        decoding to ``max_len`` in practice; the other two stop far sooner. "exact"
        and "current" are equal when alpha is 0.
      with_attention: keep each hypothesis's attention weights (static); False
        spares every step the reordering of that history.

    Returns:
      ``Decoded``: ``tokens [B, R, T]``, ``lengths``, ``log_prob``,
      ``score [B, R]`` and ``attention [B, R, T, S]`` of each hypothesis (None
      without attention); ``logits`` is None.
    """
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"need 1 <= n_best ({n_best}) <= beam_size ({beam_size})")
    if stop not in STOP_RULES:
        raise ValueError(f"stop={stop!r} is not valid; choose one of {list(STOP_RULES)}")
    return _beam_search(model, params, cfg, check_src(cfg, src, max_len), max_len, beam_size,
                        float(alpha), n_best, early_stopping, stop, with_attention)
