"""StylizedNeRF's mutual learning on the tiny capture: each phase does what it is for, the
latent codes keep their styles apart (its result through the style stage: test_methods.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from backend.methods.hybrid.settings import StylizeSettings
from backend.methods.mutual.learner import MutualConfig, MutualLearner
from backend.style.builtin import BUILTIN_STYLES
from backend.style.stylizer2d import Stylizer2D, stylize_images
from backend.views.consistency import frames_consistency
from tests.head_helpers import method_context, patterned_head

pytest.importorskip("onnx", reason="reads the 2D stylizer's graphs: pip install -e '.[dev]'")

CPU = torch.device("cpu")
SMALL = MutualConfig(rounds=2, mimic_steps=40, consistency_steps=6, batch_rays=1024)


@pytest.fixture(scope="module")
def network() -> Stylizer2D:
    return Stylizer2D.load(CPU)


@pytest.fixture(scope="module")
def learner(trained_tiny, network) -> MutualLearner:
    """Two styles on the tiny capture's field, not yet trained."""
    capture, model = trained_tiny
    styles = [BUILTIN_STYLES["strokes"](128), BUILTIN_STYLES["mosaic"](128)]
    return MutualLearner(model, capture, network, styles, SMALL)


def _mimic_distance(learner: MutualLearner, views=(0, 5, 10)) -> float:
    """Mean squared distance between the NeRF's renders (each view's own code) and the
    stylizer's images of those views, over the subject's pixels."""
    gaps = []
    for s in range(learner.styles):
        for j in views:
            render = learner.render_view(s, j, learner.codes.codes[s, j].detach())
            mask = learner.masks[j][..., None]
            gaps.append(float((((render - learner.targets[s, j]) * mask) ** 2).mean()))
    return float(np.mean(gaps))


def test_the_mimic_loss_brings_the_nerf_to_the_stylizers_images(learner):
    before = _mimic_distance(learner)
    for _ in range(60):
        learner.mimic_step()
    after = _mimic_distance(learner)
    assert after < 0.7 * before, (before, after)


def test_the_consistency_loss_lowers_the_stylizers_disagreement_across_views(learner, trained_tiny):
    """Measured on views the stylizer never trained on: the consistency arc's renders of
    the head, warped into each other through the surface."""
    capture, _ = trained_tiny
    mesh = patterned_head(capture, 128, frequency=8.0, mean=0.6)
    measures = method_context(mesh, capture, StylizeSettings(render_size=64)).measures
    arc = measures.arc_frames()
    images = torch.stack([f.image for f in arc])
    masks = torch.stack([f.coverage for f in arc])

    def disagreement() -> float:
        with torch.no_grad():
            styled = stylize_images(learner.transformer, images, learner.vectors[:1], masks)
        frames = [replace(f, image=i) for f, i in zip(arc, styled, strict=True)]
        return frames_consistency(frames, measures.arc, measures.judge).short_rmse

    before = disagreement()
    for step in range(12):
        learner.consistency_step(0, step % len(learner.photos))
    assert disagreement() < 0.9 * before


def test_latent_codes_cluster_by_style_and_the_styles_separate(learner):
    learner.learn()
    codes = learner.codes.codes.detach()
    means = torch.stack([learner.codes.mean_code(s).detach() for s in range(2)])
    # Every view's code lies nearer its own style's mean code than the other style's.
    distances = torch.cdist(codes.flatten(0, 1), means).view(2, -1, 2)
    assert bool((distances[0, :, 0] < distances[0, :, 1]).all())
    assert bool((distances[1, :, 1] < distances[1, :, 0]).all())
    centres = codes.mean(dim=1)
    spread = float(torch.cat([(codes[s] - centres[s]).norm(dim=1) for s in range(2)]).mean())
    between = float((centres[0] - centres[1]).norm())
    # Measured: the styles' centres 2.34 apart, a code 0.48 from its centre on average.
    assert between > 2.0 * spread
