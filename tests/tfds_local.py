"""Prepare a tfds builder from local files alone, as the data tests need."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import tensorflow_datasets as tfds

B = TypeVar("B", bound=tfds.core.DatasetBuilder)


def prepare_local(builder_cls: type[B], data_dir: str | Path,
                  manual_dir: str | Path | None, **kwargs: Any) -> B:
    """``builder_cls(**kwargs)`` prepared into ``data_dir`` (array_record files) from
    ``manual_dir``, never from the network; for tests of bad or partial files, which
    must not share the session's prepared copy (``conftest.shared_tfds``)."""
    builder = builder_cls(data_dir=data_dir, file_format="array_record", **kwargs)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir, try_download_gcs=False))
    return builder
