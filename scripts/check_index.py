"""Re-score every claim of models/index.json: one ``seq2seq-jax eval --model NAME`` each.

    python scripts/check_index.py [NAME ...] [--config.data.manual_dir=DIR]

Each entry's ``metrics`` must come back within 0.01 (the decode is deterministic on one
machine; another CPU or XLA release may round a near-tie differently). Exits 1 when a
claim is not reproduced. Extra ``--config.data.*`` options go to every eval (where the
data lives on this machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from seq2seq_jax.inference import hub

TOLERANCE = 0.01


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("--")] or list(hub.index())
    overrides = [a for a in argv if a.startswith("--config.")]
    exe = str(Path(sys.executable).with_name("seq2seq-jax"))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            entry = hub.index()[name]
            out = Path(tmp) / f"{name}.json"
            subprocess.run([exe, "eval", "--model", name, "--split", entry["split"],
                            "--out", str(out), *overrides], check=True,
                           stdout=subprocess.DEVNULL)
            got = json.loads(out.read_text())
            for key, claimed in entry["metrics"].items():
                ok = abs(got[key] - claimed) <= TOLERANCE
                failed += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {name} {key}: claimed {claimed}, "
                      f"measured {got[key]:.4f}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
