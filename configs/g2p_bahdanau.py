"""The main job: G2P on the built-in CMUdict data with a bi-LSTM + Bahdanau attention.

  seq2seq-jax train --config configs/g2p_bahdanau.py --workdir runs/g2p_bahdanau

This is also what `seq2seq-jax train` trains with no --config. Measured with
`make run` on 2 CPU cores (AMD EPYC, no GPU, one core shared with a benchmark
process): 4,000 steps in 11 min 28 s of wall time; test (12,462 held-out
words): WER 32.5%, PER 7.8%, greedy decoding.
"""

from seq2seq_jax.config import default_config


def get_config(arg=None):
    del arg
    return default_config()
