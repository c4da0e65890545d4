"""Export a trained Transformer to CTranslate2, and decode with it.

CTranslate2 (``pip install ctranslate2``) is the C++ engine users reach for when CPU
inference must be fast. ``export`` writes a folder it loads directly::

    seq2seq-jax export --workdir models/multi30k/transformer_wu_seed3 --out ct2_en_de \\
        --format ctranslate2 [--quantization int8]

    translator = ct2.Translator("ct2_en_de")       # this module's wrapper
    translator(["a man rides a bike ."], beam=5)    # our tokenizers, CTranslate2's search

The conversion is exact: every weight maps to one ``TransformerSpec`` variable (dense
layers transposed to ``[out, in]``; self-attention's q, k, v fused; the sinusoids
written as the position table, since ours interleave sin and cos). ``score`` returns
CTranslate2's per-token log-probabilities of given outputs, which tests compare with
our teacher-forced pass.

Decoding differs in one rule: our beam search divides by GNMT's
``((5 + length) / 6) ** alpha``, CTranslate2's by ``length ** length_penalty``. With no
length penalty (alpha 0 on both sides) both rank hypotheses by log-probability alone
and stop by the same rule, so their outputs should match token for token; the
benchmark counts how many do.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seq2seq_jax.constants import BOS_ID, CT2_QUANTIZATIONS, EOS_ID, UNK_ID
from seq2seq_jax.errors import ConfigError

SPEC_FILE = "seq2seq_jax.json"  # tokenizers and decoding defaults beside CTranslate2's files


def _import() -> Any:
    try:
        import ctranslate2
    except ImportError as e:
        raise ConfigError("CTranslate2 is not installed; pip install ctranslate2") from e
    return ctranslate2


def vocabulary(tok: Any) -> list[str]:
    """Every token of ``tok`` by id: CTranslate2 maps strings, not ids."""
    return [tok.id_to_token(i) for i in range(tok.vocab_size)]


def _linear(spec: Any, dense: dict[str, Any]) -> None:
    spec.weight = np.ascontiguousarray(np.asarray(dense["w"], np.float32).T)  # [out, in]
    if "b" in dense:
        spec.bias = np.asarray(dense["b"], np.float32)


def _fused(spec: Any, denses: Sequence[dict[str, Any]]) -> None:
    spec.weight = np.concatenate([np.asarray(d["w"], np.float32).T for d in denses])
    spec.bias = np.concatenate([np.asarray(d["b"], np.float32) for d in denses])


def _norm(spec: Any, params: dict[str, Any]) -> None:
    spec.gamma = np.asarray(params["scale"], np.float32)
    spec.beta = np.asarray(params["bias"], np.float32)


def transformer_spec(params: Any, cfg: Any, src_vocab: Sequence[str],
                     tgt_vocab: Sequence[str]) -> Any:
    """Our Transformer's parameters as a ``ctranslate2.specs.TransformerSpec``.

    Args:
      params: ``models.transformer.init``'s tree (float32 leaves).
      cfg: its ``TransformerConfig``.
      src_vocab, tgt_vocab: token strings by id (``vocabulary``).

    Raises:
      ConfigError: the model is not a Transformer.
    """
    import jax.numpy as jnp

    from seq2seq_jax.models.model_config import TransformerConfig
    from seq2seq_jax.models.transformer import positional_encoding

    if not isinstance(cfg, TransformerConfig):
        raise ConfigError(f"--format ctranslate2 exports Transformers; this model's config "
                          f"is a {type(cfg).__name__}")
    if cfg.positions != "sinusoidal":
        raise ConfigError(f"--format ctranslate2 exports sinusoidal positions; this model "
                          f"has model.positions={cfg.positions!r}")
    ctranslate2 = _import()

    specs = ctranslate2.specs
    spec = specs.TransformerSpec.from_config((cfg.enc_layers, cfg.dec_layers), cfg.heads,
                                             pre_norm=cfg.pre_norm)
    src_table = params["embed" if "embed" in params else "src_embed"]["table"]
    tgt_table = np.asarray(params["embed" if "embed" in params else "tgt_embed"]["table"],
                           np.float32)
    pe = np.asarray(positional_encoding(jnp.arange(cfg.max_len), cfg.d_model), np.float32)
    enc, dec = spec.encoder, spec.decoder
    enc.embeddings[0].weight = np.asarray(src_table, np.float32)
    dec.embeddings.weight = tgt_table
    enc.position_encodings.encodings = pe
    dec.position_encodings.encodings = pe
    for layer_spec, p in zip(enc.layer, params["encoder"]["layers"], strict=True):
        attn = p["attn"]
        _fused(layer_spec.self_attention.linear[0], [attn["q"], attn["k"], attn["v"]])
        _linear(layer_spec.self_attention.linear[1], attn["o"])
        _norm(layer_spec.self_attention.layer_norm, p["attn_norm"])
        _linear(layer_spec.ffn.linear_0, p["ff"]["w1"])
        _linear(layer_spec.ffn.linear_1, p["ff"]["w2"])
        _norm(layer_spec.ffn.layer_norm, p["ff_norm"])
    for layer_spec, p in zip(dec.layer, params["decoder"]["layers"], strict=True):
        self_attn, cross = p["self_attn"], p["cross_attn"]
        _fused(layer_spec.self_attention.linear[0], [self_attn["q"], self_attn["k"],
                                                     self_attn["v"]])
        _linear(layer_spec.self_attention.linear[1], self_attn["o"])
        _norm(layer_spec.self_attention.layer_norm, p["self_norm"])
        _linear(layer_spec.attention.linear[0], cross["q"])
        _fused(layer_spec.attention.linear[1], [cross["k"], cross["v"]])
        _linear(layer_spec.attention.linear[2], cross["o"])
        _norm(layer_spec.attention.layer_norm, p["cross_norm"])
        _linear(layer_spec.ffn.linear_0, p["ff"]["w1"])
        _linear(layer_spec.ffn.linear_1, p["ff"]["w2"])
        _norm(layer_spec.ffn.layer_norm, p["ff_norm"])
    if cfg.pre_norm:
        _norm(enc.layer_norm, params["encoder"]["norm"])
        _norm(dec.layer_norm, params["decoder"]["norm"])
    if cfg.tie_output:
        dec.projection.weight = tgt_table  # [V, D]: already [out, in]
    else:
        _linear(dec.projection, params["out"])
    spec.config.bos_token, spec.config.eos_token = tgt_vocab[BOS_ID], tgt_vocab[EOS_ID]
    spec.config.unk_token = tgt_vocab[UNK_ID]
    spec.config.decoder_start_token = tgt_vocab[BOS_ID]
    spec.config.layer_norm_epsilon = 1e-6  # models.nn.layer_norm's
    spec.register_source_vocabulary(list(src_vocab))
    spec.register_target_vocabulary(list(tgt_vocab))
    return spec


def export(workdir: str | Path, out: str | Path, *, average: int = 0,
           quantization: str | None = None) -> Path:
    """Convert ``workdir``'s best (or ``average``-mean) Transformer into the new folder ``out``.

    Raises:
      FileExistsError: ``out`` exists (nothing is overwritten).
      ConfigError: not a Transformer, an unknown quantization or no CTranslate2.
    """
    from seq2seq_jax.training import workdir as workdir_lib

    _refuse_existing(out)
    if quantization is not None and quantization not in CT2_QUANTIZATIONS:
        raise ConfigError(f"--quantization {quantization}: choose one of "
                          f"{list(CT2_QUANTIZATIONS)}")
    return save(workdir_lib.load_for(workdir, average=average), out, quantization=quantization,
                source=str(workdir))


def _refuse_existing(out: str | Path) -> None:
    if Path(out).exists():
        raise FileExistsError(f"--out {out} exists; export into a new folder (nothing is "
                              "overwritten)")


def save(trained: Any, out: str | Path, *, quantization: str | None = None,
         source: str = "") -> Path:
    """Write ``trained`` (``evaluation.trained.Trained``) as a CTranslate2 folder.

    The folder holds CTranslate2's ``model.bin`` and vocabulary, and ``SPEC_FILE``: our
    tokenizers, the position limit and the run's decoding options. It is written under
    a temporary name and renamed when complete; an existing ``out`` is refused.
    """
    out = Path(out)
    _refuse_existing(out)
    spec = transformer_spec(trained.params, trained.cfg, vocabulary(trained.src_tok),
                            vocabulary(trained.tgt_tok))
    spec.validate()
    spec.optimize(quantization=quantization)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        spec.save(str(tmp))
        decode = trained.config.decode
        meta = {"from": source, "step": trained.step, "averaged": list(trained.averaged),
                "max_len": trained.cfg.max_len, "quantization": quantization,
                "decode": {"beam": int(decode.beam_size), "alpha": float(decode.alpha)},
                "tokenizers": {"src": trained.src_tok.to_dict(),
                               "tgt": trained.tgt_tok.to_dict()}}
        (tmp / SPEC_FILE).write_text(json.dumps(meta, indent=1) + "\n")
        tmp.chmod(0o755)  # mkdtemp's 0700 is for the unfinished folder only
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


class Translator:
    """A converted folder with our tokenizers around ``ctranslate2.Translator``.

    ``translator(texts, beam=5, length_penalty=1.0)`` returns detokenised outputs;
    ``score(sources, targets)`` the per-token log-probabilities of given outputs.
    """

    def __init__(self, folder: str | Path, *, device: str = "cpu", intra_threads: int = 0,
                 inter_threads: int = 1):
        from seq2seq_jax.data.pipeline import tokenizer_from_dict

        ctranslate2 = _import()
        folder = Path(folder)
        if not (folder / SPEC_FILE).is_file():
            raise ConfigError(f"{folder}: no {SPEC_FILE}; convert with seq2seq-jax export "
                              "--format ctranslate2")
        meta = json.loads((folder / SPEC_FILE).read_text())
        self.meta = meta
        self.src_tok = tokenizer_from_dict(meta["tokenizers"]["src"])
        self.tgt_tok = tokenizer_from_dict(meta["tokenizers"]["tgt"])
        self._tgt_ids = {t: i for i, t in enumerate(vocabulary(self.tgt_tok))}
        self.translator = ctranslate2.Translator(str(folder), device=device,
                                                 intra_threads=intra_threads,
                                                 inter_threads=inter_threads)

    def _tokens(self, text: str) -> list[str]:
        ids = self.src_tok.encode(text)[: self.meta["max_len"]]
        return [self.src_tok.id_to_token(i) for i in ids]

    def _text(self, tokens: Sequence[str]) -> str:
        return self.tgt_tok.decode([self._tgt_ids.get(t, UNK_ID) for t in tokens])

    def __call__(self, texts: Sequence[str], *, beam: int | None = None,
                 length_penalty: float = 0.0, max_batch_size: int = 64) -> list[str]:
        """Decode ``texts``; ``beam`` defaults to the export's, 1 is greedy."""
        results = self.translator.translate_batch(
            [self._tokens(t) for t in texts], beam_size=beam or self.meta["decode"]["beam"],
            length_penalty=length_penalty, max_decoding_length=self.meta["max_len"] - 1,
            max_batch_size=max_batch_size)
        return [self._text(r.hypotheses[0]) for r in results]

    def score(self, sources: Sequence[str], targets: Sequence[str]) -> list[list[float]]:
        """Log-probability of each target token (its EOS included), given its source."""
        tgt = [[self.tgt_tok.id_to_token(i) for i in self.tgt_tok.encode(t)] for t in targets]
        results = self.translator.score_batch([self._tokens(s) for s in sources], tgt)
        return [list(r.log_probs) for r in results]
