"""The style stage, above the methods: each style through the run's method (stage.py),
the colour net's stage (colornet_stage.py, measured against the hybrid method by
colornet_eval.py) and a CLIP edit through the colour net (clip_stage.py). Nothing below
it imports it; pipeline.py calls it."""
