"""Which built-in styles the colour net learns from, and the one it never sees.

It always learns from ``TRAINING_STYLES``, and from ``EXTRA_TRAINING_STYLES`` too when
time allows (each costs one stage-2 optimization: about 100 s on two CPU cores; on the
sample head they took the held-out RMSE from 0.131 to 0.114). ``HELDOUT_STYLE`` it never
trains on: every run measures how well it generalizes there.
"""

TRAINING_STYLES = ("strokes", "stipple", "mosaic", "ink")
EXTRA_TRAINING_STYLES = ("plaid", "shards", "hatch", "halftone")
HELDOUT_STYLE = "waves"
