"""Choose the torch device: ``auto`` takes CUDA when torch sees a GPU, else the CPU."""

from __future__ import annotations

import torch

from backend.errors import BackendError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    if name not in DEVICE_CHOICES:
        raise BackendError(f"unknown device '{name}' (choose from {', '.join(DEVICE_CHOICES)})")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BackendError("--device cuda was asked for, but torch sees no CUDA GPU")
    return torch.device(name)
