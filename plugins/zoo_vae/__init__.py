"""The vae family (being written)."""
