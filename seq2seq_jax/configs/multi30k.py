"""Multi30k translation (Task 1, text only) for every model family, sized for a CPU.

  seq2seq-jax train --config multi30k:MODEL[,PAIR] --workdir runs/multi30k/MODEL \
      --config.data.manual_dir=DATA/multi30k
  seq2seq-jax eval --workdir runs/multi30k/MODEL --split test --beam 5

MODEL is a key of ``MODELS`` below (default bahdanau); PAIR en_de (default), de_en, en_fr.
Test BLEU (lowercased, tokenised, en→de, beam 5, 2 CPU cores; single models chosen on
validation): transformer_wu 39.63 (--alpha 1.5 --stop first_k), four transformer_wu seeds
as an ensemble 41.86 (--alpha 1.5); bahdanau_query_input_long 37.68. Every run:
RESULTS.md section 2.
"""

from seq2seq_jax.config import default_config, model_section

MODELS = {
    "rnn": {"name": "rnn", "embed_dim": 256, "hidden": 256, "bidirectional": True,
            "enc_layers": 2, "dec_layers": 2, "dropout": 0.2},
    "bahdanau": {"name": "bahdanau", "embed_dim": 256, "hidden": 256, "bidirectional": True,
                 "dropout": 0.2},
    "luong": {"name": "luong", "embed_dim": 256, "hidden": 256, "bidirectional": True,
              "luong_score": "general", "dropout": 0.2},
    "transformer": {"name": "transformer", "d_model": 128, "heads": 4, "ff_dim": 512,
                    "enc_layers": 4, "dec_layers": 4, "dropout": 0.1, "max_len": 128,
                    "share_embeddings": True},
}
MODELS["luong_long"] = MODELS["luong_long_seed2"] = MODELS["luong"]
MODELS["bahdanau_query_input"] = {**MODELS["bahdanau"], "query_input": True}
MODELS["bahdanau_query_input_long"] = MODELS["bahdanau_query_input"]
MODELS["luong_concat"] = {**MODELS["luong"], "luong_score": "concat"}
MODELS["rnn_every_step"] = {**MODELS["rnn"], "context_mode": "every_step"}
MODELS["bahdanau_words"] = MODELS["bahdanau"]
MODELS["bahdanau_gru"] = {**MODELS["bahdanau"], "cell": "gru"}
MODELS["bahdanau_query_cell"] = {**MODELS["bahdanau"], "query_cell": True}
# Wu et al. 2021's Transformer-tiny recipe: a 256-wide feed-forward layer, dropout 0.3,
# a larger batch and a higher peak learning rate, trained for about 70 epochs.
MODELS["transformer_wu"] = {**MODELS["transformer"], "ff_dim": 256, "dropout": 0.3}
WU_SEEDS = {"transformer_wu_seed1": 1, "transformer_wu_seed2": 2, "transformer_wu_seed3": 3}
MODELS.update({name: MODELS["transformer_wu"] for name in WU_SEEDS})
WU = {"batch_size": 256, "learning_rate": 3.5e-3, "warmup_steps": 2000, "keep_checkpoints": 5}
WORD_LEVEL = {"bahdanau_words"}  # whitespace tokens of the tokenised files, no BPE
PAIRS = ("en_de", "de_en", "en_fr", "fr_en")
STEPS = {"luong_long": 8000, "luong_long_seed2": 8000, "bahdanau_query_input_long": 6000,
         "transformer": 8000, "transformer_wu": 8000, **{name: 8000 for name in WU_SEEDS}}
DEFAULT_STEPS = 4000  # every model not in STEPS
SEEDS = {"luong_long": 1, "luong_long_seed2": 2, "bahdanau_query_input_long": 1, **WU_SEEDS}


def get_config(arg: str = "bahdanau"):
    arg, _, pair = arg.partition(",")
    if arg not in MODELS:
        raise ValueError(f"configs/multi30k.py:{arg} is not valid; choose one of {sorted(MODELS)}")
    if pair and pair not in PAIRS:
        raise ValueError(f"configs/multi30k.py:{arg},{pair}: the pair is not valid; "
                         f"choose one of {list(PAIRS)}")
    c = default_config()
    c.data.name = f"multi30k/{pair or 'en_de'}_tok"
    c.data.src_tokenizer = c.data.tgt_tokenizer = "sentencepiece"
    c.data.vocab_size = 8000
    c.data.joint_vocab = True
    if arg in WORD_LEVEL:  # one vocabulary per side: every word of the train split
        c.data.src_tokenizer = c.data.tgt_tokenizer = "symbol"
        c.data.joint_vocab = False
    c.data.max_src_len = c.data.max_tgt_len = 80
    c.data.truncate = True
    c.data.batch_size = 64
    c.data.eval_batch_size = 128
    c.model = model_section(**MODELS[arg])
    transformer = c.model.name == "transformer"
    c.train.update(metric="tok_bleu", num_steps=STEPS.get(arg, DEFAULT_STEPS), eval_every=1000,
                   checkpoint_every=500, learning_rate=1.5e-3 if transformer else 2e-3,
                   warmup_steps=800 if transformer else 400,
                   schedule="rsqrt" if transformer else "cosine",
                   eval_max_examples=500, label_smoothing=0.1)
    if arg.startswith("transformer_wu"):
        c.data.batch_size = WU["batch_size"]
        c.train.update(learning_rate=WU["learning_rate"], warmup_steps=WU["warmup_steps"],
                       keep_checkpoints=WU["keep_checkpoints"])
    c.decode.update(method="greedy", beam_size=5, alpha=0.6, max_len=100)
    c.seed = SEEDS.get(arg, c.seed)
    return c
