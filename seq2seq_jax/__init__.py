"""seq2seq_jax: LSTM encoder-decoder, attention and the Transformer as pure JAX functions.

    import seq2seq_jax
    g2p = seq2seq_jax.load("g2p")        # a registered name, an export or a workdir
    g2p(["phoneme", "attention"])        # ['F OW N IY M', 'AH T EH N SH AH N']

The model core is ``seq2seq_jax.models`` (``get_model``, ``make_config``), decoding is
``seq2seq_jax.decoding.decode``; importing this package loads neither JAX nor the data
stack until they are used.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = metadata.version("seq2seq_jax")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from seq2seq_jax.inference.translator import Translator, load

__all__ = ["Translator", "__version__", "load"]


def __getattr__(name: str) -> Any:
    if name in ("load", "Translator"):
        from seq2seq_jax.inference import translator

        return getattr(translator, name)
    raise AttributeError(f"module 'seq2seq_jax' has no attribute {name!r}")
