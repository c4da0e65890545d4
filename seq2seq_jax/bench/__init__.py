"""The benchmark harness (``seq2seq-jax bench``), its variants and report, and the
decoding, remat and train-step benchmarks; imported by no library module.
Peers need the ``[bench]`` extra (flax, torch, g2p_en)."""
