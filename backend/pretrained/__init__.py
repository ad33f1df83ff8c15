"""Pretrained networks: where their weights come from, how they are checked and converted,
and the frozen torch modules built from them (registry.py is the way in)."""
