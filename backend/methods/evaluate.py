"""The hybrid method's figures for methods whose results are images, not a texture.

A 2D network's or a NeRF's images of the judge's held-out cameras go to the same judge,
and their images of the consistency arc are warped through the stage-2 mesh's surface
points like the hybrid method's renders: one yardstick for every method.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from backend.stylize.consistency import frames_consistency
from backend.stylize.texture import Evaluation, Stylizer


def evaluate_images(
    stylizer: Stylizer,
    judge_images: torch.Tensor,
    arc_images: list[torch.Tensor],
    style: np.ndarray,
) -> Evaluation:
    """Judge figures of ``judge_images`` (V, H, W, 3) and the consistency of
    ``arc_images`` (one (H, W, 3) per arc camera), beside the unstylized head's."""
    device = stylizer.judge.device
    judge = stylizer.heldout.evaluate_images(judge_images.to(device), style)
    frames = [
        replace(frame, image=image.to(frame.image.device))
        for frame, image in zip(stylizer.arc_frames(), arc_images, strict=True)
    ]
    consistency = frames_consistency(frames, stylizer.arc, stylizer.judge)
    return Evaluation(judge, consistency, stylizer.unstylized_consistency())
