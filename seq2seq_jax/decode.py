"""Decoding: greedy search, beam search and sampling over a model's step function.

Shapes: B batch, S source length, K beam size, N n-best, L output length
(``max_len``), V target vocabulary.

Every algorithm reaches a model only through its per-example functions
(``interface.Model``): ``encode`` once per source and ``init_cache``, both
vmapped over B, then one ``step`` per output position inside
``jax.lax.while_loop``. Beams are a second vmapped axis K over the same memory;
reordering them gathers every leaf of the model's cache with ``jax.tree.map``,
whatever the cache is (LSTM states and input feed, or a Transformer KV cache).

Conventions shared by all three algorithms:

* Output positions hold the generated tokens (no BOS); after EOS they hold PAD.
  ``lengths`` count the tokens up to and including EOS, or L without EOS.
* PAD and BOS are never generated: their log-probabilities are set to ``-inf``
  after the softmax, so scores stay the model's own log-probabilities.
* ``log_prob`` is the sum of the model's log-probabilities of the tokens.
  Beam search ranks by ``score = log_prob / lp(length)``, with the GNMT length
  penalty ``lp(n) = ((5 + n) / 6) ** alpha`` (Wu et al. 2016, eq. 14); greedy
  search and sampling report ``score == log_prob``.
* Each example is decoded independently of the others in its batch: a finished
  example stops changing, and the loop stops when every example has finished.
"""

from __future__ import annotations

import functools
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
    logits: Array | None  # [B, L, V] the logits of every step (greedy / sample, on request)


def length_penalty(length: Array | int, alpha: float) -> Array:
    """GNMT length penalty ``((5 + length) / 6) ** alpha`` (Wu et al. 2016, eq. 14)."""
    return jnp.power((5.0 + jnp.asarray(length, jnp.float32)) / 6.0, alpha)


def default_max_len(src_len: int) -> int:
    """A length limit for sources of (padded) length ``S``: ``2 S + 10``."""
    return 2 * src_len + 10


# ---------------------------------------------------------------- model access


class _Batched(NamedTuple):
    """The model's per-example functions lifted over the batch (and beams)."""

    model: Model
    params: Params
    cfg: Any

    def start(self, src: Array, max_len: int) -> tuple[Any, Any]:
        """Memory and first cache for ``src: [B, S]``; leaves ``[B, ...]``."""
        m = self.model
        memory = jax.vmap(lambda s: m.encode(self.params, self.cfg, s))(src)
        cache = jax.vmap(lambda mem: m.init_cache(self.params, self.cfg, mem, max_len))(memory)
        return memory, cache

    def step(self, memory: Any, cache: Any, token: Array) -> tuple[StepOutput, Any]:
        """``token: [B]`` -> logits ``[B, V]``, attention ``[B, S]`` or None."""
        return jax.vmap(lambda mem, c, t: self.model.step(self.params, self.cfg, mem, c, t))(
            memory, cache, token)

    def step_beams(self, memory: Any, cache: Any, token: Array) -> tuple[StepOutput, Any]:
        """``token: [B, K]`` with cache leaves ``[B, K, ...]`` and the memory shared by
        the K beams of an example (not tiled) -> logits ``[B, K, V]``."""
        def one(mem: Any, c: Any, t: Array) -> tuple[StepOutput, Any]:
            return jax.vmap(lambda ci, ti: self.model.step(self.params, self.cfg, mem, ci, ti))(
                c, t)
        return jax.vmap(one)(memory, cache, token)


def _log_probs(logits: Array) -> Array:
    """Log-softmax in float32 over ``[..., V]`` with the never-generated ids at -inf."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return logp.at[..., jnp.asarray(NEVER_GENERATED)].set(NEG_INF)


def _lengths(tokens: Array) -> Array:
    return jnp.sum(tokens != PAD_ID, axis=-1).astype(jnp.int32)


def _check(cfg: Any, src: Array, max_len: int) -> None:
    if src.ndim != 2:
        raise ValueError(f"src must be [B, S] token ids, got shape {src.shape}")
    if not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len={max_len!r} must be a positive integer")
    limit = getattr(cfg, "max_len", None)
    if limit is not None and max_len > limit:
        raise ValueError(f"max_len={max_len} exceeds the model's decode limit "
                         f"model.max_len={limit}")


# ---------------------------------------------------------------- greedy / sampling


class SearchState(NamedTuple):
    """The ``while_loop`` carry of greedy search and sampling."""

    t: Array  # [] int32, the output position decoded next
    cache: Any  # the model's decoder state, leaves [B, ...]
    done: Array  # [B] bool, EOS emitted
    tokens: Array  # [B, L] int32, PAD beyond t and after EOS
    log_prob: Array  # [B] float32
    attention: Array | None  # [B, L, S] float32, or None without attention
    logits: Array | None  # [B, L, V] float32, or None unless requested


def _search_init(out: StepOutput, cache: Any, batch: int, max_len: int,
                 return_logits: bool) -> SearchState:
    """``out`` holds the shapes of one batched step (from ``jax.eval_shape``)."""
    zeros = functools.partial(jnp.zeros, dtype=jnp.float32)
    attn = None if out.attention is None else zeros((batch, max_len, out.attention.shape[-1]))
    logits = zeros((batch, max_len, out.logits.shape[-1])) if return_logits else None
    return SearchState(jnp.zeros((), jnp.int32), cache, jnp.zeros((batch,), bool),
                       jnp.full((batch, max_len), PAD_ID, jnp.int32),
                       jnp.zeros((batch,), jnp.float32), attn, logits)


def _search_step(fns: _Batched, memory: Any, choose: Any, s: SearchState) -> SearchState:
    """Decode position ``s.t`` of every example; ``choose(t, logp [B, V]) -> [B]``."""
    prev = jnp.where(s.t == 0, BOS_ID, s.tokens[:, jnp.maximum(s.t - 1, 0)])  # [B]
    out, cache = fns.step(memory, s.cache, prev)
    logp = _log_probs(out.logits)  # [B, V]
    token = jnp.where(s.done, PAD_ID, choose(s.t, logp))  # [B]
    picked = jnp.take_along_axis(logp, token[:, None], axis=1)[:, 0]
    live = ~s.done
    attn = s.attention
    if attn is not None:
        assert out.attention is not None
        attn = attn.at[:, s.t].set(jnp.where(live[:, None], out.attention, 0.0))
    logits = s.logits
    if logits is not None:
        logits = logits.at[:, s.t].set(jnp.where(live[:, None], out.logits, 0.0))
    return SearchState(s.t + 1, cache, s.done | (token == EOS_ID),
                       s.tokens.at[:, s.t].set(token),
                       s.log_prob + jnp.where(live, picked, 0.0), attn, logits)


def _search(model: Model, params: Params, cfg: Any, src: Array, max_len: int, choose: Any,
            return_logits: bool) -> Decoded:
    _check(cfg, src, max_len)
    fns = _Batched(model, params, cfg)
    memory, cache = fns.start(src, max_len)
    bos = jnp.full((src.shape[0],), BOS_ID, jnp.int32)
    shapes, _ = jax.eval_shape(fns.step, memory, cache, bos)
    state = _search_init(shapes, cache, src.shape[0], max_len, return_logits)
    state = jax.lax.while_loop(
        lambda s: (s.t < max_len) & ~jnp.all(s.done),
        functools.partial(_search_step, fns, memory, choose), state)
    return Decoded(state.tokens, _lengths(state.tokens), state.log_prob, state.log_prob,
                   state.attention, state.logits)


@functools.partial(jax.jit, static_argnames=("model", "cfg", "max_len", "return_logits"))
def greedy(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
           return_logits: bool = False) -> Decoded:
    """Greedy search: the most probable token at every step.

    Args:
      model: the family's functions (static).
      params: its params.
      cfg: its frozen config (static).
      src: ``[B, S]`` int token ids, padded with PAD.
      max_len: L, the most tokens generated per example, EOS included (static).
      return_logits: also return every step's logits ``[B, L, V]`` (static).

    Returns:
      ``Decoded`` with ``tokens [B, L]``, ``lengths``, ``log_prob == score [B]``,
      ``attention [B, L, S]`` (None without attention) and ``logits``.
    """
    return _search(model, params, cfg, src, max_len,
                   lambda t, logp: jnp.argmax(logp, axis=-1).astype(jnp.int32), return_logits)


def filter_logits(logits: Array, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> Array:
    """The sampling distribution's logits ``[..., V]``: tempered, then truncated.

    Args:
      logits: ``[..., V]``; entries at ``-inf`` stay excluded.
      temperature: divides the logits (> 0).
      top_k: keep the ``top_k`` largest (0 keeps all); ties with the k-th are kept.
      top_p: nucleus sampling (Holtzman et al. 2020): keep the smallest set of
        most probable tokens whose probability mass is at least ``top_p``
        (1.0 keeps all); the most probable token is always kept.

    Returns:
      ``[..., V]`` float32 with the removed tokens at ``-inf``.
    """
    x = logits.astype(jnp.float32) / temperature
    if top_k > 0:
        kth = jax.lax.top_k(x, min(top_k, x.shape[-1]))[0][..., -1:]
        x = jnp.where(x < kth, NEG_INF, x)
    if top_p < 1.0:
        desc = -jnp.sort(-x, axis=-1)
        probs = jax.nn.softmax(desc, axis=-1)
        before = jnp.cumsum(probs, axis=-1) - probs  # mass of the more probable tokens
        keep = before < top_p
        cutoff = jnp.min(jnp.where(keep, desc, jnp.inf), axis=-1, keepdims=True)
        x = jnp.where(x < cutoff, NEG_INF, x)
    return x


@functools.partial(jax.jit, static_argnames=("model", "cfg", "max_len", "temperature", "top_k",
                                             "top_p", "return_logits"))
def sample(model: Model, params: Params, cfg: Any, src: Array, key: Array, max_len: int,
           temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           return_logits: bool = False) -> Decoded:
    """Ancestral sampling from the model, optionally tempered and truncated.

    Step ``t`` draws with ``fold_in(key, t)`` split over the batch, so a key
    reproduces its samples. ``temperature=0`` is greedy search.

    Args:
      model, params, cfg, src, max_len, return_logits: as in ``greedy``.
      key: a PRNG key.
      temperature, top_k, top_p: see ``filter_logits`` (static).

    Returns:
      ``Decoded`` as in ``greedy``; ``log_prob`` is under the model itself, not
      the tempered or truncated distribution.
    """
    batch = src.shape[0]

    def choose(t: Array, logp: Array) -> Array:
        if temperature == 0.0:
            return jnp.argmax(logp, axis=-1).astype(jnp.int32)
        keys = jax.random.split(jax.random.fold_in(key, t), batch)
        x = filter_logits(logp, temperature, top_k, top_p)
        return jax.vmap(jax.random.categorical)(keys, x).astype(jnp.int32)

    return _search(model, params, cfg, src, max_len, choose, return_logits)


# ---------------------------------------------------------------- beam search


class BeamState(NamedTuple):
    """The ``while_loop`` carry of beam search: K alive and K finished per example."""

    t: Array  # [] int32, tokens decoded so far by every alive hypothesis
    cache: Any  # the model's decoder state per alive hypothesis, leaves [B, K, ...]
    alive_tokens: Array  # [B, K, L] int32, PAD beyond t; never contains EOS
    alive_log_prob: Array  # [B, K] float32; -inf marks an unused slot
    alive_attention: Array | None  # [B, K, L, S] float32, or None
    finished_tokens: Array  # [B, K, L] int32, ending in EOS, PAD after it
    finished_log_prob: Array  # [B, K] float32
    finished_score: Array  # [B, K] float32, log_prob / lp(length); -inf marks an empty slot
    finished_attention: Array | None  # [B, K, L, S] float32, or None
    done: Array  # [B] bool, no alive hypothesis can enter the finished set any more


def _gather(tree: Any, idx: Array) -> Any:
    """Pick beams ``idx: [B, K']`` from every leaf ``[B, K, ...]`` -> ``[B, K', ...]``."""
    rows = jnp.arange(idx.shape[0])[:, None]
    return jax.tree.map(lambda x: x[rows, idx], tree)


def _beam_init(out: StepOutput, cache: Any, batch: int, beam: int, max_len: int) -> BeamState:
    """K copies of the first cache; only beam 0 is alive, so the copies never compete."""
    cache = jax.tree.map(lambda x: jnp.broadcast_to(x[:, None], (batch, beam, *x.shape[1:])),
                         cache)
    tokens = jnp.full((batch, beam, max_len), PAD_ID, jnp.int32)
    attn = None
    if out.attention is not None:
        attn = jnp.zeros((batch, beam, max_len, out.attention.shape[-1]), jnp.float32)
    alive_lp = jnp.full((batch, beam), NEG_INF).at[:, 0].set(0.0)
    empty = jnp.full((batch, beam), NEG_INF)
    return BeamState(jnp.zeros((), jnp.int32), cache, tokens, alive_lp, attn, tokens, empty,
                     empty, attn, jnp.zeros((batch,), bool))


def _extend(s: BeamState, out: StepOutput, parent: Array, token: Array) -> tuple[Array, Any]:
    """Histories of the alive ``parent: [B, K']`` beams extended by ``token: [B, K']``."""
    tokens = _gather(s.alive_tokens, parent).at[:, :, s.t].set(token)
    attn = None
    if s.alive_attention is not None:
        assert out.attention is not None
        attn = _gather(s.alive_attention, parent).at[:, :, s.t].set(
            _gather(out.attention, parent))
    return tokens, attn


def _beam_step(fns: _Batched, memory: Any, alpha: float, early_stopping: bool,
               s: BeamState) -> BeamState:
    """Extend every alive beam by one token, keep the best K alive and K finished."""
    batch, beam, max_len = s.alive_tokens.shape
    prev = jnp.where(s.t == 0, BOS_ID, s.alive_tokens[:, :, jnp.maximum(s.t - 1, 0)])
    out, cache = fns.step_beams(memory, s.cache, prev)
    logp = _log_probs(out.logits)  # [B, K, V]
    vocab = logp.shape[-1]
    cand = (s.alive_log_prob[:, :, None] + logp).reshape(batch, beam * vocab)
    # 2K candidates hold at least K that do not end in EOS (each beam has one EOS).
    cand_lp, cand_idx = jax.lax.top_k(cand, 2 * beam)  # [B, 2K], best first
    parent, token = cand_idx // vocab, (cand_idx % vocab).astype(jnp.int32)
    is_eos = token == EOS_ID

    # Alive: the best K candidates that do not end in EOS.
    alive_lp, pick = jax.lax.top_k(jnp.where(is_eos, NEG_INF, cand_lp), beam)  # [B, K]
    a_parent = jnp.take_along_axis(parent, pick, axis=1)
    a_tokens, a_attn = _extend(s, out, a_parent, jnp.take_along_axis(token, pick, axis=1))

    # Finished: an EOS candidate counts only within the best K candidates (as in
    # fairseq), so beam size 1 is exactly greedy search.
    f_lp = cand_lp[:, :beam]
    f_score = jnp.where(is_eos[:, :beam], f_lp / length_penalty(s.t + 1, alpha), NEG_INF)
    f_tokens, f_attn = _extend(s, out, parent[:, :beam], token[:, :beam])
    scores = jnp.concatenate([s.finished_score, f_score], axis=1)  # [B, 2K], old ones first
    _, keep = jax.lax.top_k(scores, beam)

    def merge(old: Array, new: Array) -> Array:
        merged = _gather(jnp.concatenate([old, new], axis=1), keep)
        return jnp.where(s.done.reshape((-1,) + (1,) * (old.ndim - 1)), old, merged)

    fin_attn = None
    if s.finished_attention is not None:
        assert f_attn is not None
        fin_attn = merge(s.finished_attention, f_attn)
    fin_score = merge(s.finished_score, f_score)
    done = s.done
    if early_stopping:
        done = done | _settled(alive_lp, fin_score, s.t + 1, max_len, alpha)
    return BeamState(s.t + 1, _gather(cache, a_parent), a_tokens, alive_lp, a_attn,
                     merge(s.finished_tokens, f_tokens), merge(s.finished_log_prob, f_lp),
                     fin_score, fin_attn, done)


def _settled(alive_lp: Array, finished_score: Array, decoded: Array, max_len: int,
                  alpha: float) -> Array:
    """True where no alive hypothesis can still beat the worst finished one: ``[B]``.

    An alive log-prob only falls as tokens are added, and it is <= 0, so its
    final score is at most ``log_prob / max lp(n)`` over the lengths
    ``n in (decoded, max_len]`` it could still finish at; ``lp`` is monotone in
    ``n``, so the maximum is at one end (the far end when ``alpha >= 0``).
    """
    best_lp = jnp.max(alive_lp, axis=1)
    biggest = jnp.maximum(length_penalty(decoded + 1, alpha), length_penalty(max_len, alpha))
    worst = jnp.min(finished_score, axis=1)  # -inf while a slot is empty
    return (best_lp / biggest < worst) | (best_lp == NEG_INF)


def _beam_finalize(s: BeamState, n_best: int, alpha: float) -> Decoded:
    """The best ``n_best`` per example: finished hypotheses first, by score; alive
    ones (cut off at ``max_len``) only fill the slots no finished one took."""
    alive_score = s.alive_log_prob / length_penalty(s.t, alpha)
    score = jnp.concatenate([s.finished_score, alive_score], axis=1)  # [B, 2K]
    group = jnp.concatenate([jnp.where(s.finished_score > NEG_INF, 0, 2),
                             jnp.where(s.alive_log_prob > NEG_INF, 1, 2)], axis=1)
    order = jnp.lexsort((-score, group), axis=-1)[:, :n_best]  # [B, N]

    def pick(finished: Array, alive: Array) -> Array:
        return _gather(jnp.concatenate([finished, alive], axis=1), order)

    tokens = pick(s.finished_tokens, s.alive_tokens)  # [B, N, L]
    attn = None
    if s.finished_attention is not None:
        assert s.alive_attention is not None
        attn = pick(s.finished_attention, s.alive_attention)
    return Decoded(tokens, _lengths(tokens), pick(s.finished_log_prob, s.alive_log_prob),
                   _gather(score, order), attn, None)


@functools.partial(jax.jit, static_argnames=("model", "cfg", "max_len", "beam_size", "alpha",
                                             "n_best", "early_stopping"))
def beam_search(model: Model, params: Params, cfg: Any, src: Array, max_len: int,
                beam_size: int = 4, alpha: float = 0.6, n_best: int = 1,
                early_stopping: bool = True) -> Decoded:
    """Beam search with the GNMT length penalty and a separate finished set.

    Each step extends the K alive hypotheses of an example by every token,
    keeps the best 2K by log-prob, moves those ending in EOS that rank among
    the best K into the finished set (the best K by ``score``), and keeps the
    best K others alive. An example stops when no alive hypothesis can beat
    its worst finished one under the length penalty (``early_stopping``), or
    at ``max_len``. Hypotheses still alive at ``max_len`` are returned only
    when fewer than ``n_best`` finished.

    Args:
      model, params, cfg, src, max_len: as in ``greedy`` (``max_len`` static).
      beam_size: K (static).
      alpha: length-penalty exponent; 0 ranks by log-prob alone (static).
      n_best: N <= K hypotheses returned per example, best first (static).
      early_stopping: stop an example once its finished set is settled;
        False always runs to ``max_len`` (same result, slower) (static).

    Returns:
      ``Decoded`` with ``tokens [B, N, L]``, ``lengths``, ``log_prob`` and
      ``score [B, N]``, and ``attention [B, N, L, S]`` of each hypothesis
      (None without attention); ``logits`` is None.
    """
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"need 1 <= n_best ({n_best}) <= beam_size ({beam_size})")
    _check(cfg, src, max_len)
    fns = _Batched(model, params, cfg)
    memory, cache = fns.start(src, max_len)
    batch = src.shape[0]
    bos = jnp.full((batch,), BOS_ID, jnp.int32)
    shapes, _ = jax.eval_shape(fns.step, memory, cache, bos)
    state = _beam_init(shapes, cache, batch, beam_size, max_len)
    state = jax.lax.while_loop(
        lambda s: (s.t < max_len) & ~jnp.all(s.done),
        functools.partial(_beam_step, fns, memory, alpha, early_stopping), state)
    return _beam_finalize(state, n_best, alpha)


def decode(model: Model, params: Params, cfg: Any, src: Array, *, method: str = "greedy",
           max_len: int | None = None, beam_size: int = 4, alpha: float = 0.6,
           n_best: int = 1, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           key: Array | None = None, return_logits: bool = False) -> Decoded:
    """Decode a batch ``src: [B, S]`` with ``method`` "greedy", "beam" or "sample".

    ``max_len`` defaults to ``default_max_len(S)``; pass it explicitly when the
    result must not depend on how far the batch was padded. The options of the
    other methods are ignored. Shapes as in ``greedy`` / ``beam_search``
    (beams have the n-best axis ``[B, N, ...]``); ``sample`` needs ``key``.
    """
    src = jnp.asarray(src, jnp.int32)
    if max_len is None:
        max_len = default_max_len(src.shape[-1])
        limit = getattr(cfg, "max_len", None)
        max_len = max_len if limit is None else min(max_len, limit)
    if method == "greedy":
        return greedy(model, params, cfg, src, max_len, return_logits)
    if method == "beam":
        return beam_search(model, params, cfg, src, max_len, beam_size, alpha, n_best)
    if method == "sample":
        if key is None:
            raise ValueError("method='sample' needs a PRNG key: key=jax.random.PRNGKey(0)")
        return sample(model, params, cfg, src, key, max_len, temperature, top_k, top_p,
                      return_logits)
    raise ValueError(f"method={method!r} is not valid; choose one of {list(METHODS)}")
