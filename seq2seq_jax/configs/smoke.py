"""Tiny runs of every data source, for tests and CI (seconds, not results).

  seq2seq-jax train --config smoke:SOURCE --workdir /tmp/smoke

SOURCE: cmudict_g2p (default), cmudict_g014b2b (set --config.data.manual_dir),
multi30k (set --config.data.manual_dir), tfds (a catalog dataset), synthetic.
"""

from seq2seq_jax.config import default_config

DATA = {
    "cmudict_g2p": dict(name="cmudict_g2p"),
    "cmudict_g014b2b": dict(name="cmudict_g014b2b"),
    "multi30k": dict(name="multi30k/en_de_tok", src_tokenizer="sentencepiece",
                     tgt_tokenizer="sentencepiece", vocab_size=300),
    "tfds": dict(name="tfds:ted_hrlr_translate/pt_to_en", src_tokenizer="char",
                 tgt_tokenizer="char"),
    "synthetic": dict(name="synthetic/reverse", src_tokenizer="char", tgt_tokenizer="char"),
}
METRIC = {"multi30k": "bleu", "tfds": "bleu", "synthetic": "exact_match"}


def get_config(arg: str = "cmudict_g2p"):
    if arg not in DATA:
        raise ValueError(f"configs/smoke.py:{arg} is not valid; choose one of {sorted(DATA)}")
    c = default_config()
    c.data.update(DATA[arg])
    c.data.train_limit = 600
    c.data.batch_size = 16
    c.data.eval_batch_size = 16
    c.data.max_src_len = c.data.max_tgt_len = 32 if arg in ("multi30k", "tfds") else 16
    c.data.truncate = True  # few shapes: few compilations
    c.data.synthetic.update(num_train=600, num_dev=32, num_test=32, train_max_len=8,
                            test_max_len=8)
    c.model.update(hidden=16, embed_dim=8, bidirectional=False)
    c.train.update(num_steps=4, log_every=2, eval_every=2, checkpoint_every=2,
                   warmup_steps=2, eval_max_examples=16, metric=METRIC.get(arg, "wer"))
    c.decode.max_len = 16
    return c
