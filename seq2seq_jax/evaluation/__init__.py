"""Scoring trained models: predict / score / teacher forcing (``evaluate.py``), the task
metrics (``metrics.py``) and attention plots (``plots.py``)."""
