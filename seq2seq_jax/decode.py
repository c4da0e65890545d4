"""Decoding: greedy search, beam search and sampling over a model's step function.

Shapes: B batch, S source length, K beam size, N n-best, L output length
(``max_len``), V target vocabulary.

Every algorithm reaches a model only through its per-example functions
(``interface.Model``): ``encode`` and ``init_cache`` once per source, vmapped
over B, then one ``step`` per position inside ``jax.lax.while_loop``. Beams are
a second vmapped axis K sharing one memory; reordering them gathers every leaf
of the model's cache (LSTM states and input feed, or a Transformer KV cache).

* Outputs hold the generated tokens (no BOS), PAD after EOS; ``lengths`` count
  the tokens up to and including EOS (L without one).
* PAD and BOS are never generated (their log-probs are set to -inf after the
  softmax), so every ``log_prob`` is the model's own.
* Beam search ranks by ``score = log_prob / lp(length)``, the GNMT length
  penalty ``lp(n) = ((5 + n) / 6) ** alpha`` (Wu et al. 2016, eq. 14); greedy
  search and sampling report ``score == log_prob``.
* Examples never interact: a batch decodes each sentence exactly as alone.
* The public functions pass every option positionally to a jitted core, so
  keywords or defaults never cause a recompile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.interface import Model, StepOutput
from seq2seq_jax.model_config import BOS_ID, EOS_ID, PAD_ID

Array = jax.Array
Params = dict[str, Any]

METHODS = ("greedy", "beam", "sample")
NEVER_GENERATED = (PAD_ID, BOS_ID)
NEG_INF = float("-inf")


class Decoded(NamedTuple):
    """The result of every algorithm; beam search adds an n-best axis N after B."""

    tokens: Array  # [B, L] int32 ([B, N, L] for beams); PAD after EOS
    lengths: Array  # [B] int32 ([B, N]); tokens up to and including EOS
    log_prob: Array  # [B] float32 ([B, N]); sum of the tokens' log-probabilities
    score: Array  # [B] float32 ([B, N]); log_prob / lp(length) for beams, else log_prob
    attention: Array | None  # [B, L, S] ([B, N, L, S]); zero after EOS; None without attention
    logits: Array | None  # [B, L, V] every step's logits (greedy / sample, on request)


def length_penalty(length: Array | int, alpha: float) -> Array:
    """GNMT length penalty ``((5 + length) / 6) ** alpha`` (Wu et al. 2016, eq. 14)."""
    return jnp.power((5.0 + jnp.asarray(length, jnp.float32)) / 6.0, alpha)


def default_max_len(src_len: int) -> int:
    """A length limit for sources padded to length ``S``: ``2 S + 10``."""
    return 2 * src_len + 10


# ---------------------------------------------------------------- model access


class _Batched(NamedTuple):
    """The model's per-example functions lifted over the batch (and the beams)."""

    model: Model
    params: Params
    cfg: Any

    def start(self, src: Array, max_len: int) -> tuple[Any, Any]:
        """Memory and first cache for ``src: [B, S]``, leaves ``[B, ...]``; ``S = 0``
        becomes one PAD column (the same empty source; not every model takes S = 0)."""
        if src.shape[1] == 0:
            src = jnp.full((src.shape[0], 1), PAD_ID, src.dtype)
        m, p, cfg = self
        memory = jax.vmap(lambda s: m.encode(p, cfg, s))(src)
        return memory, jax.vmap(lambda mem: m.init_cache(p, cfg, mem, max_len))(memory)

    def step(self, memory: Any, cache: Any, token: Array) -> tuple[StepOutput, Any]:
        """``token: [B]`` -> logits ``[B, V]``, attention ``[B, S]`` or None."""
        m, p, cfg = self
        return jax.vmap(lambda mem, c, t: m.step(p, cfg, mem, c, t))(memory, cache, token)

    def step_beams(self, memory: Any, cache: Any, token: Array) -> tuple[StepOutput, Any]:
        """``token: [B, K]``, cache leaves ``[B, K, ...]`` -> logits ``[B, K, V]``."""
        m, p, cfg = self

        def beams(mem: Any, c: Any, t: Array) -> tuple[StepOutput, Any]:
            return jax.vmap(lambda ci, ti: m.step(p, cfg, mem, ci, ti))(c, t)

        return jax.vmap(beams)(memory, cache, token)


def _log_probs(logits: Array) -> Array:
    """Log-softmax in float32 over ``[..., V]``; the never-generated ids at -inf."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    banned = jnp.isin(jnp.arange(logp.shape[-1]), jnp.asarray(NEVER_GENERATED))
    return jnp.where(banned, NEG_INF, logp)


def _lengths(tokens: Array) -> Array:
    return jnp.sum(tokens != PAD_ID, axis=-1, dtype=jnp.int32)


def _trim(out: Decoded, src_len: int) -> Decoded:
    """Drop the PAD column ``start`` gives a zero-width source."""
    return out._replace(attention=None if out.attention is None
                        else out.attention[..., :src_len])


def _check(cfg: Any, src: Array, max_len: int) -> Array:
    src = jnp.asarray(src, jnp.int32)
    if src.ndim != 2:
        raise ValueError(f"src must be [B, S] token ids, got shape {src.shape}")
    if not isinstance(max_len, int) or not 1 <= max_len <= getattr(cfg, "max_len", max_len):
        raise ValueError(f"max_len={max_len!r} must be a positive int, at most the "
                         f"model's decode limit model.max_len={getattr(cfg, 'max_len', None)}")
    return src


# ---------------------------------------------------------------- greedy / sampling


class SearchState(NamedTuple):
    """The ``while_loop`` carry of greedy search and sampling."""

    t: Array  # [] int32, the output position decoded next
    cache: Any  # the model's decoder state, leaves [B, ...]
    done: Array  # [B] bool, EOS emitted
    tokens: Array  # [B, L] int32, PAD from t on and after EOS
    log_prob: Array  # [B] float32
    attention: Array | None  # [B, L, S] float32, or None without attention
    logits: Array | None  # [B, L, V] float32, or None unless asked for


def _search_step(fns: _Batched, memory: Any, choose: Callable[[Array, Array], Array],
                 s: SearchState) -> SearchState:
    """Decode position ``s.t`` of every example; ``choose(t, logp [B, V]) -> [B]``."""
    prev = jnp.where(s.t == 0, BOS_ID, s.tokens[:, jnp.maximum(s.t - 1, 0)])  # [B]
    out, cache = fns.step(memory, s.cache, prev)
    logp = _log_probs(out.logits)  # [B, V]
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


@functools.partial(jax.jit, static_argnums=(0, 2, 4, 5, 6))
def _search(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
            return_logits: bool, sampling: bool, key: Array | None, temperature: Array,
            top_k: Array, top_p: Array) -> Decoded:
    """Greedy search, or sampling when ``sampling``: one loop, one token a step."""

    def choose(t: Array, logp: Array) -> Array:
        best = jnp.argmax(logp, axis=-1).astype(jnp.int32)
        if not sampling:
            return best
        assert key is not None
        x = filter_logits(logp, temperature, top_k, top_p)  # [B, V], rows drawn independently
        return jnp.where(temperature > 0, jax.random.categorical(jax.random.fold_in(key, t), x),
                         best)

    fns = _Batched(model, params, cfg)
    memory, cache = fns.start(src, max_len)
    batch = src.shape[0]
    out, _ = jax.eval_shape(fns.step, memory, cache, jnp.full((batch,), BOS_ID, jnp.int32))
    zeros = functools.partial(jnp.zeros, dtype=jnp.float32)
    state = SearchState(
        jnp.zeros((), jnp.int32), cache, jnp.zeros((batch,), bool),
        jnp.full((batch, max_len), PAD_ID, jnp.int32), zeros((batch,)),
        None if out.attention is None else zeros((batch, max_len, out.attention.shape[-1])),
        zeros((batch, max_len, out.logits.shape[-1])) if return_logits else None)
    state = jax.lax.while_loop(lambda s: (s.t < max_len) & ~jnp.all(s.done),
                               functools.partial(_search_step, fns, memory, choose), state)
    return _trim(Decoded(state.tokens, _lengths(state.tokens), state.log_prob, state.log_prob,
                         state.attention, state.logits), src.shape[1])


def greedy(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
           return_logits: bool = False) -> Decoded:
    """Greedy search: the most probable token at every step (jitted).

    Args:
      model, params, cfg: a model family's functions, params and frozen config
        (``model`` and ``cfg`` static).
      src: ``[B, S]`` int token ids, padded with PAD.
      max_len: L, the most tokens generated per example, EOS included (static).
      return_logits: also return every step's logits ``[B, L, V]`` (static).

    Returns:
      ``Decoded``: ``tokens [B, L]``, ``lengths``, ``log_prob == score [B]``,
      ``attention [B, L, S]`` (None without attention) and ``logits``.
    """
    zero = jnp.zeros(())
    return _search(model, params, cfg, _check(cfg, src, max_len), max_len, return_logits,
                   False, None, zero, zero, zero)


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
           return_logits: bool = False) -> Decoded:
    """Ancestral sampling, optionally tempered and truncated (jitted).

    Args:
      model, params, cfg, src, max_len, return_logits: as in ``greedy``.
      key: a PRNG key; step t draws with ``fold_in(key, t)``.
      temperature, top_k, top_p: see ``filter_logits`` (traced: changing them
        does not recompile); ``temperature=0`` is greedy search.

    Returns:
      ``Decoded`` as in ``greedy``; ``log_prob`` under the model itself.
    """
    return _search(model, params, cfg, _check(cfg, src, max_len), max_len, return_logits, True,
                   key, jnp.float32(temperature), jnp.int32(top_k), jnp.float32(top_p))


# ---------------------------------------------------------------- beam search


class Hyps(NamedTuple):
    """K hypotheses per example (one of the two sets a beam search keeps)."""

    tokens: Array  # [B, K, L] int32, PAD after the last token
    log_prob: Array  # [B, K] float32; -inf marks an empty slot
    score: Array  # [B, K] float32, log_prob / lp(number of tokens)
    attention: Array | None  # [B, K, L, S] float32, or None without attention


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


def _beam_step(fns: _Batched, memory: Any, alpha: float, early_stopping: bool,
               s: BeamState) -> BeamState:
    """Extend every alive beam by every token; keep the best K alive and K finished."""
    batch, beam, max_len = s.alive.tokens.shape
    prev = jnp.where(s.t == 0, BOS_ID, s.alive.tokens[:, :, jnp.maximum(s.t - 1, 0)])
    out, cache = fns.step_beams(memory, s.cache, prev)
    logp = _log_probs(out.logits)  # [B, K, V]
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
        done = done | _settled(alive_lp, finished.score, s.t + 1, max_len, alpha)
    return BeamState(s.t + 1, _gather(cache, jnp.take_along_axis(parent, pick, axis=1)),
                     alive, finished, done)


def _settled(alive_lp: Array, finished_score: Array, decoded: Array | int, max_len: int,
             alpha: float) -> Array:
    """``[B]``: True where no alive hypothesis can still beat the worst finished one.

    An alive log-prob (<= 0) only falls, so its final score is at most
    ``log_prob / max lp(n)`` over the lengths ``decoded < n <= max_len`` left;
    ``lp`` is monotone, so that max is at one end (the far end if alpha >= 0).
    """
    best = jnp.max(alive_lp, axis=1)
    biggest = jnp.maximum(length_penalty(decoded + 1, alpha), length_penalty(max_len, alpha))
    worst = jnp.min(finished_score, axis=1)  # -inf while a slot is empty
    return (best / biggest < worst) | (best == NEG_INF)


def _beam_finalize(s: BeamState, n_best: int) -> Decoded:
    """The best ``n_best`` per example: finished hypotheses by score, then alive
    ones (cut off at ``max_len``) only for the slots no finished one fills."""
    pool = _concat(s.finished, s.alive)  # [B, 2K, ...]
    in_finished = jnp.arange(pool.score.shape[1]) < s.finished.score.shape[1]
    group = jnp.where(pool.score > NEG_INF, jnp.where(in_finished, 0, 1), 2)  # [B, 2K]
    order = jnp.lexsort((-pool.score, group), axis=-1)[:, :n_best]  # [B, N]
    best = _gather(pool, order)
    return Decoded(best.tokens, _lengths(best.tokens), best.log_prob, best.score,
                   best.attention, None)


@functools.partial(jax.jit, static_argnums=(0, 2, 4, 5, 6, 7, 8))
def _beam_search(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
                 beam_size: int, alpha: float, n_best: int, early_stopping: bool) -> Decoded:
    fns = _Batched(model, params, cfg)
    memory, cache = fns.start(src, max_len)
    batch = src.shape[0]
    out, _ = jax.eval_shape(fns.step, memory, cache, jnp.full((batch,), BOS_ID, jnp.int32))
    state = jax.lax.while_loop(lambda s: (s.t < max_len) & ~jnp.all(s.done),
                               functools.partial(_beam_step, fns, memory, alpha, early_stopping),
                               _beam_init(out, cache, batch, beam_size, max_len))
    return _trim(_beam_finalize(state, n_best), src.shape[1])


def beam_search(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
                beam_size: int = 4, alpha: float = 0.6, n_best: int = 1,
                early_stopping: bool = True) -> Decoded:
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
      n_best: N <= K hypotheses returned per example, best first (static).
      early_stopping: stop an example once its finished set is settled; False
        always runs to ``max_len``, with the same result (static).

    Returns:
      ``Decoded``: ``tokens [B, N, L]``, ``lengths``, ``log_prob``,
      ``score [B, N]`` and ``attention [B, N, L, S]`` of each hypothesis (None
      without attention); ``logits`` is None.
    """
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"need 1 <= n_best ({n_best}) <= beam_size ({beam_size})")
    return _beam_search(model, params, cfg, _check(cfg, src, max_len), max_len, beam_size,
                        float(alpha), n_best, early_stopping)


def decode(model: Model, params: Params, cfg: Any, src: Array, *, method: str = "greedy",
           max_len: int | None = None, beam_size: int = 4, alpha: float = 0.6,
           n_best: int = 1, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           key: Array | None = None, return_logits: bool = False) -> Decoded:
    """Decode ``src: [B, S]`` with ``method`` "greedy", "beam" or "sample".

    ``max_len`` defaults to ``default_max_len(S)`` (capped by a config's own
    ``max_len``); pass it explicitly when the result must not depend on how far
    the batch was padded. Options of the other methods are ignored. Shapes as
    in ``greedy`` and ``beam_search`` (beams have the n-best axis N);
    ``sample`` needs a PRNG ``key``.
    """
    if max_len is None:
        max_len = default_max_len(jnp.shape(src)[-1])
        max_len = min(max_len, getattr(cfg, "max_len", max_len))
    if method == "greedy":
        return greedy(model, params, cfg, src, max_len, return_logits)
    if method == "beam":
        return beam_search(model, params, cfg, src, max_len, beam_size, alpha, n_best)
    if method == "sample":
        if key is None:
            raise ValueError("method='sample' needs a PRNG key, e.g. jax.random.PRNGKey(0)")
        return sample(model, params, cfg, src, key, max_len, temperature, top_k, top_p,
                      return_logits)
    raise ValueError(f"method={method!r} is not valid; choose one of {list(METHODS)}")
