"""The hybrid method's texture optimization settings (stage 2), which CLIP edits by
optimization follow too."""

from __future__ import annotations

from dataclasses import dataclass


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
