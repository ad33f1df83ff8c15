"""Compute backend: multi-view face capture -> NeRF -> mesh -> stylized textured head."""

__version__ = "0.1.0"
