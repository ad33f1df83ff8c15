"""Stage 2a: surface extraction, cleanup, UV atlas and texture baking from the NeRF."""
