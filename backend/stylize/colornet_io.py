"""Save and load a trained colour net: weights in safetensors, the rest in JSON.

The JSON carries the architecture, the training styles with their codes, whether colours
were transferred, and which VGG19 weights produced the statistics (the encoder only
understands statistics from the same weights), so a run folder applies new styles later
without any training data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from backend.errors import CheckpointError
from backend.files import atomic_write, write_json
from backend.style.colour import ColourStats
from backend.stylize.colornet import ColorNet, ColorNetConfig, StyleCode

FORMAT = "stylized-heads-colornet"
VERSION = 1
TENSORS = "colornet.safetensors"
META = "colornet.json"


@dataclass(frozen=True)
class SavedColorNet:
    """A colour net as stored: the network, its training styles' codes, how it was made."""

    net: ColorNet
    codes: dict[str, StyleCode]
    colour_transfer: bool
    vgg19: str


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
        "vgg19": saved.vgg19,
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
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} v{VERSION} file")
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
            net.to(device).eval(), codes, bool(meta["colour_transfer"]), str(meta["vgg19"])
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise CheckpointError(f"{directory}: cannot load the colour net ({exc})") from exc
