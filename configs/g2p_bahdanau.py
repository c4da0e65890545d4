"""The main job: G2P on the built-in CMUdict data with a bi-LSTM + Bahdanau attention.

  seq2seq-jax train --config configs/g2p_bahdanau.py --workdir runs/g2p_bahdanau

This is also what `seq2seq-jax train` trains with no --config. Result and time:
see README.md (Quickstart), measured with `make run`.
"""

from seq2seq_jax.config import default_config


def get_config(arg=None):
    del arg
    return default_config()
