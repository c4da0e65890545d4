"""``python -m seq2seq_jax``: the ``seq2seq-jax`` command."""

from seq2seq_jax.cli.parser import entry

entry()
