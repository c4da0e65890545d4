"""A few-step G2P run on a slice of the built-in data, for tests and CI.

  seq2seq-jax train --config configs/g2p_smoke.py --workdir /tmp/g2p_smoke
"""

from seq2seq_jax.config import default_config


def get_config(arg=None):
    c = default_config()
    c.data.train_limit = 512
    c.data.batch_size = 32
    c.data.eval_batch_size = 64
    c.train.eval_max_examples = 64
    c.model.hidden = 32
    c.model.embed_dim = 16
    c.train.num_steps = 20
    c.train.log_every = 5
    c.train.eval_every = 10
    c.train.checkpoint_every = 5
    return c
