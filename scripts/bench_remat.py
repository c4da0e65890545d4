"""What remat saves in memory and costs in time; what bfloat16 saves in memory.

    python scripts/bench_remat.py            # the sizes in BENCHMARKS.md
    python scripts/bench_remat.py --quick    # tiny sizes, a smoke check

See ``seq2seq_jax/bench/remat.py`` and BENCHMARKS.md.
"""

from seq2seq_jax.bench.remat import main

if __name__ == "__main__":
    raise SystemExit(main())
