"""How long one real train step of an experiment's model takes, per dtype and batch.

    python scripts/bench_step.py --config configs/multi30k.py:transformer \
        --config.model.ff_dim=256 --batch 64,256 --dtype float32,bfloat16

See ``seq2seq_jax/bench/step.py``.
"""

from seq2seq_jax.bench.step import main

if __name__ == "__main__":
    raise SystemExit(main())
