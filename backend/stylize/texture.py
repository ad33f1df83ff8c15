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
from backend.pretrained.networks import Backbone, FeatureExtractor
from backend.style.colour import ColourStats, transfer_colours
from backend.style.judge import Judge
from backend.style.losses import content_loss, total_variation
from backend.stylize.consistency import (
    SUPERSAMPLE,
    Consistency,
    arc_consistency,
    consistency_arc,
    frames_consistency,
)
from backend.stylize.judging import HeldoutJudge, JudgeFigures
from backend.stylize.offsets import VertexOffsets
from backend.stylize.terms import FeatureStyleTerm, StyleTerm
from backend.stylize.views import (
    Frame,
    MeshTensors,
    SupersampledViews,
    ViewRaster,
    random_views,
    rasterize_view,
    shade,
)
from backend.stylize.volume_texture import TexelPoints, VolumePyramid

EVALUATION_VIEWS = 4

Progress = Callable[[int, int, float], None]
Rasters = dict[int, ViewRaster] | None


@dataclass(frozen=True)
class StylizeSettings:
    """Stage 2's optimization.

    Measured with ImageNet VGG16 on the sample head (benchmarks/styles.py, judged by
    AlexNet on the held-out cameras; docs/BENCHMARKS.md): with every layer's Gram error
    relative to the style's, style three times the original weight and content on
    relu2_1, relu3_1 and relu4_1 (each relative to its own energy), `strokes` moved 41%
    closer to the style's statistics with covariance cosine x3.9 and content LPIPS 0.59,
    `painting` 32% / x2.6 / 0.58. Content on relu4_1 alone gave 36% / 29% at LPIPS
    0.63 / 0.62 (style weight 3) or 19% / 23% at 0.53 / 0.54 (weight 1): the shallow
    layers keep edges (eyes, mouth) while the texture changes. NNFM on the relu3 block
    (ARF) drew cleaner tiles but washed the colours out and moved the statistics only 4%
    / 13%. The learning rate falls along a cosine to ``final_lr_fraction`` of ``lr``: at
    a constant rate the last steps leave their noise in the texture.

    ``finest_voxels`` (default: a quarter of ``render_size``) sizes the finest offset
    grid across the head so that a voxel spans about two rendered pixels: detail finer
    than a pixel is resampled differently from each view. At 256 px, 128 voxels gave
    consistency 0.022 / 0.050, 64 gave 0.013 / 0.032 (targets 0.02 / 0.04).
    """

    steps: int = 150
    render_size: int = 256
    pool_views: int = 24
    views_per_step: int = 1
    lr: float = 0.1
    final_lr_fraction: float = 0.05
    loss: str = "gram"
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    nnfm_layers: tuple[str, ...] = ("relu3_1", "relu3_2", "relu3_3")
    content_layers: tuple[str, ...] = ("relu2_1", "relu3_1", "relu4_1")
    style_weight: float = 3.0
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
    bending_weight: float = 0.0


@dataclass(frozen=True)
class Evaluation:
    """What the independent judge and the consistency measure say of a result, with the
    unstylized head's consistency as its baseline."""

    judge: JudgeFigures
    consistency: Consistency
    unstylized: Consistency

    def summary(self) -> dict[str, object]:
        return {
            **self.judge.summary(),
            **self.consistency.summary(),
            **self.unstylized.summary("_unstylized"),
        }


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


def colour_transfer(texture: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Match the texture's per-channel mean and deviation to the style image's."""
    return transfer_colours(texture, ColourStats.of(style))


class Stylizer:
    """Stylizes one mesh with any number of style images, sharing views and features."""

    def __init__(
        self,
        mesh: TexturedMesh,
        capture: Capture,
        backbone: Backbone,
        judge: Judge,
        rasterizer,
        settings: StylizeSettings,
        device: torch.device,
    ):
        self.mesh, self.settings, self.device = mesh, settings, device
        layers = tuple(dict.fromkeys(self._style_layers() + settings.content_layers))
        self.extractor = FeatureExtractor(backbone, layers).to(device)
        self.judge = judge
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
        self.heldout = HeldoutJudge(judge, rasterizer, self.tensors, self.original, capture)
        self._unstylized: Consistency | None = None
        self._arc_frames: list[Frame] | None = None
        self._arc_views = SupersampledViews(rasterizer, self.tensors, self.arc, SUPERSAMPLE)
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
            evaluation = self.evaluate(final, style, moved_mesh) if evaluate else None
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

    @torch.no_grad()
    def consistency(self, texture: torch.Tensor, tensors: MeshTensors | None = None) -> Consistency:
        """Warp RMSE and LPIPS between views 10 degrees apart (short) and 60 apart (long)."""
        if tensors is not None:
            return arc_consistency(self.rasterizer, tensors, texture, self.arc, self.judge)
        return frames_consistency(self._arc_views.frames(texture), self.arc, self.judge)

    @torch.no_grad()
    def evaluate(
        self, texture: torch.Tensor, style: np.ndarray | None, tensors: MeshTensors | None = None
    ) -> Evaluation:
        """The judge's figures and the consistency of a texture (on ``tensors`` when the
        geometry moved), with the unstylized head's consistency (measured once)."""
        return Evaluation(
            self.heldout.evaluate(texture, style, tensors),
            self.consistency(texture, tensors),
            self.unstylized_consistency(),
        )

    def unstylized_consistency(self) -> Consistency:
        """The unstylized head's consistency: every result's baseline (measured once)."""
        if self._unstylized is None:
            self._unstylized = frames_consistency(self.arc_frames(), self.arc, self.judge)
        return self._unstylized

    @torch.no_grad()
    def arc_frames(self) -> list[Frame]:
        """The unstylized head's supersampled renders of the consistency arc (made once):
        their surface points carry any other images of those views through the warps."""
        if self._arc_frames is None:
            self._arc_frames = self._arc_views.frames(self.original)
        return self._arc_frames


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
