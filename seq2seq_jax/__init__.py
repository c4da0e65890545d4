"""seq2seq_jax: LSTM encoder-decoder, attention and the Transformer as pure JAX functions."""

__version__ = "0.1.0"
