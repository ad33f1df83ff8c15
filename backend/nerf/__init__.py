"""Stage 1: a sparse-voxel radiance field fitted to the capture."""
