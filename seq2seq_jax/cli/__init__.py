"""The ``seq2seq-jax`` command: ``parser.py`` reads the arguments, ``commands.py`` does the work."""

from seq2seq_jax.cli.parser import UsageError, entry, main, names_config_file, read_config

__all__ = ["UsageError", "entry", "main", "names_config_file", "read_config"]
