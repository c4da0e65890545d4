"""Decoding, reached through a model's step function: greedy search and sampling
(``decode.py``, the one entry point), beam search (``beam.py``) and the state both share
(``search.py``)."""
