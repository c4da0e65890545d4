"""G2P on CMUdict with a small Transformer (3 layers, d=256, as g2p-seq2seq's).

  seq2seq-jax train --config g2p_transformer --workdir runs/g2p_transformer

Result: not yet measured with this exact config.
"""

from seq2seq_jax.config import default_config, model_section


def get_config(arg=None):
    del arg
    c = default_config()
    c.model = model_section(name="transformer", d_model=256, heads=4, ff_dim=1024,
                            enc_layers=3, dec_layers=3, dropout=0.1, max_len=64)
    c.train.learning_rate = 1e-3
    c.train.warmup_steps = 1000
    c.train.schedule = "rsqrt"
    c.train.num_steps = 20000
    return c
