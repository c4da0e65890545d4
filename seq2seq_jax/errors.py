"""The errors the command line reports as one line (``seq2seq-jax: error: ...``).

Each message is written for the person running the command: it names the option,
file, line or directory at fault and says what to do next.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid option; the message names it and lists the valid choices."""


class DataError(Exception):
    """Missing or malformed input data; `str(error)` is the user-facing explanation."""


class WorkdirError(Exception):
    """The workdir cannot be used for training; the message says why and names it."""


class NonFiniteError(RuntimeError):
    """Training produced a NaN or Inf; the message names the step."""
