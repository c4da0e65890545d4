"""Multi30k translation (Task 1, text only) for every model family.

  seq2seq-jax train --config configs/multi30k.py:MODEL --workdir runs/multi30k_MODEL \
      --config.data.manual_dir=../shared/data/multi30k

MODEL: rnn, bahdanau (default), luong, transformer. Data: the official
lowercased, tokenised en-de files (`multi30k/en_de_tok`); choose another pair
or direction with --config.data.name=multi30k/de_en_tok (or en_fr, fr_en; _raw
for raw text). BPE (sentencepiece, joint 8k vocabulary) is trained on the train
split and stored in the workdir. Scores: BLEU on lowercased tokenised text
against the official lc.norm.tok references (`tok_bleu`, how published
Multi30k numbers are computed) and sacreBLEU BLEU / chrF with signatures.
Results: not yet measured with these configs.
"""

import ml_collections

from seq2seq_jax.config import default_config

MODELS = {
    "rnn": {"name": "rnn", "embed_dim": 256, "hidden": 512, "bidirectional": True,
            "enc_layers": 2, "dec_layers": 2, "dropout": 0.3},
    "bahdanau": {"name": "bahdanau", "embed_dim": 256, "hidden": 512, "bidirectional": True,
                 "dropout": 0.3},
    "luong": {"name": "luong", "embed_dim": 256, "hidden": 512, "bidirectional": True,
              "luong_score": "general", "dropout": 0.3},
    "transformer": {"name": "transformer", "d_model": 256, "heads": 4, "ff_dim": 1024,
                    "enc_layers": 4, "dec_layers": 4, "dropout": 0.2, "max_len": 128,
                    "share_embeddings": True},
}


def get_config(arg: str = "bahdanau"):
    if arg not in MODELS:
        raise ValueError(f"configs/multi30k.py:{arg} is not valid; choose one of {sorted(MODELS)}")
    c = default_config()
    c.data.name = "multi30k/en_de_tok"
    c.data.src_tokenizer = c.data.tgt_tokenizer = "sentencepiece"
    c.data.vocab_size = 8000
    c.data.joint_vocab = True
    c.data.max_src_len = c.data.max_tgt_len = 80
    c.data.truncate = True
    c.data.batch_size = 64
    c.data.eval_batch_size = 128
    c.model = ml_collections.ConfigDict(MODELS[arg])
    c.train.update(metric="tok_bleu", num_steps=30000, eval_every=2000, checkpoint_every=1000,
                   learning_rate=1e-3, warmup_steps=1000,
                   schedule="rsqrt" if arg == "transformer" else "cosine", patience=5,
                   eval_max_examples=0, label_smoothing=0.1)
    c.decode.update(method="beam", beam_size=5, alpha=0.6, max_len=100)
    return c
