"""Stylization methods behind one interface (base.py): mesh + field + style in, stylized
mesh + metrics out, each built from the run's context by the registry (registry.py), so
that comparing them on a capture is a loop (benchmarks/methods.py).

- ``hybrid`` (the default): the stage-2 texture optimization (hybrid/).
- ``mutual``: StylizedNeRF's 2D-3D mutual learning (mutual/).
- ``per-view``: each view stylized on its own by a 2D network (the inconsistent reference).
- ``nerf-on-2d``: the stage-1 field's colour retrained on 2D-stylized views.
- ``clip``: edits towards a prompt or an exemplar through CLIP (clip/).
"""
