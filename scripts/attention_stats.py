"""How sharp a trained model's attention is, on the first N test sources.

    python scripts/attention_stats.py runs/multi30k/bahdanau runs/multi30k/luong --limit 300

Each workdir's best checkpoint decodes the sources with its config's decoding (greedy for
the configs here); one JSON line a workdir reports, over every output token but EOS, the
mean normalised entropy of its attention row (0: all weight on one source token, 1:
uniform) and the mean largest weight, and, over sentences, the mean share of source
tokens that receive more than half a unit of weight in all. The Transformer's rows are
its last decoder layer's cross-attention averaged over heads, which blurs them: compare
it with itself, not with the LSTMs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np

from seq2seq_jax.data import pipeline
from seq2seq_jax.evaluation import evaluate
from seq2seq_jax.training import checkpoint
from seq2seq_jax.training import workdir as workdir_lib


def sharpness(rows: Sequence[np.ndarray]) -> dict[str, float]:
    """``rows``: per sentence, its attention ``[outputs, sources]`` (EOS row excluded).

    Sentences with one source token are skipped (their entropy is undefined).
    """
    entropy: list[float] = []
    largest: list[float] = []
    covered: list[float] = []
    for a in rows:
        a = np.asarray(a, np.float64)
        if a.ndim != 2 or a.shape[1] < 2 or a.shape[0] == 0:
            continue
        p = np.clip(a, 1e-12, 1.0)
        entropy += list(-(a * np.log(p)).sum(axis=1) / np.log(a.shape[1]))
        largest += list(a.max(axis=1))
        covered.append(float(np.mean(a.sum(axis=0) > 0.5)))
    if not entropy:
        raise ValueError("no attention rows with two or more source tokens")
    return {"tokens": len(entropy), "sentences": len(covered),
            "entropy": float(np.mean(entropy)), "max_weight": float(np.mean(largest)),
            "covered": float(np.mean(covered))}


def workdir_stats(directory: str, limit: int, split: str = "test") -> dict[str, object]:
    trained = workdir_lib.load(directory, checkpoint.BEST)
    examples = pipeline.load_examples(trained.config, split, limit)
    preds = evaluate.predict(trained, [ex["source"] for ex in examples],
                             trained.config, with_attention=True, truncate=True)
    rows = [p.attention[:-1] for p in preds if p.attention is not None]
    if not rows:
        raise ValueError(f"{directory}: the model has no attention to measure")
    return {"workdir": directory, "split": split, **sharpness(rows)}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workdirs", nargs="+")
    p.add_argument("--limit", type=int, default=300, help="first N examples of the split")
    p.add_argument("--split", default="test")
    args = p.parse_args(argv)
    for d in args.workdirs:
        try:
            stats = workdir_stats(d, args.limit, args.split)
        except (FileNotFoundError, ValueError, checkpoint.CheckpointError) as e:
            print(f"attention_stats: {e}", file=sys.stderr)
            return 2
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                          for k, v in stats.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
