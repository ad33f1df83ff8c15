"""Apply a new style to a finished run with its colour net: one forward pass, no training.

Loading does the slow part once (the NeRF, the mesh, every texel's surface point and
field features); each style then costs one VGG pass over the style image and one pass of
the colour head over the texels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backend.captures import Camera
from backend.errors import BackendError, CheckpointError
from backend.fast.colornet import StyleCode
from backend.fast.colornet_io import SavedColorNet, load_colornet
from backend.fast.colornet_train import base_texture
from backend.fast.surface import SurfaceSamples, field_features, texel_samples
from backend.mesh.bake import pad_gutters
from backend.mesh.glb import GltfExport, export_of, read_glb
from backend.mesh.textured import TexturedMesh
from backend.nerf.checkpoint import load_model
from backend.nerf.model import NerfModel
from backend.nerf.rays import camera_rays
from backend.nerf.render import composite
from backend.pretrained.networks import FeatureExtractor
from backend.pretrained.registry import load_backbone
from backend.style.colour import ColourStats
from backend.style.encoder import STAT_LAYERS, style_statistics


@dataclass
class StyleApplier:
    """A run's colour net, mesh and field, ready to turn style images into textures;
    ``export`` is how the run wrote its GLBs, so applied styles are written alike."""

    saved: SavedColorNet
    mesh: TexturedMesh
    model: NerfModel
    extractor: FeatureExtractor
    texels: SurfaceSamples
    covered: np.ndarray
    export: GltfExport

    @classmethod
    def load(
        cls, run_dir: Path, device: torch.device | None = None, download: bool = True
    ) -> StyleApplier:
        """A run's colour net with the feature network it was trained with (the same
        weights, fetched if allowed and missing; nothing else will do)."""
        device = device or torch.device("cpu")
        saved = load_colornet(run_dir, device)
        if not (run_dir / "mesh.glb").is_file():
            raise CheckpointError(f"{run_dir / 'mesh.glb'} is missing")
        mesh, extras = read_glb(run_dir / "mesh.glb")
        model, _ = load_model(run_dir / "nerf", device)
        features = saved.features
        backbone = load_backbone(features.network, features.weights, download)
        extractor = FeatureExtractor(backbone, STAT_LAYERS).to(device)
        texels, covered = texel_samples(mesh, model.capture_box, model.field)
        return cls(saved, mesh, model, extractor, texels, covered, export_of(extras))

    def weights_record(self) -> dict[str, object]:
        """The GLB extras' ``weights``: the feature network the colour net reads styles with."""
        return {"features": self.saved.features.to_dict()}

    def code(self, image: np.ndarray) -> StyleCode:
        """The code of a style image (H, W, 3) in [0, 1]."""
        statistics = style_statistics(self.extractor, image)
        return self.saved.net.code(statistics, ColourStats.of(image))

    def texture(self, code: StyleCode, strength: float = 1.0) -> np.ndarray:
        """The head's texture under ``code``, blended with its own by ``1 - strength``."""
        _check_unit("strength", strength)
        original = self.mesh.texture
        base = base_texture(original, code.colours, self.saved.colour_transfer)
        t = self.texels
        residual = self.saved.net.residual(t.features, t.points, t.dirs, code.z).cpu().numpy()
        styled = base.copy()
        styled[self.covered] = np.clip(base[self.covered] + residual, 0.0, 1.0)
        styled = pad_gutters(styled, self.covered)
        if strength == 1.0:
            return styled
        return ((1.0 - strength) * original + strength * styled).astype(np.float32)

    def apply(
        self,
        image: np.ndarray,
        mix: np.ndarray | None = None,
        t: float = 0.0,
        strength: float = 1.0,
    ) -> TexturedMesh:
        """A textured head for a style image, optionally mixed towards a second one."""
        _check_unit("t", t)
        code = self.code(image)
        if mix is not None:
            code = code.mix(self.code(mix), t)
        return self.apply_code(code, strength)

    def apply_code(self, code: StyleCode, strength: float = 1.0) -> TexturedMesh:
        """A textured head for a style code (from an image, a mix, or the CLIP mapper)."""
        return self.mesh.with_texture(self.texture(code, strength))

    @torch.no_grad()
    def render(self, camera: Camera, code: StyleCode, strength: float = 1.0) -> np.ndarray:
        """A NeRF view (H, W, 3) with the colour net's colours on the frozen density."""
        model = self.model
        rays = camera_rays(camera, model.capture_box, model.device)
        styled = _StyledField(self, code, strength)
        background = model.background(rays.origins, rays.dirs, training=False)
        parts = []
        for start in range(0, len(rays.origins), 16384):
            part = slice(start, start + 16384)
            samples = model.sampler.sample(
                model.field, rays.origins[part], rays.dirs[part], jitter=False
            )
            parts.append(composite(styled, samples, background[part]).rgb)
        k = camera.intrinsics
        return torch.cat(parts).clamp(0, 1).view(k.height, k.width, 3).cpu().numpy()


class _StyledField(torch.nn.Module):
    """The frozen field's density with the colour net's colours, for volume rendering."""

    def __init__(self, applier: StyleApplier, code: StyleCode, strength: float):
        super().__init__()
        self.field = applier.model.field
        self.net = applier.saved.net
        self.code, self.strength = code, strength
        own = ColourStats.of(applier.mesh.texture)
        target = code.colours if applier.saved.colour_transfer else own
        device = applier.model.device
        self.scale = torch.tensor(target.std / (own.std + 1e-6), device=device)
        self.shift = torch.tensor(target.mean, device=device) - self.scale * torch.tensor(
            own.mean, device=device
        )

    @property
    def geometry(self):
        return self.field.geometry

    def forward(self, points: torch.Tensor, dirs: torch.Tensor):
        depth, original = self.field(points, dirs)
        features = field_features(self.field, points)
        base = (features[:, :3] * self.scale + self.shift).clamp(0, 1)
        residual = self.net.residual(features, points, dirs, self.code.z)
        styled = (base + residual).clamp(0, 1)
        return depth, self.strength * styled + (1.0 - self.strength) * original


def _check_unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0 or value != value:
        raise BackendError(f"{name} must be between 0 and 1, got {value}")
