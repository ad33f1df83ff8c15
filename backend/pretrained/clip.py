"""CLIP: a text encoder and an image encoder sharing one embedding space, for edits
driven by a prompt or an exemplar image.

No package registry ships CLIP's weights, so they come from the user: a folder in the
standard checkpoint layout (what transformers' ``save_pretrained`` writes: config.json,
model.safetensors, the tokenizer's files, preprocessor_config.json) given by
``--clip-weights``, else transformers' own cache, where ``openai/clip-vit-base-patch32``
is downloaded on first use if downloads are allowed and the machine is online. Nothing
falls back to random weights: without a checkpoint, loading raises a
:class:`WeightsError` whose one line says how to get one.

transformers is imported only here and only when CLIP is asked for (it takes seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError

from backend.errors import WeightsError
from backend.files import sha256_of
from backend.pretrained.networks import Provenance

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# OpenAI's pixel normalization, for checkpoints that come without a preprocessor file.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
MAX_TOKENS = 77
HOW_TO_GET = (
    "pass --clip-weights DIR (a CLIP checkpoint folder as transformers saves it: "
    f"config.json, model.safetensors, tokenizer files; e.g. a download of {DEFAULT_CLIP}), "
    f"or run once online so that transformers caches {DEFAULT_CLIP}"
)


@dataclass
class Clip:
    """A frozen CLIP with its tokenizer and pixel normalization, and where it came from."""

    model: torch.nn.Module
    tokenizer: object
    image_size: int
    mean: torch.Tensor
    std: torch.Tensor
    provenance: Provenance

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    def to(self, device: torch.device) -> Clip:
        self.model.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Unit embeddings (N, D) of the texts."""
        tokens = self.tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )
        tokens = {k: v.to(self.device) for k, v in tokens.items()}
        return F.normalize(_pooled(self.model.get_text_features(**tokens)), dim=-1)

    def encode_image(self, image: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Unit embedding (D,) of one image (H, W, 3) in [0, 1]; differentiable."""
        pixels = torch.as_tensor(image, dtype=torch.float32, device=self.device)
        return self.encode_images(pixels.permute(2, 0, 1)[None])[0]

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit embeddings (N, D) of images (N, 3, H, W) in [0, 1]; differentiable, so that
        a loss on them reaches a texture. Each image is resized to CLIP's input (its short
        side to the input size, then the centre square), as CLIP's own preprocessing does."""
        pixels = _centre_square(images, self.image_size)
        pixels = (pixels - self.mean.view(1, 3, 1, 1)) / self.std.view(1, 3, 1, 1)
        return F.normalize(_pooled(self.model.get_image_features(pixel_values=pixels)), dim=-1)


def load_clip(weights: Path | None = None, download: bool = True) -> Clip:
    """CLIP from ``weights`` (a checkpoint folder), else from transformers' cache, fetching
    the default checkpoint there when ``download`` is allowed."""
    folder = _checkpoint_folder(weights, download)
    try:
        from transformers import CLIPModel, CLIPTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()

        model = CLIPModel.from_pretrained(folder, local_files_only=True).eval()
        tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
        mean, std = _normalization(folder)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise WeightsError(
            f"cannot load CLIP from {folder}: {_first_line(exc)}; {HOW_TO_GET}"
        ) from exc
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    source = str(weights.resolve()) if weights is not None else f"{DEFAULT_CLIP} (cache)"
    provenance = Provenance(_architecture(model.config), _digest(folder), source)
    return Clip(model, tokenizer, int(model.config.vision_config.image_size), mean, std, provenance)


def _checkpoint_folder(weights: Path | None, download: bool) -> Path:
    """The folder holding the checkpoint's files, or one clear line on what is missing."""
    if weights is not None:
        weights = Path(weights)
        if not weights.is_dir():
            raise WeightsError(f"CLIP weights folder not found: {weights}; {HOW_TO_GET}")
        if not (weights / "config.json").is_file() or not _weight_file(weights):
            raise WeightsError(
                f"{weights} is not a CLIP checkpoint (needs config.json and "
                f"{' or '.join(WEIGHT_FILES)}); {HOW_TO_GET}"
            )
        return weights
    return _cached_default(download)


def _cached_default(download: bool) -> Path:
    """The default checkpoint's folder in transformers' cache, fetched if allowed."""
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            DEFAULT_CLIP,
            allow_patterns=["*.json", "*.txt", "model.safetensors"],
            local_files_only=not download,
        )
    except Exception as exc:  # the hub raises many kinds, all meaning "not available here"
        fetched = "and could not be downloaded" if download else "(downloads are off)"
        raise WeightsError(
            f"no CLIP weights: {DEFAULT_CLIP} is not in transformers' cache {fetched}; {HOW_TO_GET}"
        ) from exc
    return Path(folder)


def _weight_file(folder: Path) -> Path | None:
    return next((folder / n for n in WEIGHT_FILES if (folder / n).is_file()), None)


def _digest(folder: Path) -> str:
    """The weights' identity: the first 16 hex digits of the weight file's SHA-256."""
    path = _weight_file(folder)
    if path is None:
        raise WeightsError(f"{folder} holds no CLIP weight file; {HOW_TO_GET}")
    return f"sha256:{sha256_of(path)[:16]}"


def _architecture(config) -> str:
    vision = config.vision_config
    return (
        f"clip-vit-p{vision.patch_size}-w{vision.hidden_size}-l{vision.num_hidden_layers}"
        f"-{vision.image_size}px"
    )


def _normalization(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel mean and deviation from preprocessor_config.json, else OpenAI's."""
    path = folder / "preprocessor_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    mean = config.get("image_mean", OPENAI_MEAN)
    std = config.get("image_std", OPENAI_STD)
    return torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)


def _pooled(output) -> torch.Tensor:
    """The projected embedding: transformers 4 returns it, 5 wraps it in an output."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _centre_square(images: torch.Tensor, size: int) -> torch.Tensor:
    height, width = images.shape[-2:]
    scale = size / min(height, width)
    resized = (max(size, round(height * scale)), max(size, round(width * scale)))
    images = F.interpolate(images, size=resized, mode="bilinear", antialias=True)
    top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
    return images[..., top : top + size, left : left + size]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
