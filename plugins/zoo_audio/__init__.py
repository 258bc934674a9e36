"""The audio family (being written)."""
