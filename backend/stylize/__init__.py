"""Stage 2b (texture stylization) and stage 3 (style-conditioned colour network)."""
