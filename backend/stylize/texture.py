"""Stage 2b: optimize the mesh texture so renders from many views carry the style.

The texture is the (colour-transferred) baked texture plus, in logit space, a pyramid of
offsets on voxel grids around the head (volume_texture.py): a step on a coarse level
moves a whole region, so large colour fields settle first and fine strokes follow, and
texels meeting at a chart seam share their colour. Logit space saturates smoothly where
clamping would leave hard edges at 0 and 1. Geometry is fixed (unless vertex offsets are
on), so each view of a pool is rasterized once and a step costs one texture lookup and
one pass through VGG per view.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from backend.captures import Capture
from backend.mesh.textured import TexturedMesh
from backend.style.colour import ColourStats, transfer_colours
from backend.style.losses import STYLE_LOSSES, content_loss, total_variation
from backend.style.vgg import FeatureExtractor
from backend.stylize.consistency import arc_consistency, consistency_arc
from backend.stylize.offsets import VertexOffsets
from backend.stylize.views import (
    MeshTensors,
    ViewRaster,
    random_views,
    rasterize_view,
    shade,
)
from backend.stylize.volume_texture import TexelPoints, VolumePyramid

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_LAYERS = ("relu4_1",)
EVALUATION_VIEWS = 4

Progress = Callable[[int, int, float], None]
Rasters = dict[int, ViewRaster] | None


@dataclass(frozen=True)
class StylizeSettings:
    """Stage 2's optimization.

    The loss weights trade style against consistency. Measured on the sample head with
    random VGG19 weights (the only ones this project could test with), `strokes`, 150
    steps, masked style loss: content 0.3 and TV 0.1 reduce the style loss 91.4% with
    consistency 0.010 / 0.021 (bounds 0.02 / 0.04). The learning rate falls along a
    cosine to ``final_lr_fraction`` of ``lr``: at a constant rate the last steps leave
    their noise in the texture (consistency 0.012 / 0.026, reduction 92.6%). With the
    published weights the balance should be measured again.

    ``finest_voxels`` (default: half of ``render_size``) sizes the finest offset grid
    across the head so that one voxel covers about one rendered pixel: finer detail is
    resampled differently from each view. At 64 px on the test head a 128 grid gave
    consistency 0.026 / 0.075 (reduction 95%), 32 gave 0.013 / 0.055 (92%).
    """

    steps: int = 150
    render_size: int = 256
    pool_views: int = 24
    views_per_step: int = 1
    lr: float = 0.1
    final_lr_fraction: float = 0.05
    loss: str = "gram"
    style_weight: float = 1.0
    content_weight: float = 0.3
    tv_weight: float = 0.1
    pyramid_levels: int = 5
    finest_voxels: int | None = None
    colour_transfer: bool = True
    seed: int = 0
    vertex_offsets: bool = False
    offset_limit: float = 0.01
    offset_lr: float = 0.05
    smoothness_weight: float = 1.0


@dataclass(frozen=True)
class StyleResult:
    name: str
    mesh: TexturedMesh
    style_loss_before: float
    style_loss_after: float
    content_loss: float
    consistency: tuple[float, float] | None
    seconds: float
    max_offset: float = 0.0

    def summary(self) -> dict[str, object]:
        """The report section; consistency only where it was measured."""
        before, after = self.style_loss_before, self.style_loss_after
        out: dict[str, object] = {
            "max_vertex_offset": self.max_offset,
            "name": self.name,
            "style_loss_before": before,
            "style_loss_after": after,
            "style_loss_reduction": (before - after) / before if before > 0 else 0.0,
            "content_loss": self.content_loss,
            "seconds": round(self.seconds, 2),
        }
        if self.consistency is not None:
            out["consistency_short_rmse"], out["consistency_long_rmse"] = self.consistency
        return out


def colour_transfer(texture: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Match the texture's per-channel mean and deviation to the style image's."""
    return transfer_colours(texture, ColourStats.of(style))


class Stylizer:
    """Stylizes one mesh with any number of style images, sharing views and features."""

    def __init__(
        self,
        mesh: TexturedMesh,
        capture: Capture,
        extractor: FeatureExtractor,
        rasterizer,
        settings: StylizeSettings,
        device: torch.device,
    ):
        self.mesh, self.settings, self.device = mesh, settings, device
        self.extractor = extractor.to(device)
        self.rasterizer = rasterizer
        self.tensors = MeshTensors.of(mesh, device)
        rng = np.random.default_rng(settings.seed)
        self.cameras = random_views(capture, settings.pool_views, settings.render_size, rng)
        self.arc = consistency_arc(capture, settings.render_size)
        self.views = [rasterize_view(rasterizer, self.tensors, c) for c in self.cameras]
        self.evaluation = list(range(min(EVALUATION_VIEWS, len(self.views))))
        self.crops = [_head_box(view) for view in self.views]
        self.texels = TexelPoints(mesh, device)
        self.original = torch.tensor(mesh.texture, device=device)
        with torch.no_grad():
            self.original_features = [
                self._features(self._render(self.original, i), CONTENT_LAYERS)
                for i in range(len(self.views))
            ]

    def _render(self, texture: torch.Tensor, view: int, rasters: Rasters = None) -> torch.Tensor:
        """The view's render cropped to the head: the losses see texture, not background.

        ``rasters`` replaces the fixed views' rasters where the geometry moves (offsets).
        """
        return self._shaded(texture, view, rasters)[0]

    def _shaded(
        self, texture: torch.Tensor, view: int, rasters: Rasters = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cropped render (H, W, 3) and its coverage (1, 1, H, W), the style losses'
        mask: the crop's corners still show background."""
        rows, cols = self.crops[view]
        raster = rasters[view] if rasters is not None else self.views[view]
        frame = shade(self.rasterizer, raster, self.tensors.faces, texture)
        return frame.image[rows, cols], frame.coverage[rows, cols][None, None]

    def _style_term(
        self, texture: torch.Tensor, target, view: int, rasters: Rasters = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The view's style loss against ``target`` and all its features."""
        image, mask = self._shaded(texture, view, rasters)
        ours = self._features(image)
        style = STYLE_LOSSES[self.settings.loss]({k: ours[k] for k in STYLE_LAYERS}, target, mask)
        return style, ours

    def _rasters(self, vertices: torch.Tensor, views) -> dict[int, ViewRaster]:
        tensors = replace(self.tensors, vertices=vertices)
        return {int(i): rasterize_view(self.rasterizer, tensors, self.cameras[i]) for i in views}

    def _features(self, image: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
        features = self.extractor(image.permute(2, 0, 1)[None])
        return {k: v for k, v in features.items() if layers is None or k in layers}

    @torch.no_grad()
    def style_target(self, style: np.ndarray) -> dict[str, torch.Tensor]:
        """The style image's features, as :meth:`style_loss` compares against."""
        return self._features(torch.tensor(style, device=self.device), STYLE_LAYERS)

    @torch.no_grad()
    def render_rmse(self, a: torch.Tensor, b: torch.Tensor, views: list[int]) -> float:
        """RMSE between the renders of two textures over ``views`` (head crops)."""
        errors = [(self._render(a, i) - self._render(b, i)).pow(2).mean() for i in views]
        return float(torch.stack(errors).mean().sqrt())

    def style_loss(
        self, texture: torch.Tensor, style_features, views: list[int], rasters: Rasters = None
    ) -> float:
        """Mean style loss of the textured renders over ``views``."""
        with torch.no_grad():
            return float(
                np.mean(
                    [float(self._style_term(texture, style_features, i, rasters)[0]) for i in views]
                )
            )

    def stylize(
        self,
        name: str,
        style: np.ndarray,
        progress: Callable[[int, int, float], None] | None = None,
        measure_consistency: bool = True,
    ) -> StyleResult:
        """Optimize a texture for one style image (H, W, 3) in [0, 1].

        Consistency renders seven supersampled views (about 6 s on two CPU cores); results
        that only feed the colour net or a comparison leave it out.
        """
        started = time.perf_counter()
        s = self.settings
        target = self.style_target(style)
        base = colour_transfer(self.mesh.texture, style) if s.colour_transfer else self.mesh.texture
        pyramid = VolumePyramid(
            torch.tensor(base, device=self.device),
            self.texels,
            s.pyramid_levels,
            s.finest_voxels or s.render_size // 2,
        )
        offsets = self._offsets() if s.vertex_offsets else None
        groups = [{"params": list(pyramid.parameters()), "lr": s.lr}]
        if offsets is not None:
            groups.append({"params": list(offsets.parameters()), "lr": s.offset_lr})
        optimizer = torch.optim.Adam(groups)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        rng = np.random.default_rng(s.seed + 1)
        before = self.style_loss(self.original, target, self.evaluation)
        scales = (max(before, 1e-12), max(float(total_variation(self.original)), 1e-6))
        for step in range(s.steps):
            views = rng.choice(len(self.views), s.views_per_step, replace=False)
            rasters = self._rasters(offsets(), views) if offsets is not None else None
            loss = self._objective(pyramid(), target, views, scales, rasters)
            if offsets is not None:
                loss = loss + s.smoothness_weight * offsets.roughness()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if progress is not None:
                progress(step + 1, s.steps, float(loss.detach()))
        with torch.no_grad():
            final = pyramid()
            vertices = offsets() if offsets is not None else self.tensors.vertices
            rasters = self._rasters(vertices, self.evaluation) if offsets is not None else None
            after = self.style_loss(final, target, self.evaluation, rasters)
            content = self.content_loss(final, self.evaluation, rasters)
            consistency = (
                self.consistency(final, replace(self.tensors, vertices=vertices))
                if measure_consistency
                else None
            )
            moved = (vertices - self.tensors.vertices).norm(dim=-1).max()
        mesh = TexturedMesh(
            vertices.cpu().numpy(), self.mesh.faces, self.mesh.uvs, final.cpu().numpy()
        )
        return StyleResult(
            name,
            mesh,
            before,
            after,
            content,
            consistency,
            time.perf_counter() - started,
            float(moved),
        )

    def _lr_factor(self, step: int) -> float:
        """Cosine from 1 down to ``final_lr_fraction`` over the run's steps."""
        floor = self.settings.final_lr_fraction
        done = min(step / max(self.settings.steps, 1), 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + np.cos(np.pi * done))

    def _offsets(self) -> VertexOffsets:
        diagonal = float(np.linalg.norm(np.ptp(self.mesh.vertices, axis=0)))
        limit = self.settings.offset_limit * diagonal
        return VertexOffsets(self.mesh.vertices, self.mesh.faces, limit, self.device)

    def _objective(self, texture: torch.Tensor, target, views, scales, rasters) -> torch.Tensor:
        """Style (relative to the unstylized texture's), content (relative to the original
        features' energy) and TV (relative to the baked texture's), averaged over views."""
        s = self.settings
        style_scale, tv_scale = scales
        loss = s.tv_weight * total_variation(texture) / tv_scale
        for index in views:
            style, ours = self._style_term(texture, target, index, rasters)
            original = {k: self.original_features[index][k] for k in CONTENT_LAYERS}
            energy = _mean_energy(original)
            content = content_loss({k: ours[k] for k in CONTENT_LAYERS}, original) / energy
            loss = loss + (s.style_weight * style / style_scale + s.content_weight * content) / (
                len(views)
            )
        return loss

    @torch.no_grad()
    def content_loss(
        self, texture: torch.Tensor, views: list[int], rasters: Rasters = None
    ) -> float:
        """Mean content loss (feature MSE to the unstylized render) over ``views``."""
        values = []
        for i in views:
            ours = self._features(self._render(texture, i, rasters), CONTENT_LAYERS)
            original = {k: self.original_features[i][k] for k in CONTENT_LAYERS}
            values.append(float(content_loss(ours, original)))
        return float(np.mean(values))

    @torch.no_grad()
    def consistency(
        self, texture: torch.Tensor, tensors: MeshTensors | None = None
    ) -> tuple[float, float]:
        """Warp RMSE between views 10 degrees apart (short) and 60 degrees apart (long)."""
        return arc_consistency(self.rasterizer, tensors or self.tensors, texture, self.arc)


def _mean_energy(features: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack([f.pow(2).mean() for f in features.values()]).mean().clamp(min=1e-12)


def _head_box(view: ViewRaster, margin: int = 2) -> tuple[slice, slice]:
    """Rows and columns (top row first) of the covered pixels' bounding box, padded."""
    covered = (view.rast[0, ..., 3] > 0).flip(0)
    rows, cols = covered.any(dim=1).nonzero()[:, 0], covered.any(dim=0).nonzero()[:, 0]
    if len(rows) == 0:
        return slice(None), slice(None)
    height, width = covered.shape
    return (
        slice(max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin)),
        slice(max(0, int(cols[0]) - margin), min(width, int(cols[-1]) + 1 + margin)),
    )
