"""The hybrid method: the stage-2 texture optimized through the differentiable
rasterizer (optimizer.py), towards a style term (terms.py), over a pyramid of volume
offsets (volume_texture.py) and, optionally, vertex offsets (offsets.py)."""
