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
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from backend.mesh.textured import TexturedMesh
from backend.methods.base import MethodContext, Progress
from backend.methods.hybrid.offsets import VertexOffsets
from backend.methods.hybrid.settings import StylizeSettings
from backend.methods.hybrid.terms import FeatureStyleTerm, StyleTerm
from backend.methods.hybrid.volume_texture import TexelPoints, VolumePyramid
from backend.pretrained.networks import FeatureExtractor
from backend.style.colour import colour_transfer
from backend.style.losses import content_loss, total_variation
from backend.views.cameras import random_views
from backend.views.evaluation import Evaluation
from backend.views.render import ViewRaster, rasterize_view, shade

EVALUATION_VIEWS = 4

Rasters = dict[int, ViewRaster] | None


@dataclass(frozen=True)
class StyleResult:
    name: str
    mesh: TexturedMesh
    style_loss_before: float
    style_loss_after: float
    content_loss: float
    evaluation: Evaluation | None
    seconds: float
    max_offset: float = 0.0
    extras: dict[str, object] = field(default_factory=dict)
    judge_images = None
    turntable = None

    def summary(self) -> dict[str, object]:
        """The report section; judge and consistency only where they were measured."""
        before, after = self.style_loss_before, self.style_loss_after
        out: dict[str, object] = {
            "name": self.name,
            "method": "hybrid",
            "max_vertex_offset": self.max_offset,
            "style_loss_before": before,
            "style_loss_after": after,
            "style_loss_reduction": (before - after) / before if before > 0 else 0.0,
            "content_loss": self.content_loss,
            "seconds": round(self.seconds, 2),
        }
        if self.evaluation is not None:
            out.update(self.evaluation.summary())
        return out


class TextureOptimizer:
    """Stylizes one head with any number of style images, sharing views and features; its
    results are measured by the context's yardsticks."""

    def __init__(self, context: MethodContext, settings: StylizeSettings | None = None):
        settings = settings or context.settings
        self.context, self.measures = context, context.measures
        self.mesh, self.settings, self.device = context.mesh, settings, context.device
        layers = tuple(dict.fromkeys(self._style_layers() + settings.content_layers))
        self.extractor = FeatureExtractor(context.backbone, layers).to(self.device)
        self.rasterizer = self.measures.rasterizer
        self.tensors = self.measures.tensors
        self.original = self.measures.original
        rng = np.random.default_rng(settings.seed)
        self.cameras = random_views(context.capture, settings.pool_views, settings.render_size, rng)
        self.views = [rasterize_view(self.rasterizer, self.tensors, c) for c in self.cameras]
        self.evaluation = list(range(min(EVALUATION_VIEWS, len(self.views))))
        self.crops = [_head_box(view) for view in self.views]
        self.texels = TexelPoints(self.mesh, self.device)
        with torch.no_grad():
            self.original_features = [
                self._features(self._render(self.original, i), settings.content_layers)
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
        self, texture: torch.Tensor, term: StyleTerm, view: int, rasters: Rasters, train: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The view's style term and all its features (the content loss reads them)."""
        image, mask = self._shaded(texture, view, rasters)
        ours = self._features(image)
        return term(image, mask, ours, view, train), ours

    def feature_term(self, style: np.ndarray) -> FeatureStyleTerm:
        """The term of a style image: the losses named in ``settings.loss`` ("gram", or a
        mix such as "gram+nnfm"), NNFM on ``nnfm_layers`` and the others on
        ``style_layers``."""
        names = self.settings.loss.split("+")
        return FeatureStyleTerm(self.style_target(style), {n: self._loss_layers(n) for n in names})

    def _loss_layers(self, loss: str) -> tuple[str, ...]:
        return self.settings.nnfm_layers if loss == "nnfm" else self.settings.style_layers

    def _style_layers(self) -> tuple[str, ...]:
        """Every layer the style losses read."""
        names = self.settings.loss.split("+")
        return tuple(dict.fromkeys(k for n in names for k in self._loss_layers(n)))

    def _rasters(self, vertices: torch.Tensor, views) -> dict[int, ViewRaster]:
        tensors = replace(self.tensors, vertices=vertices)
        return {int(i): rasterize_view(self.rasterizer, tensors, self.cameras[i]) for i in views}

    def _features(self, image: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
        features = self.extractor(image.permute(2, 0, 1)[None])
        return {k: v for k, v in features.items() if layers is None or k in layers}

    @torch.no_grad()
    def style_target(self, style: np.ndarray) -> dict[str, torch.Tensor]:
        """The style image's features, as :meth:`style_loss` compares against."""
        return self._features(torch.tensor(style, device=self.device), self._style_layers())

    @torch.no_grad()
    def render_rmse(self, a: torch.Tensor, b: torch.Tensor, views: list[int]) -> float:
        """RMSE between the renders of two textures over ``views`` (head crops)."""
        errors = [(self._render(a, i) - self._render(b, i)).pow(2).mean() for i in views]
        return float(torch.stack(errors).mean().sqrt())

    @torch.no_grad()
    def render_view(
        self, texture: torch.Tensor, view: int, vertices: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The pool view's cropped render (H, W, 3) of a texture, on ``vertices`` where
        the geometry moved."""
        rasters = self._rasters(vertices, [view]) if vertices is not None else None
        return self._render(texture, view, rasters)

    def style_loss(
        self, texture: torch.Tensor, term: StyleTerm, views: list[int], rasters: Rasters = None
    ) -> float:
        """Mean style term of the textured renders over ``views``, measured (no
        augmentation)."""
        with torch.no_grad():
            values = [float(self._style_term(texture, term, i, rasters, False)[0]) for i in views]
        return float(np.mean(values))

    def stylize(
        self,
        name: str,
        style: np.ndarray,
        progress: Progress | None = None,
        evaluate: bool = True,
    ) -> StyleResult:
        """Optimize a texture for one style image (H, W, 3) in [0, 1].

        Evaluation (the judge's held-out renders and the consistency arc's seven
        supersampled views, several seconds on two CPU cores) is left out for results
        that only feed the colour net or a comparison.
        """
        s = self.settings
        base = colour_transfer(self.mesh.texture, style) if s.colour_transfer else self.mesh.texture
        return self.optimize(name, self.feature_term(style), base, style, progress, evaluate)

    def optimize(
        self,
        name: str,
        term: StyleTerm,
        base: np.ndarray,
        style: np.ndarray | None,
        progress: Progress | None = None,
        evaluate: bool = True,
    ) -> StyleResult:
        """Optimize a texture from ``base`` towards ``term``; ``style`` is the image the
        judge compares against (None: a text target, judged on content and consistency)."""
        started = time.perf_counter()
        s = self.settings
        pyramid = VolumePyramid(
            torch.tensor(base, device=self.device),
            self.texels,
            s.pyramid_levels,
            s.finest_voxels or s.render_size // 4,
        )
        offsets = self._offsets() if s.vertex_offsets else None
        groups = [{"params": list(pyramid.parameters()), "lr": s.lr}]
        if offsets is not None:
            groups.append({"params": list(offsets.parameters()), "lr": s.offset_lr})
        optimizer = torch.optim.Adam(groups)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        rng = np.random.default_rng(s.seed + 1)
        before = self.style_loss(self.original, term, self.evaluation)
        scales = (max(before, 1e-12), max(float(total_variation(self.original)), 1e-6))
        for step in range(s.steps):
            views = rng.choice(len(self.views), s.views_per_step, replace=False)
            rasters = None
            if offsets is not None:
                vertices = offsets()
                rasters = self._rasters(vertices, views)
            loss = self._objective(pyramid(), term, views, scales, rasters)
            if offsets is not None:
                loss = loss + s.smoothness_weight * offsets.roughness()
                if s.bending_weight > 0:
                    loss = loss + s.bending_weight * offsets.bending(vertices)
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
            after = self.style_loss(final, term, self.evaluation, rasters)
            content = self.content_loss(final, self.evaluation, rasters)
            moved_mesh = replace(self.tensors, vertices=vertices)
            evaluation = self.measures.evaluate(final, style, moved_mesh) if evaluate else None
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
            evaluation,
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

    def _objective(
        self, texture: torch.Tensor, term: StyleTerm, views, scales, rasters
    ) -> torch.Tensor:
        """Style (relative to the unstylized texture's), content (relative to the original
        features' energy) and TV (relative to the baked texture's), averaged over views."""
        s = self.settings
        style_scale, tv_scale = scales
        loss = s.tv_weight * total_variation(texture) / tv_scale
        for index in views:
            style, ours = self._style_term(texture, term, index, rasters, True)
            original = self.original_features[index]
            content = _relative_content(ours, original)
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
            ours = self._features(self._render(texture, i, rasters), self.settings.content_layers)
            values.append(float(content_loss(ours, self.original_features[i])))
        return float(np.mean(values))


def _relative_content(ours: dict[str, torch.Tensor], original: dict[str, torch.Tensor]):
    """Content loss with each layer's error relative to its original features' energy."""
    terms = [
        (ours[k] - f).pow(2).mean() / f.pow(2).mean().clamp(min=1e-12) for k, f in original.items()
    ]
    return torch.stack(terms).mean()


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
