"""Metric plugins: the shared suite (being written)."""
