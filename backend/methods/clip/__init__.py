"""CLIP edits by optimization (after CLIP-NeRF): the hybrid optimizer with a CLIP term."""
