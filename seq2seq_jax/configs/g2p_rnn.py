"""G2P on CMUdict with the no-attention LSTM encoder-decoder (fixed-length context).

  seq2seq-jax train --config g2p_rnn --workdir runs/g2p_rnn

The context vector initialises the decoder (Sutskever et al. 2014); add
--config.model.context_mode=every_step for Cho et al. 2014. Measured: test WER 30.2 %,
PER 7.5 % (greedy, 12,462 words; RESULTS.md section 1b, with wall time and hardware).
"""

from seq2seq_jax.config import default_config


def get_config(arg=None):
    del arg
    c = default_config()
    c.model.name = "rnn"
    c.model.hidden = 256
    c.model.bidirectional = True
    c.model.enc_layers = c.model.dec_layers = 2
    return c
