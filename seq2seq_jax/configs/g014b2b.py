"""G2P on the standard CMUdict split g014b2b, every model family (the published-WER table).

  seq2seq-jax train --config configs/g014b2b.py:MODEL --workdir runs/g014b2b/MODEL \
      --config.data.manual_dir=../shared/data/cmudict_g014b2b
  seq2seq-jax eval --workdir runs/g014b2b/MODEL --split test --beam 5

MODEL: rnn (no attention), bahdanau (default), luong, transformer, or
bahdanau_query_input (Bahdanau whose scoring network also reads the previous output
phoneme, model.query_input; see configs/multi30k.py), and bahdanau_seed1 /
bahdanau_query_input_seed1 (the same two from seed 1 instead of 0: ensemble members;
_seed2 from seed 2, _seed3 from seed 3), and bahdanau_rerun / bahdanau_query_input_rerun
(the seed-0 configs unchanged, trained again on another CPU under jax 0.10.2, whose
rounding differs from the first runs' from the first steps), and bahdanau_enc2 (a
2-layer bidirectional encoder, 15,000 steps) / bahdanau_long / bahdanau_query_input_long
(the one-layer shapes for 20,000 steps, seed 4), and bahdanau_enc2_long (bahdanau_enc2
for 20,000 steps, seed 5), and bahdanau_query_input_enc2 (the 2-layer encoder with the
query-input scorer, 15,000 steps, seed 6). Scoring follows the published convention: a
word is correct when the 1-best matches any of its reference pronunciations; PER is the
edit distance to the closest reference over its length. Measured (beam 5): bahdanau test
WER 23.55 %, PER 5.56 % (23.14 / 5.42 with --average 3); rnn 24.59 / 5.91; luong 27.07 /
6.40; rnn and bahdanau as an ensemble (eval --ensemble) 22.02 / 5.18, 21.97 / 5.15 with
--average 3; transformer 27.81 / 6.80 (27.68 / 6.76 with --average 3), its dev WER still
falling at 10,000 steps; bahdanau_query_input 23.55 / 5.53; bahdanau and
bahdanau_query_input as an ensemble 22.32 / 5.23 with --average 3; rnn, bahdanau and
bahdanau_query_input 21.82 / 5.15; bahdanau_seed1 23.42 / 5.53,
bahdanau_query_input_seed1 23.72 / 5.56, the four Bahdanau configs as an ensemble 21.84
/ 5.12, 21.62 / 5.08 with --average 3; bahdanau_seed2 25.23 / 5.92 (23.37 / 5.48 with
--average 3), bahdanau_query_input_seed2 23.50 / 5.52 (23.45 / 5.52), the two as an
ensemble 22.62 / 5.29 with --average 3 (kept in models/g014b2b/); with --average 3,
bahdanau_rerun 23.56 / 5.54, bahdanau_query_input_rerun 23.59 / 5.58, bahdanau_seed3
22.98 / 5.44, bahdanau_query_input_seed3 23.40 / 5.53, the rerun, seed-2 and seed-3
pairs as one ensemble 21.67 / 5.11 (all six in models/g014b2b/). bahdanau_enc2 21.98 /
5.11 and bahdanau_long 22.02 / 5.18 with --average 3, the two as an ensemble 20.78 /
4.84, bahdanau_query_input_long 22.25 / 5.23, the three as an ensemble 20.43 / 4.79,
bahdanau_enc2_long 21.78 / 5.08, the four as an ensemble 20.02 / 4.72,
bahdanau_query_input_enc2 21.15 / 4.91, the five as an ensemble 19.83 / 4.62 (all five
in models/g014b2b/). Wall times and hardware: RESULTS.md.
"""

from seq2seq_jax.config import default_config, model_section

MODELS = {
    "rnn": {"name": "rnn", "embed_dim": 64, "hidden": 256, "bidirectional": True,
            "enc_layers": 2, "dec_layers": 2, "dropout": 0.2},
    "bahdanau": {"name": "bahdanau", "embed_dim": 64, "hidden": 256, "bidirectional": True,
                 "dropout": 0.2},
    "luong": {"name": "luong", "embed_dim": 64, "hidden": 256, "bidirectional": True,
              "luong_score": "general", "dropout": 0.2},
    "transformer": {"name": "transformer", "d_model": 256, "heads": 4, "ff_dim": 1024,
                    "enc_layers": 3, "dec_layers": 3, "dropout": 0.1, "max_len": 64},
}
MODELS["bahdanau_query_input"] = {**MODELS["bahdanau"], "query_input": True}
SEEDS = {f"{m}_seed{k}": k for m in ("bahdanau", "bahdanau_query_input") for k in (1, 2, 3)}
for _name in SEEDS:
    MODELS[_name] = MODELS[_name.rsplit("_seed", 1)[0]]
# The seed-0 configs unchanged, trained again on another CPU (Intel Xeon, not the first
# runs' AMD EPYC) under jax 0.10.2: another run, not a copy, as rounding differs from
# the first steps on.
for _name in ("bahdanau", "bahdanau_query_input"):
    MODELS[f"{_name}_rerun"] = MODELS[_name]
# Stronger members for the ensemble: a 2-layer bidirectional encoder trained 15,000 steps,
# and the one-layer shape trained twice as long from a fifth seed.
MODELS["bahdanau_enc2"] = {**MODELS["bahdanau"], "enc_layers": 2}
MODELS["bahdanau_long"] = MODELS["bahdanau"]
MODELS["bahdanau_query_input_long"] = MODELS["bahdanau_query_input"]
MODELS["bahdanau_enc2_long"] = MODELS["bahdanau_enc2"]
# The deeper encoder with the query-input scorer: a strong member that differs in kind.
MODELS["bahdanau_query_input_enc2"] = {**MODELS["bahdanau_query_input"], "enc_layers": 2}
SEEDS.update(bahdanau_long=4, bahdanau_query_input_long=4, bahdanau_enc2_long=5,
             bahdanau_query_input_enc2=6)
# The Transformer recipe for long runs (issue: single models): same shape, more
# regularisation, an inverse-square-root schedule that does not depend on num_steps (so a
# run can be extended), and six times the steps.
MODELS["transformer_long"] = {**MODELS["transformer"], "dropout": 0.2, "attn_dropout": 0.1}
STEPS = {"transformer_long": 60_000, "bahdanau_enc2": 15_000, "bahdanau_long": 20_000,
         "bahdanau_query_input_long": 20_000, "bahdanau_enc2_long": 20_000,
         "bahdanau_query_input_enc2": 15_000}


def get_config(arg: str = "bahdanau"):
    if arg not in MODELS:
        raise ValueError(f"configs/g014b2b.py:{arg} is not valid; choose one of {sorted(MODELS)}")
    c = default_config()
    c.data.name = "cmudict_g014b2b"
    c.model = model_section(**MODELS[arg])
    c.train.update(num_steps=STEPS.get(arg, 10_000), eval_every=1000, checkpoint_every=500,
                   eval_max_examples=1000, warmup_steps=400,
                   learning_rate=1e-3 if arg == "transformer" else 3e-3)
    if arg == "transformer_long":
        c.train.update(schedule="rsqrt", warmup_steps=4000, eval_every=2000)
    c.seed = SEEDS.get(arg, c.seed)
    return c
