"""Synthetic copy / reverse / addition with longer test sequences than training,
for the fixed-length bottleneck experiment.

  seq2seq-jax train --config synthetic:reverse,bahdanau --workdir runs/rev_bahdanau

ARG: TASK[,MODEL] with TASK copy, reverse (default) or addition and MODEL rnn,
rnn_matched (the no-attention LSTM at the attention models' parameter count),
bahdanau (default), luong, transformer, transformer_rotary (rotary positions),
transformer_rotary_long (the same, 6,000 steps) or transformer_rotary_deep (3 + 3 layers).
Train (and dev) lengths 1-50, test lengths 1-100, so half the test lengths were never
seen in training; score: exact match (and, in RESULTS.md, accuracy by length). Results:
RESULTS.md.
"""

from seq2seq_jax.config import default_config, model_section

TASKS = ("copy", "reverse", "addition")
MODELS = {
    "rnn": {"name": "rnn", "embed_dim": 32, "hidden": 256},
    # The no-attention LSTM widened to the attention models' size: 1,096,670
    # parameters against Luong's 1,060,254 and Bahdanau's 1,134,494 (rnn: 601,502).
    "rnn_matched": {"name": "rnn", "embed_dim": 32, "hidden": 352},
    "bahdanau": {"name": "bahdanau", "embed_dim": 32, "hidden": 256},
    "luong": {"name": "luong", "embed_dim": 32, "hidden": 256},
    "transformer": {"name": "transformer", "d_model": 128, "heads": 4, "ff_dim": 512,
                    "enc_layers": 2, "dec_layers": 2, "dropout": 0.0, "max_len": 128},
}
MODELS["transformer_rotary"] = {**MODELS["transformer"], "positions": "rotary"}
MODELS["transformer_rotary_long"] = MODELS["transformer_rotary"]
MODELS["transformer_rotary_deep"] = {**MODELS["transformer_rotary"], "enc_layers": 3,
                                     "dec_layers": 3}
STEPS = {"transformer_rotary_long": 6000, "transformer_rotary_deep": 6000}  # others 3,000


def get_config(arg: str = "reverse,bahdanau"):
    task, _, model = arg.partition(",")
    model = model or "bahdanau"
    if task not in TASKS or model not in MODELS:
        raise ValueError(f"configs/synthetic.py:{arg} is not valid; TASK in {TASKS}, "
                         f"MODEL in {sorted(MODELS)}")
    c = default_config()
    c.data.name = f"synthetic/{task}"
    c.data.src_tokenizer = c.data.tgt_tokenizer = "char"
    c.data.synthetic.update(train_max_len=50, test_max_len=100)
    c.data.max_src_len = c.data.max_tgt_len = 104
    c.data.batch_size = 64
    c.model = model_section(**MODELS[model])
    c.train.update(metric="exact_match", num_steps=STEPS.get(model, 3000), eval_every=500,
                   label_smoothing=0.0, eval_max_examples=500,
                   learning_rate=1e-3 if model.startswith("transformer") else 3e-3)
    c.decode.max_len = 104
    return c
