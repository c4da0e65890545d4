"""G2P on CMUdict with a bi-LSTM and Luong (general) attention with input feeding.

  seq2seq-jax train --config g2p_luong --workdir runs/g2p_luong

Result: not yet measured with this exact config.
"""

from seq2seq_jax.config import default_config


def get_config(arg=None):
    del arg
    c = default_config()
    c.model.name = "luong"
    c.model.luong_score = "general"
    c.model.input_feeding = True
    return c
