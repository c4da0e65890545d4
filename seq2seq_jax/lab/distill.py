"""Sequence-level knowledge distillation data for g014b2b (Kim & Rush 2016).

A student trained on a teacher's beam-search outputs instead of the references can
come close to the teacher with one model and greedy decoding. ``distill_g014b2b``
writes a copy of a g014b2b folder whose training words carry the teacher's 1-best
pronunciation, one a word, in place of their references:

* the dev words (the hash-picked 5 % that ``cmudict_g014b2b`` holds out of
  ``g014b2b.train``) keep their reference lines, so that dev scores, and every
  choice made on them, still measure against the dictionary;
* ``g014b2b.ref`` (the test set) and every other data file are copied unchanged;
* ``DISTILLED.json`` says what was done: the teacher, its decoding, the counts and
  the SHA-256 of the source training file.

Train a student on it like on the original folder::

    python scripts/distill.py --teacher g2p-ensemble --data G014B2B_DIR \\
        --out data/g014b2b_distilled
    seq2seq-jax train --config g014b2b:transformer_distilled --workdir runs/g014b2b/td \\
        --config.data.manual_dir=data/g014b2b_distilled

The teacher is any callable from a list of lowercased words to their pronunciations
(``seq2seq_jax.load(name)``); nothing here depends on JAX.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seq2seq_jax.data.cmudict_g2p import normalize_word, split_of_word
from seq2seq_jax.data.fingerprint import file_sha256
from seq2seq_jax.data.g014b2b import (
    DEV_FRACTION,
    HOW_TO_GET,
    TRAIN_FILE,
    check_entry,
    group_pronunciations,
)
from seq2seq_jax.data.text_files import find_file, read_fields

MARKER = "DISTILLED.json"
Teacher = Callable[[Sequence[str]], Sequence[str]]


def check(data: str | Path, out: str | Path) -> Path:
    """The training file of ``data``; ``DataError`` without one, ``FileExistsError`` when
    ``out`` exists. Checked before a teacher is loaded."""
    if Path(out).exists():
        raise FileExistsError(f"{out} exists; give a new folder (a distilled copy is "
                              "never written over another)")
    return find_file(Path(data), TRAIN_FILE, how_to_get=HOW_TO_GET)


def distill_g014b2b(data: str | Path, out: str | Path, teacher: Teacher, *,
                    about: dict[str, Any] | None = None, batch: int = 4096,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write the distilled copy of the g014b2b folder ``data`` into the new folder ``out``.

    Args:
      data: a folder holding ``g014b2b.train`` and ``g014b2b.ref`` (plain or ``.gz``).
      out: a folder that must not exist yet (nothing written is ever overwritten).
      teacher: lowercased words -> one pronunciation each, space-separated phonemes.
      about: what to record of the teacher in ``DISTILLED.json`` (name, decoding).
      batch: words per teacher call.
      progress: called with (words done, words in all) after each call.

    Returns:
      What ``DISTILLED.json`` holds.
    """
    data, out = Path(data), Path(out)
    train_path = check(data, out)
    read = read_fields(train_path, min_fields=2, max_fields=2, layout="WORD<TAB>PH ON EMES",
                       validate=check_entry)
    refs = group_pronunciations(read)  # word -> its references, in file order
    taught = [w for w in refs if split_of_word(w, DEV_FRACTION, 0.0) == "train"]
    prons: dict[str, str] = {}
    for start in range(0, len(taught), batch):
        chunk = taught[start:start + batch]
        outputs = list(teacher(chunk))
        if len(outputs) != len(chunk):
            raise ValueError(f"the teacher answered {len(outputs)} of {len(chunk)} words")
        prons.update(zip(chunk, (" ".join(o.split()) for o in outputs), strict=True))
        if progress:
            progress(min(start + batch, len(taught)), len(taught))
    lines, kept_dev, seen = [], 0, set()
    for word, pron in read.rows:
        key = str(normalize_word(word))
        if key in prons:  # a training word: the teacher's one pronunciation, once
            if key not in seen:
                lines.append(f"{word}\t{prons[key]}\n")
                seen.add(key)
        else:  # a dev word: its references, unchanged
            lines.append(f"{word}\t{pron}\n")
            kept_dev += 1
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for source in sorted(data.iterdir()):
        if source.is_file() and source != train_path and source.name not in (
                MARKER, "README.md"):  # the source's README describes the source
            shutil.copy2(source, partial / source.name)
    with gzip.open(partial / f"{TRAIN_FILE}.gz", "wt", encoding="utf-8") as f:
        f.writelines(lines)
    facts = {"teacher": about or {}, "source": str(train_path),
             "source_sha256": file_sha256(train_path), "train_words_distilled": len(prons),
             "dev_lines_kept": kept_dev,
             "train_words_changed": sum(prons[w] not in refs[w] for w in prons)}
    (partial / MARKER).write_text(json.dumps(facts, indent=1) + "\n")
    partial.rename(out)
    return facts

