"""Evaluation: verification metrics and the threshold rule (metrics.py), and the `make evaluate`
stage (evaluate.py)."""
