"""Multi30k translation (Task 1, text only) for every model family, sized for a CPU.

  seq2seq-jax train --config configs/multi30k.py:MODEL --workdir runs/multi30k/MODEL \
      --config.data.manual_dir=../shared/data/multi30k

MODEL: rnn, bahdanau (default), luong, transformer, luong_long (Luong trained twice as
long, 8,000 steps, from another seed: a longer run and, with luong, a two-model
ensemble: `seq2seq-jax eval --ensemble`), luong_long_seed2 (the same from a third seed)
and bahdanau_query_input_long (6,000 steps, seed 1), members of an ensemble of
long-trained LSTMs; two variants that locate the Bahdanau-Luong gap:
bahdanau_query_input (Bahdanau whose scoring network also reads the previous output
token, model.query_input) and luong_concat (Luong's decoder with Bahdanau's additive
score); three de→en probes of the tutorial anchors: rnn_every_step (the no-attention
LSTM with its context vector fed to every decoder step and to the output layer, Cho et
al. 2014, model.context_mode), bahdanau_words (plain Bahdanau on the whitespace tokens
of the tokenised files, one vocabulary per side, instead of BPE) and bahdanau_gru (plain
Bahdanau with GRU cells, the tutorial's cell, whose query s_{i-1} is its whole state);
bahdanau_query_cell (plain Bahdanau with LSTM cells whose query also reads the top
memory cell, [h; c], model.query_cell); transformer_wu, transformer_wu_seed1,
transformer_wu_seed2 and transformer_wu_seed3 (seeds 0-3): the Transformer on Wu et al.
2021's recipe for this shape (feed-forward width 256, dropout 0.3, peak learning rate
5e-3 after 2,000 warmup steps, batches of up to 2 x 4,096 tokens, roughly 500 pairs,
8,000 updates), here with 256 pairs a batch at 3.5e-3 (the peak scaled by the square
root of the batch ratio), pre-norm, 8,000 steps (about 70 epochs), the last five
checkpoints kept for --average 5 (a step takes about 2.5 s on one core of an Intel Xeon;
on an AMD EPYC 5.4 s on one core beside another run, 2.3 s on both cores: 5 to 12 h a
run); MODEL,PAIR picks the language pair and direction, PAIR one of en_de (default),
de_en, en_fr, fr_en (e.g. configs/multi30k.py:transformer,de_en). Data: the official
lowercased, tokenised files (`multi30k/PAIR_tok`; --config.data.name=multi30k/PAIR_raw
for raw text). BPE (sentencepiece, one joint 8k vocabulary) is trained on the train
split and stored in the workdir. Scores: BLEU on lowercased tokenised text against the
official lc.norm.tok references (`tok_bleu`, how published Multi30k numbers are
computed) and sacreBLEU BLEU / chrF with signatures.

The sizes are for a 2-core CPU: LSTMs with a 256-unit decoder (bidirectional 2 x 256
encoder), the Transformer in the "tiny" shape of Wu et al. 2021 (4 + 4 layers,
d = 128). Measured on one core, 4,000 steps each (test BLEU, beam 5): luong 1 h
23 min (35.76), luong_long (8,000 steps) 2 h 09 min (37.70; 37.77 with --average 3),
luong_long_seed2 2 h 04 min (38.13), bahdanau_query_input_long 1 h 51 min (37.68),
the three as an ensemble 39.95, bahdanau 1 h 22 min (25.92), the no-attention LSTM
2 h 08 min (10.34); the Transformer, 8,000 steps, 4 h 16 min (37.90; 38.12 with
--average 3, its last three checkpoints averaged); transformer_wu (seed 0), 8,000
steps over several sessions (62 min for its last 1,700 on both cores of an AMD EPYC):
39.43 (best checkpoint, --alpha 1.0, both chosen on validation); transformer_wu_seed1
(seed 1), 8,000 steps over several sessions (79 min for its last 2,416 on both AMD
cores): 40.18 at --alpha 1.5; the two seeds as an ensemble 41.30 (--ensemble, --alpha
1.5); transformer_wu_seed2 (seed 2), 8,000 steps over three sessions (123 min for its
last 3,450 on both AMD cores): 37.95 at --alpha 1.5 (best checkpoint, step 5,000); the
three seeds as an ensemble 40.92 (chosen on validation, 42.23 against the two's 41.77
and 34.57-42.22 for six variants of the three: members averaged over 3 or 5
checkpoints, --alpha 1.0, 1.25 or 1.75, seed 2's step 8,000); transformer_wu_seed3
(seed 3), 8,000 steps over three sessions (51 min for its last 1,950 on both cores of an
Intel Xeon): 40.38 at --alpha 1.5 (best checkpoint, step 8,000); the four seeds as an
ensemble 41.86 (chosen on validation, 42.59 against 42.57 with seed 3's step 6,000, which
scored 40.22, and the three's 42.23);
de_en: luong 1 h 36 min (38.08),
bahdanau 2 h 31 min (25.67), rnn 1 h 53 min (9.37), bahdanau_query_input 1 h 05 min
(39.89), transformer 2 h 13 min (39.18; 39.67 with --average 3); en_fr: luong 1 h
01 min (51.64), transformer 2 h 24 min (57.12; 58.14 with --average 3),
bahdanau_query_input 1 h 12 min (56.01), bahdanau 1 h 11 min (34.53), rnn 1 h 22 min
(8.43); de_en probes: rnn_every_step 56 min (25.95), bahdanau_words 53 min (26.23),
bahdanau_gru 43 min (38.47); bahdanau_gru: en_de 1 h 02 min (34.82), en_fr 55 min
(54.73); bahdanau_query_cell (de_en) 50 min (37.03); bahdanau_query_input (en_de)
1 h 15 min (34.60);
luong_concat (en_de) 35.11; the three LSTM + attention models luong, luong_concat
and bahdanau_query_input as an ensemble 36.99. Dev evaluations during training
decode greedily (500 sentences) to save time; the reported test scores use beam 5
(`seq2seq-jax eval --beam 5`, or `scripts/results.py multi30k --beam 5`). On a GPU,
raise the sizes and --config.train.num_steps. Results, wall times and hardware:
RESULTS.md.
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
