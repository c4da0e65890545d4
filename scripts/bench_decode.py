"""Decoding throughput on G2P words, every model family against g2p_en's predictor.

    python scripts/bench_decode.py --quick
    python scripts/bench_decode.py --out bench_out/decode.json

See ``seq2seq_jax/bench/decoding.py`` for the method.
"""

from seq2seq_jax.bench.decoding import main

if __name__ == "__main__":
    raise SystemExit(main())
