"""CLIP-driven edits of a head (after CLIP-NeRF): the texture, and with vertex offsets
the shape, optimized so that its renders move towards a prompt or an exemplar image in
CLIP's space.

It is the hybrid method's optimization (../hybrid/optimizer.py) with a CLIP term in
place of the VGG style term; the content and TV terms stay, so the face stays a face. A
shape edit moves vertices along their normals under the Laplacian and normal-consistency
penalties, so the head stays one clean manifold mesh within ``offset_limit`` of where it
was.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from backend.mesh.textured import TexturedMesh
from backend.methods.base import Progress
from backend.methods.hybrid.optimizer import StyleResult, TextureOptimizer
from backend.methods.hybrid.settings import StylizeSettings
from backend.methods.hybrid.terms import ClipTerm
from backend.pretrained.clip import Clip
from backend.pretrained.networks import Provenance
from backend.style.clip_loss import (
    ClipLoss,
    ClipLossSettings,
    ClipTarget,
    exemplar_target,
    prompt_target,
)
from backend.style.colour import colour_transfer

# How strongly a shape edit resists bending neighbouring faces beyond the head's own
# curvature (relative units; see VertexOffsets.bending).
SHAPE_BENDING_WEIGHT = 1.0


@dataclass(frozen=True)
class ClipEdit:
    """One edit: its file-safe ``name``, the CLIP it is scored by, and a prompt or an
    exemplar image (H, W, 3)."""

    name: str
    clip: Clip
    prompt: str | None = None
    exemplar: np.ndarray | None = None
    loss: ClipLossSettings = field(default_factory=ClipLossSettings)

    def target(self, unedited: list[torch.Tensor]) -> ClipTarget:
        """The prompt's target, or the exemplar's starting from the mean embedding of the
        ``unedited`` renders (H, W, 3)."""
        if self.prompt is not None:
            return prompt_target(self.clip, self.prompt)
        source = torch.stack([self.clip.encode_image(r) for r in unedited]).mean(0)
        return exemplar_target(self.clip, self.name, self.exemplar, source)


def edit_name(prompt: str | None, exemplar: str | None) -> str:
    """A file-safe name for an edit: from the exemplar's name or the prompt's words."""
    if exemplar is not None:
        return f"exemplar_{exemplar}"
    words = re.sub(r"[^A-Za-z0-9_-]+", "_", str(prompt)).strip("_")[:40]
    return f"prompt_{words or 'text'}"


@dataclass(frozen=True)
class ClipEditResult:
    """The edited head and how CLIP saw it before and after (the evaluation views,
    whole renders): ``figures`` from :meth:`ClipScore.summary`."""

    result: StyleResult
    figures: dict[str, object]
    clip: Provenance
    settings: StylizeSettings

    judge_images = None
    turntable = None

    @property
    def mesh(self) -> TexturedMesh:
        return self.result.mesh

    @property
    def extras(self) -> dict[str, object]:
        """The GLB's own extras: the CLIP target, the settings it was optimized with, and
        the CLIP among the weights."""
        return {
            "clip": self.figures["clip"],
            "settings": asdict(self.settings),
            "weights": {"clip": self.clip.to_dict()},
        }

    def summary(self) -> dict[str, object]:
        return {**self.result.summary(), "method": "clip", **self.figures}


class ClipScore:
    """An edit's target, loss and the unedited renders of the stylizer's views: the term
    an optimization follows, and the figures any result of the edit is measured by."""

    def __init__(self, stylizer: TextureOptimizer, edit: ClipEdit):
        self.stylizer = stylizer
        originals = [stylizer.render_view(stylizer.original, i) for i in range(len(stylizer.views))]
        with torch.no_grad():
            self.target = edit.target(originals)
        self.loss = ClipLoss(edit.clip, self.target, edit.loss, stylizer.settings.seed)
        self.term = ClipTerm(self.loss, originals)

    @torch.no_grad()
    def figures(
        self, texture: torch.Tensor, vertices: torch.Tensor | None = None
    ) -> tuple[float, float]:
        """Mean CLIP loss (no augmentation) and similarity to the target of a texture (on
        ``vertices`` where the shape moved) over the evaluation views."""
        losses, similarities = [], []
        for view in self.stylizer.evaluation:
            image = self.stylizer.render_view(texture, view, vertices)
            losses.append(float(self.loss(image, self.term.originals[view], augment=False)))
            similarities.append(self.loss.similarity(image))
        return float(np.mean(losses)), float(np.mean(similarities))

    def summary(self, texture: torch.Tensor, vertices: torch.Tensor | None = None) -> dict:
        """The CLIP figures of the unedited head and of a result, for the report."""
        before = self.figures(self.stylizer.original)
        after = self.figures(texture, vertices)
        return {
            "clip": self.target.summary(),
            "clip_loss_before": round(before[0], 5),
            "clip_loss_after": round(after[0], 5),
            "clip_similarity_before": round(before[1], 4),
            "clip_similarity_after": round(after[1], 4),
        }


def clip_edit(
    stylizer: TextureOptimizer,
    edit: ClipEdit,
    progress: Progress | None = None,
    evaluate: bool = True,
) -> ClipEditResult:
    """Optimize the head towards the edit's target; the judge compares an exemplar's
    edit with the exemplar, a prompt's on content and consistency only."""
    score = ClipScore(stylizer, edit)
    base = stylizer.mesh.texture
    if edit.exemplar is not None and stylizer.settings.colour_transfer:
        base = colour_transfer(base, edit.exemplar)
    result = stylizer.optimize(edit.name, score.term, base, edit.exemplar, progress, evaluate)
    texture = torch.tensor(result.mesh.texture, device=stylizer.device)
    vertices = torch.tensor(result.mesh.vertices, device=stylizer.device)
    figures = score.summary(texture, vertices)
    return ClipEditResult(result, figures, edit.clip.provenance, stylizer.settings)
