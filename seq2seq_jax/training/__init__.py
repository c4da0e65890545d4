"""Training: the loop (``train.py``), checkpoints, the workdir layout, export, the
workdir lock, graceful stop, metric writers (``reporting.py``) and device sharding."""
