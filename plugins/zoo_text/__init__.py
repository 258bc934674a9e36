"""The text family (being written)."""
