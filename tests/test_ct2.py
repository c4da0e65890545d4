"""The CTranslate2 export: the converted model computes what ours computes."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from seq2seq_jax import config as config_lib
from seq2seq_jax.constants import BOS_ID, EOS_ID
from seq2seq_jax.data.tokenizers import CharTokenizer
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.evaluation.trained import Trained
from seq2seq_jax.inference import ct2
from seq2seq_jax.models import registry, transformer
from seq2seq_jax.models.model_config import TransformerConfig

pytest.importorskip("ctranslate2")

WORDS = ["abc", "hello", "a", "zebra crossing", "abcabcabc"]


def _trained(**cfg_overrides) -> Trained:
    tok = CharTokenizer.fit(WORDS)
    cfg = TransformerConfig(src_vocab=tok.vocab_size, tgt_vocab=tok.vocab_size, d_model=32,
                            heads=4, ff_dim=48, enc_layers=2, dec_layers=3, dropout=0.0,
                            max_len=32, **cfg_overrides)
    params = transformer.init(jax.random.key(3), cfg)
    # Non-zero biases and norms, so a wrongly mapped one shows.
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(4), len(leaves))
    params = jax.tree.unflatten(tree, [x + 0.05 * jax.random.normal(k, x.shape)
                                       for x, k in zip(leaves, keys, strict=True)])
    config = config_lib.default_config()
    return Trained(config, registry.get_model("transformer"), cfg, params, tok, tok, step=7)


def _our_log_probs(trained: Trained, src: str, tgt: str) -> np.ndarray:
    s = np.array(trained.src_tok.encode(src))
    y = trained.tgt_tok.encode(tgt)
    out = transformer.apply(trained.params, trained.cfg, s, np.array([BOS_ID, *y]))
    lp = jax.nn.log_softmax(out.logits)
    return np.asarray(lp[np.arange(len(y) + 1), np.array([*y, EOS_ID])])


@pytest.mark.parametrize("variant", [
    {}, {"pre_norm": False}, {"tie_output": False, "share_embeddings": False}])
def test_ctranslate2_scores_every_token_as_we_do(tmp_path, variant):
    trained = _trained(**variant)
    folder = ct2.save(trained, tmp_path / "ct2")
    translator = ct2.Translator(folder, intra_threads=1)
    pairs = [("abc", "cba"), ("zebra crossing", "hello"), ("a", "")]
    got = translator.score([p[0] for p in pairs], [p[1] for p in pairs])
    for (src, tgt), lp in zip(pairs, got, strict=True):
        np.testing.assert_allclose(lp, _our_log_probs(trained, src, tgt), atol=2e-4)


def test_greedy_outputs_match_ours(tmp_path):
    from seq2seq_jax.evaluation.evaluate import predict

    trained = _trained()
    translator = ct2.Translator(ct2.save(trained, tmp_path / "ct2"), intra_threads=1)
    theirs = translator(WORDS, beam=1)
    config = config_lib.default_config()
    config.decode.max_len = trained.cfg.max_len - 1
    ours = [p.text for p in predict(trained, WORDS, config)]
    assert theirs == ours
    assert len(set(theirs)) > 1  # random weights still give different outputs


def test_export_refuses_other_families_and_taken_folders(tmp_path):
    trained = _trained()
    with pytest.raises(ConfigError, match="exports Transformers"):
        ct2.transformer_spec(trained.params, object(), ["a"], ["a"])
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match=r"--out .*taken exists"):
        ct2.export(tmp_path / "nowhere", tmp_path / "taken")
    with pytest.raises(ConfigError, match="--quantization int3"):
        ct2.export(tmp_path / "nowhere", tmp_path / "new", quantization="int3")
    with pytest.raises(ConfigError, match=r"no seq2seq_jax\.json"):
        ct2.Translator(tmp_path / "taken")
