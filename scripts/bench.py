"""Benchmark the sequential scan against parallel self-attention.

    python scripts/bench.py --quick --out bench_out/quick
    python scripts/bench.py --out bench_out/cpu_full

The same as ``seq2seq-jax bench``; see ``seq2seq_jax/bench/harness.py`` and BENCHMARKS.md.
"""

from seq2seq_jax.bench.harness import bench_main

if __name__ == "__main__":
    raise SystemExit(bench_main())
