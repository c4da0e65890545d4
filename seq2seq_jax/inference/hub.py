"""Trained models by name: ``g2p``, ``en-de``, ... (``index.json`` beside this file,
also reached as the repository's ``models/index.json``).

Each entry names a kept export and what it claims: ``name``, ``path`` (under
``models/``), ``sha256``, ``task`` and ``split``, ``decode`` (``beam``, ``alpha``,
``average``, ``stop``), ``ensemble`` (more exports, each ``{path, sha256}``, decoded
together with ``path``) and ``metrics``, the test scores ``seq2seq-jax eval --model NAME``
prints. ``scripts/check_index.py`` re-scores every claim.

A name resolves to a local folder, the first of these that holds the model with the
registered checksum:

1. ``$SEQ2SEQ_JAX_MODELS/<path>``;
2. the repository's ``models/<path>``, when the package runs from a checkout;
3. the user cache, ``$SEQ2SEQ_JAX_CACHE`` or ``$XDG_CACHE_HOME/seq2seq_jax``
   (``~/.cache/seq2seq_jax``), under ``models/<name>``.

An entry with a ``url`` (``https://``, ``file://``) is downloaded into the cache when no
folder holds it: a ``.tar.gz`` of the export folder, whose unpacked files must match the
registered ``sha256``, as torch.hub and fairseq's ``from_pretrained`` check theirs. A
model's checksum is the SHA-256 over its files' relative paths and SHA-256s
(``folder_digest``), so a folder is checked without an archive.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seq2seq_jax.errors import ConfigError

INDEX = Path(__file__).with_name("index.json")
# The checkout's models/ folder, when the package is imported from one (not in a wheel).
CHECKOUT_MODELS = Path(__file__).resolve().parents[2] / "models"


def index() -> dict[str, dict[str, Any]]:
    """Every registered name with its entry (the module docstring lists the fields)."""
    return {entry["name"]: entry for entry in json.loads(INDEX.read_text())}


def cache_dir() -> Path:
    """Where downloaded models and compiled programs are kept for this user."""
    if os.environ.get("SEQ2SEQ_JAX_CACHE"):
        return Path(os.environ["SEQ2SEQ_JAX_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "seq2seq_jax"


def folder_digest(folder: str | Path) -> str:
    """SHA-256 over the sorted relative paths and SHA-256s of every file in ``folder``."""
    folder = Path(folder)
    total = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        total.update(f"{f.relative_to(folder).as_posix()}\0{digest}\n".encode())
    return total.hexdigest()


def is_name(spec: str) -> bool:
    """Whether ``spec`` is a registered name rather than a folder."""
    return spec in index() and not Path(spec).is_dir()


def registered_decode(name: str | None, beam: int | None, alpha: float | None,
                      stop: str | None = None
                      ) -> tuple[int | None, float | None, str | None]:
    """``(beam, alpha, stop)``: the registered model ``name``'s decoding options where
    the caller gives none (no name: as given)."""
    if name is None:
        return beam, alpha, stop
    decode = index()[name].get("decode", {})
    return (decode.get("beam") if beam is None else beam,
            decode.get("alpha") if alpha is None else alpha,
            decode.get("stop") if stop is None else stop)


def candidates(name: str, entry: Mapping[str, Any]) -> list[Path]:
    """The folders ``name`` may already be in, in the order they are tried."""
    out = []
    if os.environ.get("SEQ2SEQ_JAX_MODELS"):
        out.append(Path(os.environ["SEQ2SEQ_JAX_MODELS"]).expanduser() / entry["path"])
    out.append(CHECKOUT_MODELS / entry["path"])
    out.append(cache_dir() / "models" / name)
    return out


def resolve(name: str, *, download: bool = True,
            registry: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """The local folder of the model ``name``, downloading it when it has a URL.

    Raises:
      ConfigError: an unknown name (the message lists the known ones), a model found
        nowhere without a URL, or a download whose contents fail the checksum.
    """
    known = index() if registry is None else dict(registry)
    if name not in known:
        raise ConfigError(f"--model {name}: no model has that name; known names: "
                          f"{sorted(known)} (or pass a model folder with --workdir)")
    entry = known[name]
    for folder in candidates(name, entry):
        if folder.is_dir() and folder_digest(folder) == entry["sha256"]:
            return folder
    if download and entry.get("url"):
        return fetch(name, entry)
    where = ", ".join(str(p) for p in candidates(name, entry))
    raise ConfigError(f"--model {name}: not found with its checksum in {where}, and it has "
                      "no download URL; set SEQ2SEQ_JAX_MODELS to the folder holding "
                      f"{entry['path']}")


def ensemble(name: str | None) -> list[Path]:
    """The local folders of the registered ``name``'s other ensemble members (none for a
    single model or no name), each checked against its checksum."""
    if name is None:
        return []
    members = index()[name].get("ensemble", [])
    return [resolve(f"{name}[{i + 1}]", download=False,
                    registry={f"{name}[{i + 1}]": member})
            for i, member in enumerate(members)]


def fetch(name: str, entry: Mapping[str, Any]) -> Path:
    """Download ``entry['url']`` (a .tar.gz of the model folder) into the cache.

    The archive is unpacked into a temporary folder and moved into place only when its
    files match ``entry['sha256']``; a mismatch leaves any folder already there as it was.
    """
    import tarfile  # here, not at the top: every command's parser imports this module
    import urllib.request

    target = cache_dir() / "models" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as tmp:
        archive = Path(tmp) / "model.tar.gz"
        try:
            with urllib.request.urlopen(entry["url"]) as response, open(archive, "wb") as f:
                shutil.copyfileobj(response, f)
        except OSError as e:
            raise ConfigError(f"--model {name}: cannot download {entry['url']} ({e})") from None
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        roots = [p for p in unpacked.iterdir()]
        folder = roots[0] if len(roots) == 1 and roots[0].is_dir() else unpacked
        got = folder_digest(folder)
        if got != entry["sha256"]:
            raise ConfigError(f"--model {name}: the download from {entry['url']} has checksum "
                              f"{got}, expected {entry['sha256']}; nothing was replaced "
                              f"in {target}")
        old = Path(tmp) / "old"
        if target.exists():
            target.rename(old)  # replaced only by a folder that passed the check
        folder.rename(target)
    return target
