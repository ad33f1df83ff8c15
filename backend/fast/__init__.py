"""Stage 3, the fast path: a new style on the head in about a second, without optimizing
again. A style-conditioned colour net learns from stage-2 results of several styles
(colornet*.py), applies any style image's code (apply.py), and a small mapper turns a
CLIP embedding into such a code (clip_mapper.py, mapper_training.py). It imports no
method: what it learns from reaches it as textures."""
