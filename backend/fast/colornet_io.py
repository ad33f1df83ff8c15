"""Save and load a trained colour net: weights in safetensors, the rest in JSON.

The JSON carries the architecture, the training styles with their codes, whether colours
were transferred, and which feature network and weights produced the statistics (the
encoder only understands statistics from the same network), so a run folder applies new
styles later without any training data. Version 1 files, from before the feature network
was a choice, name only their VGG19 weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from backend.errors import CheckpointError
from backend.fast.colornet import ColorNet, ColorNetConfig, StyleCode
from backend.files import atomic_write, write_json
from backend.pretrained.networks import IMAGENET, RANDOM, Provenance
from backend.style.colour import ColourStats

FORMAT = "stylized-heads-colornet"
VERSION = 2
TENSORS = "colornet.safetensors"
META = "colornet.json"


@dataclass(frozen=True)
class SavedColorNet:
    """A colour net as stored: the network, its training styles' codes, how it was made."""

    net: ColorNet
    codes: dict[str, StyleCode]
    colour_transfer: bool
    features: Provenance


def save_colornet(saved: SavedColorNet, directory: Path, extra: dict[str, object]) -> None:
    """Write ``colornet.safetensors`` then ``colornet.json`` (its presence marks both whole)."""
    state = {k: v.detach().cpu().contiguous() for k, v in saved.net.state_dict().items()}
    atomic_write(directory / TENSORS, lambda tmp: save_file(state, str(tmp)))
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": saved.net.config.to_dict(),
        "stat_dim": saved.net.stat_dim,
        "colour_transfer": saved.colour_transfer,
        "features": saved.features.to_dict(),
        "styles": [
            {"name": name, "z": code.z.cpu().tolist(), "colours": code.colours.to_list()}
            for name, code in saved.codes.items()
        ],
        **extra,
    }
    write_json(directory / META, meta)


def load_colornet(directory: Path, device: torch.device) -> SavedColorNet:
    path = directory / META
    if not path.is_file():
        raise CheckpointError(
            f"{directory} has no colour net ({META} missing): run with --colornet first"
        )
    try:
        meta = json.loads(path.read_text())
        if meta.get("format") != FORMAT or meta.get("version") not in (1, VERSION):
            raise ValueError(f"not a {FORMAT} v1 or v{VERSION} file")
        net = ColorNet(ColorNetConfig(**meta["config"]), int(meta["stat_dim"]))
        net.load_state_dict(load_file(str(directory / TENSORS)))
        codes = {
            s["name"]: StyleCode(
                torch.tensor(s["z"], dtype=torch.float32, device=device),
                ColourStats.from_list(s["colours"]),
            )
            for s in meta["styles"]
        }
        return SavedColorNet(
            net.to(device).eval(), codes, bool(meta["colour_transfer"]), _features(meta)
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise CheckpointError(f"{directory}: cannot load the colour net ({exc})") from exc


def _features(meta: dict) -> Provenance:
    """The feature network's record; version 1 names VGG19's weights only."""
    if "features" in meta:
        return Provenance(**meta["features"])
    kind = str(meta["vgg19"])
    return Provenance("vgg19", RANDOM if kind == RANDOM else IMAGENET, f"version 1 file: {kind}")
