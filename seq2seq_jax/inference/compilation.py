"""JAX's persistent compilation cache, on by default for the command line and ``load``.

Compiled programs are written to ``$SEQ2SEQ_JAX_CACHE/jax`` (``~/.cache/seq2seq_jax/jax``)
and read back by any later process on the machine, so a repeated ``predict`` or a resumed
``train`` compiles nothing an earlier run compiled. ``SEQ2SEQ_JAX_COMPILATION_CACHE=0``
turns it off; ``JAX_COMPILATION_CACHE_DIR`` (JAX's own setting) wins over the default
folder. JAX treats an unreadable entry as a miss and compiles again, so a broken cache
costs time, never a run.

``training.compiles.counts()`` reports how many programs a process compiled and how
many it read from this cache.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from seq2seq_jax.inference import hub

log = logging.getLogger(__name__)

def folder() -> Path | None:
    """The cache folder in use, or None when switched off."""
    if os.environ.get("SEQ2SEQ_JAX_COMPILATION_CACHE", "1").lower() in ("0", "off", "false"):
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    return hub.cache_dir() / "jax"


def enable() -> Path | None:
    """Point JAX at the cache folder (made if missing); every compilation is cached."""
    import jax

    path = folder()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a read-only home: run without the cache
        log.warning("compilation cache off: cannot create %s (%s)", path, e)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
