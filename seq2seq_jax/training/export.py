"""A trained model's parameters alone, in a small folder that eval, predict and ensembles read.

A training workdir holds several checkpoints with their optimizer state (three
times the parameters, for Adam); an exported model holds one set of parameters:
the best checkpoint's, or the mean of the newest N (``--average N``), with the
config and tokenizers in its meta, the run's ``config.json``, ``metrics.jsonl``
and ``hardware.txt`` beside it. It is laid out as a workdir (``best/<step>``), so

  seq2seq-jax export --workdir runs/g2p/bahdanau --average 3 --out models/bahdanau
  seq2seq-jax eval --workdir models/bahdanau --split test --beam 5 --average 3
  seq2seq-jax eval --workdir models/bahdanau --ensemble runs/g2p/luong ...

decode exactly as the workdir did (``--average`` must then name the N it was
exported with; without it the export's parameters are used as they are).
Training refuses an exported folder. Nothing is overwritten: the folder is
written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from seq2seq_jax.layout import RECORD_FILES
from seq2seq_jax.training import checkpoint
from seq2seq_jax.training import workdir as workdir_lib


def export(workdir: str | Path, out: str | Path, *, average: int = 0) -> Path:
    """Write ``workdir``'s best (or ``average``-checkpoint mean) parameters to ``out``.

    Returns:
      The checkpoint step directory written (``out/best/<step>``).

    Raises:
      FileExistsError: ``out`` exists.
      FileNotFoundError, ConfigError, checkpoint.CheckpointError: as ``workdir.load_for``.
    """
    source, out = Path(workdir), Path(out)
    if out.exists():
        raise FileExistsError(f"--out {out} exists; export into a new folder (nothing is "
                              "overwritten)")
    trained = workdir_lib.load_for(source, average=average)
    meta, _ = checkpoint.read_meta(source, trained.which, trained.step)
    exported = {"from": str(source), "checkpoint": f"{trained.which}/{trained.step}",
                "averaged": list(trained.averaged)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        checkpoint.save_params(tmp, trained.step, trained.params,
                               {"config": meta["config"], "tokenizers": meta["tokenizers"],
                                checkpoint.EXPORTED: exported})
        for name in RECORD_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, tmp / name)
        tmp.chmod(0o755)  # mkdtemp's 0700 is for the unfinished folder only
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / checkpoint.BEST / str(trained.step)
