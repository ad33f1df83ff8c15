"""A tiny CLIP with seeded random weights, saved in the standard checkpoint layout.

Tests and benchmarks cannot have CLIP's published weights (no registry ships them), so
they build this one and load it back through :func:`backend.pretrained.clip.load_clip`,
the product's own loader. Its embeddings mean nothing about images or words; it checks
that the machinery (tokenizer, both encoders, gradients to a texture, the files) works.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from backend.pretrained.clip import OPENAI_MEAN, OPENAI_STD

# A few merges, so that the tokenizer's byte-pair step is exercised, not just bytes.
MERGES = ("t h", "th e</w>", "a n", "o n</w>", "i n", "e r</w>", "b r", "o n", "z e</w>", "s t")
START, END = "<|startoftext|>", "<|endoftext|>"


def save_tiny_clip(folder: Path, seed: int = 0, image_size: int = 64, width: int = 32) -> Path:
    """Write a tiny CLIP (two layers per encoder, ``width`` wide) into ``folder``."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()

    folder.mkdir(parents=True, exist_ok=True)
    vocab = _vocabulary()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[tuple(m.split()) for m in MERGES])
    layers = {
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
    }
    config = CLIPConfig(
        text_config={
            **layers,
            "vocab_size": len(vocab),
            "max_position_embeddings": 77,
            "bos_token_id": vocab[START],
            "eos_token_id": vocab[END],
            "pad_token_id": vocab[END],
        },
        vision_config={**layers, "image_size": image_size, "patch_size": 16},
        projection_dim=width,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # The byte-pair files too, as published CLIP checkpoints carry them beside tokenizer.json.
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    preprocessor = {
        "image_processor_type": "CLIPImageProcessor",
        "crop_size": {"height": image_size, "width": image_size},
        "size": {"shortest_edge": image_size},
        "image_mean": list(OPENAI_MEAN),
        "image_std": list(OPENAI_STD),
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
    return folder


def _vocabulary() -> dict[str, int]:
    """CLIP's vocabulary shape: the 256 byte symbols, each also ending a word, the merges'
    results, then the start and end tokens."""
    symbols = _byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *("".join(m.split()) for m in MERGES)]
    return {token: index for index, token in enumerate([*tokens, START, END])}


def _byte_symbols() -> list[str]:
    """One printable character per byte value (the byte-level BPE convention): printable
    Latin-1 bytes stand for themselves, the rest take characters from 256 on."""
    printable = {*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    symbols, extra = [], 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols
