"""The base of the project's tfds builders: what every one of them does the same way.

* Files are written as ArrayRecord: tfds's default, TFRecord, needs TensorFlow to
  write, and random access is what `batching` reads with.
* Examples keep their file order (shuffling disabled), so example ``i`` is the
  i-th kept line and results can be joined back to the source files.
* Bad lines raise a `DataError` naming file and line, or, with
  ``skip_bad_lines=True``, are dropped, logged and counted in
  ``info.metadata["skipped_lines"]``.
"""

from __future__ import annotations

import logging
from typing import Any

import tensorflow_datasets as tfds

from seq2seq_jax.data.text_files import ReadResult

_log = logging.getLogger(__name__)


class TextFileBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):  # type: ignore[call-arg]
    """A builder over line-oriented text files (not registered itself: it builds nothing)."""

    def __init__(self, *, skip_bad_lines: bool = False, **kwargs: Any):
        """Creates the builder.

        Args:
          skip_bad_lines: drop and count malformed lines instead of raising.
          **kwargs: `tfds.core.GeneratorBasedBuilder` arguments (data_dir, config,
            ...); file_format defaults to "array_record".
        """
        self._skip_bad_lines = skip_bad_lines
        kwargs.setdefault("file_format", "array_record")
        super().__init__(**kwargs)

    def _text_info(self, features: Any, *, description: str | None, homepage: str,
                   citation: str | None = None) -> tfds.core.DatasetInfo:
        """`DatasetInfo` with source/target supervised keys and file order kept."""
        return tfds.core.DatasetInfo(
            builder=self,
            description=description,
            features=features,
            supervised_keys=("source", "target"),
            homepage=homepage,
            disable_shuffling=True,  # keep file order: index i is the i-th kept line
            citation=citation,
            metadata=tfds.core.MetadataDict(),
        )

    def _count_skipped(self, where: str, result: ReadResult) -> ReadResult:
        """Record how many bad lines ``where`` (a file or a split) lost; warn if any."""
        self.info.metadata.setdefault("skipped_lines", {})[where] = result.skipped
        if result.skipped:
            _log.warning("%s: skipped %d bad lines; first: %s", where, result.skipped,
                         "; ".join(result.problems[:3]))
        return result
