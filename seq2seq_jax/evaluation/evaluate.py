"""Decode texts with a trained model and score them with the task's metric.

G2P examples are grouped by word, so a word with several pronunciations is
decoded once and counts as correct when it matches any of them. ``teacher_forced``
scores the references themselves (per-token NLL, perplexity, accuracy), which
tells a weaker model from a weaker search.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh

from seq2seq_jax import config as config_lib
from seq2seq_jax import models, parallel
from seq2seq_jax.data import batching, pipeline, tokenizers
from seq2seq_jax.decoding import decode
from seq2seq_jax.errors import DataError
from seq2seq_jax.evaluation import metrics
from seq2seq_jax.evaluation.trained import Trained
from seq2seq_jax.models import losses

log = logging.getLogger(__name__)


# Batch sizes a short input list is padded to (larger lists use data.eval_batch_size).
BATCH_SIZES = (1, 8, 64)


class Prediction(NamedTuple):
    text: str  # the decoded output (the best hypothesis)
    src_tokens: list[str]  # source symbols, for plot labels
    out_tokens: list[str]  # output symbols up to EOS
    attention: np.ndarray | None  # [len(out_tokens) + 1, len(src_tokens)], EOS row last
    # the R best hypotheses, best first, each (text, score): beam search's length-normalised
    # score, or greedy search's and sampling's log-probability
    hypotheses: tuple[tuple[str, float], ...] = ()


def beam_batch_size(eval_batch_size: int, beam_size: int) -> int:
    """Inputs a beam-search batch holds: about ``eval_batch_size`` rows of hypotheses, as
    a power of two (at least 8).

    Each input takes K rows, and a batch runs until its last input ends; at the same
    rows a batch of ``eval_batch_size`` inputs decoded slower (12,000 G2P words at beam 5:
    17.4 s at 512 inputs a batch, 14.0 s at 128; 1,000 Multi30k sentences: 8.9 s at 128,
    7.8 s at 32, warm, on 2 CPU cores).
    """
    return max(8, 2 ** round(math.log2(max(eval_batch_size / beam_size, 1.0))))


def _encode_sources(texts: Sequence[str], src_tok: tokenizers.Tokenizer, max_len: int,
                    truncate: bool) -> list[list[int]]:
    unknown = tokenizers.UnknownCounter()
    ids = [src_tok.encode(t, on_unknown=unknown) for t in texts]
    if unknown:
        log.warning("%d unknown input symbols mapped to <unk>: %s", unknown.total(),
                    ", ".join(repr(s) for s, _ in unknown.most_common(10)))
    for i, x in enumerate(ids):
        if len(x) > max_len:
            if not truncate:
                raise DataError(
                    f"input {i + 1} has {len(x)} symbols, more than data.max_src_len="
                    f"{max_len}; shorten it, or pass --truncate (predict) / "
                    "--config.data.truncate=True to cut inputs at the maximum")
            ids[i] = x[:max_len]
    return ids


def predict(trained: Trained, texts: Sequence[str],
            config: ml_collections.ConfigDict | None = None, *, with_attention: bool = False,
            truncate: bool | None = None, mesh: Mesh | None = None,
            n_best: int = 1) -> list[Prediction]:
    """Decode every text with ``config.decode`` options; outputs in input order.

    ``n_best`` = R hypotheses per text come back in ``Prediction.hypotheses`` with their
    scores (beam search: R <= beam size; greedy and sampling: 1).

    With a ``mesh``, each batch of ``data.eval_batch_size`` sources is split
    over its data axis (``eval_batch_size`` must be a multiple of the
    data-parallel device count) and decoded where ``params`` live.
    """
    config = trained.config if config is None else config
    model, params, cfg = trained.model, trained.params, trained.cfg
    src_tok, tgt_tok = trained.src_tok, trained.tgt_tok
    d, dec = config.data, config.decode
    truncate = d.truncate if truncate is None else truncate
    ids = _encode_sources(texts, src_tok, d.max_src_len, truncate)
    buckets = batching.bucket_boundaries(d.max_src_len)
    max_len = dec.max_len or d.max_tgt_len
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    # A few fixed batch sizes, each compiled once: one word does not decode 512 rows
    # (a mesh splits data.eval_batch_size, a multiple of its devices, as it is).
    bsz = next((b for b in BATCH_SIZES if mesh is None and len(ids) <= b < d.eval_batch_size),
               d.eval_batch_size)
    if dec.method == "beam" and mesh is None and bsz > 8:  # K rows an input
        bsz = min(bsz, beam_batch_size(d.eval_batch_size, dec.beam_size))
    out: list[Prediction | None] = [None] * len(ids)
    key = jax.random.PRNGKey(config.seed)
    for start in range(0, len(order), bsz):
        rows = order[start:start + bsz]
        width = batching.bucket_length(max(1, *(len(ids[i]) for i in rows)), buckets)
        src = np.zeros((bsz, width), np.int32)  # fixed batch size: one shape per bucket
        for r, i in enumerate(rows):
            src[r, :len(ids[i])] = ids[i]
        src_in = jnp.asarray(src) if mesh is None else parallel.shard_global(src, mesh)
        result = decode.decode(model, params, cfg, src_in, method=dec.method,
                               max_len=max_len, beam_size=dec.beam_size, alpha=dec.alpha,
                               temperature=dec.temperature, top_k=dec.top_k,
                               top_p=dec.top_p, key=jax.random.fold_in(key, start),
                               n_best=n_best if dec.method == "beam" else 1,
                               stop=dec.get("stop", "exact"), with_attention=with_attention)
        all_toks = parallel.to_host(result.tokens)
        scores = parallel.to_host(result.score)
        attn = None if result.attention is None or not with_attention else parallel.to_host(
            result.attention)
        if all_toks.ndim == 2:  # greedy, sampling: one hypothesis, [B, T]
            all_toks, scores = all_toks[:, None], scores[:, None]
        elif attn is not None:  # beams: [B, R, T, S] -> the best hypothesis's
            attn = attn[:, 0]
        for r, i in enumerate(rows):
            hyps = tuple((tgt_tok.decode(tokenizers.content_ids(t.tolist())), float(sc))
                         for t, sc in zip(all_toks[r], scores[r], strict=True))
            content = tokenizers.content_ids(all_toks[r, 0].tolist())
            src_syms = [src_tok.id_to_token(j) for j in ids[i]]
            out_syms = [tgt_tok.id_to_token(j) for j in content]
            a = None if attn is None else attn[r, :len(content) + 1, :len(ids[i])]
            out[i] = Prediction(hyps[0][0], src_syms, out_syms, a, hyps)
    return [p for p in out if p is not None]


def group_references(examples: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Unique sources in first-seen order, each with every reference target."""
    refs: dict[str, list[str]] = {}
    for e in examples:
        extra = e.get("references") or []
        bucket = refs.setdefault(e["source"], [])
        for r in [e["target"], *extra]:
            if r not in bucket:
                bucket.append(r)
    return list(refs), list(refs.values())


def score(kind: str, hyps: Sequence[str], refs: Sequence[list[str]],
          data_name: str = "") -> dict[str, Any]:
    """The task's metrics for hypotheses against references."""
    if kind == "g2p":
        return metrics.g2p_scores(hyps, refs)
    if kind == "synthetic":
        return {"exact_match": metrics.exact_match(hyps, [r[0] for r in refs])}
    out = metrics.bleu_chrf(hyps, [r[0] for r in refs])
    if data_name.endswith("_tok"):
        out.update({f"tok_{k}": v for k, v in
                    metrics.tok_bleu(hyps, [r[0] for r in refs]).items()})
    return out


def evaluate_examples(trained: Trained, examples: Sequence[dict[str, Any]],
                      config: ml_collections.ConfigDict | None = None,
                      mesh: Mesh | None = None) -> dict[str, Any]:
    """Decode ``examples`` and score them; returns the metrics and the example count.

    ``config``: data and decoding options (default ``trained.config``); ``mesh``: shard
    each decoding batch over its data axis (see ``predict``).
    """
    config = trained.config if config is None else config
    kind = config_lib.task_kind(config.data.name)
    if kind == "g2p":
        sources, refs = group_references(examples)
    else:
        sources, refs = [e["source"] for e in examples], [[e["target"]] for e in examples]
    preds = predict(trained, sources, config, truncate=True, mesh=mesh)
    result = score(kind, [p.text for p in preds], refs, config.data.name)
    result["examples"] = len(sources)
    return result


def teacher_forced(trained: Trained, examples: Sequence[dict[str, Any]],
                   config: ml_collections.ConfigDict | None = None) -> dict[str, Any]:
    """Score every example's reference under teacher forcing, without dropout.

    Returns ``nll`` (mean per target token, EOS included, no label smoothing),
    ``perplexity`` (its exponential), ``token_accuracy`` (argmax equals the
    reference token) and ``tokens`` (the count). Every pair counts, so a G2P
    word with two pronunciations contributes both; over-long pairs are cut at
    ``data.max_src_len`` / ``max_tgt_len``.
    """
    config = trained.config if config is None else config
    model, params, cfg = trained.model, trained.params, trained.cfg
    pairs = pipeline.encode(examples, trained.src_tok, trained.tgt_tok)
    bcfg = dataclasses.replace(pipeline.batch_config(config, eval_mode=True), truncate=True)

    @jax.jit
    def sums(params: Any, src: jax.Array, tgt_in: jax.Array, tgt_out: jax.Array,
             mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        logits = models.batch_apply(model, params, cfg, src, tgt_in).logits
        nll, count = losses.cross_entropy(logits, tgt_out, mask)
        correct, _ = losses.token_accuracy(logits, tgt_out, mask)
        return nll, correct, count

    nll = correct = count = 0.0
    for b in batching.eval_batches(pairs, bcfg):
        n, c, t = sums(params, b["src"], b["tgt_in"], b["tgt_out"], b["tgt_mask"])
        nll, correct, count = nll + float(n), correct + float(c), count + float(t)
    if not count:
        raise DataError("no target tokens to score")
    mean = nll / count
    return {"nll": mean, "perplexity": math.exp(mean), "token_accuracy": correct / count,
            "tokens": int(count)}
