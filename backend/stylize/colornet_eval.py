"""How close the colour net comes to a per-style optimization, on styles it never saw.

For a held-out style, the colour net's texture (one forward pass) and stage 2's texture
(a full optimization of that style) are compared: by the independent judge on the
held-out cameras (style gain and covariance ratio of each, against the same unstylized
baseline), by image RMSE between the two renders over the evaluation views, and by the
colour net's own consistency. The style-loss figures stay for old readers; the loss is
the one stage 2 optimizes, so they favour the optimization by construction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from backend.fast.apply import StyleApplier
from backend.mesh.textured import TexturedMesh
from backend.methods.hybrid.optimizer import TextureOptimizer
from backend.views.consistency import Consistency
from backend.views.judging import JudgeFigures


@dataclass(frozen=True)
class HeldoutResult:
    name: str
    style_loss_original: float
    style_loss_colornet: float
    style_loss_optimized: float
    rmse_to_optimized: float
    consistency: Consistency
    judge_colornet: JudgeFigures
    judge_optimized: JudgeFigures
    apply_seconds: float

    @property
    def style_gap(self) -> float:
        """Relative excess style loss of the colour net over the optimization."""
        return (self.style_loss_colornet - self.style_loss_optimized) / max(
            self.style_loss_optimized, 1e-12
        )

    def reduction(self, loss: float) -> float:
        """How much of the unstylized head's style loss ``loss`` removes."""
        return 1.0 - loss / max(self.style_loss_original, 1e-12)

    def summary(self) -> dict[str, object]:
        colornet, optimized = self.judge_colornet.summary(), self.judge_optimized.summary()
        gain_gap, cov_gap = judge_gaps(colornet, optimized)
        return {
            "name": self.name,
            "judge_colornet": colornet,
            "judge_optimized": optimized,
            "judge_gain_gap_points": gain_gap,
            "judge_cov_ratio_gap": cov_gap,
            "style_gap": round(self.style_gap, 4),
            "style_loss_reduction_colornet": round(self.reduction(self.style_loss_colornet), 4),
            "style_loss_reduction_optimized": round(self.reduction(self.style_loss_optimized), 4),
            "rmse_to_optimized": round(self.rmse_to_optimized, 4),
            "style_loss_colornet": self.style_loss_colornet,
            "style_loss_optimized": self.style_loss_optimized,
            **self.consistency.summary(),
            "apply_seconds": round(self.apply_seconds, 3),
        }


def judge_gaps(colornet: dict[str, float], optimized: dict[str, float]) -> tuple[float, float]:
    """How far the colour net falls short of the optimization by the judge (two
    :meth:`JudgeFigures.summary` dicts): style gain in points, covariance ratio."""
    gain = 100 * (optimized["judge_meanstd_gain"] - colornet["judge_meanstd_gain"])
    ratio = optimized["judge_cov_cosine_ratio"] - colornet["judge_cov_cosine_ratio"]
    return round(gain, 2), round(ratio, 3)


def evaluate_heldout(
    applier: StyleApplier, stylizer: TextureOptimizer, name: str, image: np.ndarray
) -> tuple[HeldoutResult, TexturedMesh]:
    """The measurements, and the colour net's head under the style (to save or show)."""
    started = time.perf_counter()
    ours = applier.apply(image)
    apply_seconds = time.perf_counter() - started
    optimized = stylizer.stylize(name, image, evaluate=False)
    device = stylizer.device
    a = torch.tensor(ours.texture, device=device)
    b = torch.tensor(optimized.mesh.texture, device=device)
    views = stylizer.evaluation
    result = HeldoutResult(
        name,
        optimized.style_loss_before,
        stylizer.style_loss(a, stylizer.feature_term(image), views),
        optimized.style_loss_after,
        stylizer.render_rmse(a, b, views),
        stylizer.measures.consistency(a),
        stylizer.measures.heldout.evaluate(a, image),
        stylizer.measures.heldout.evaluate(b, image),
        apply_seconds,
    )
    return result, ours
