"""Magenta's arbitrary style transfer networks in torch: a 2D stylization network with
pretrained weights that can be differentiated through and fine-tuned.

The published graphs (magenta_onnx.py) are int8; these ports read their weights
dequantized and compute in float32, leaving out the activations' quantization, so they
match onnxruntime to within that quantization (measured in tests/test_stylizer2d.py),
not bit for bit. Images are (N, 3, H, W) RGB in [0, 1].

- :class:`StyleTransformer` (Magenta's ``transformer``): content image and 100-d style
  vector to the stylized image. Three convolutions contract (9x9, then two 3x3 of stride
  2, each with bias and ReLU, any normalization folded into the bias), five residual
  blocks and three expanding convolutions (nearest 2x upsampling, 3x3, 3x3, then 9x9 to
  RGB and a sigmoid). Every padding is a reflection. Every convolution after the
  contracting ones is followed by a conditional instance norm whose scale and shift
  are linear maps of the style vector (the graph's ``style_params/.../StyleNorm``
  1x1 convolutions, ``Conv_1`` the scale, ``Conv`` the shift). Any size divisible by 4.
- :class:`StylePredictor` (Magenta's ``MobilenetV2`` and ``mobilenet_conv``): a style
  image to its style vector: MobileNetV2 (width 1.0, TensorFlow's SAME padding, batch
  norm folded), global average pooling, a linear map from 1280 features to 100. The
  graph was made for 256x256; the port takes any size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from backend.errors import WeightsError
from backend.pretrained.magenta_onnx import ConvWeights, conv_weights
from backend.pretrained.magenta_wheel import PREDICTOR, TRANSFORMER, model_path, provenance
from backend.pretrained.networks import Provenance

STYLE_DIM = 100
# The graph's variance epsilon (an int8 constant: 127 * 7.874e-8).
EPS = 1e-5
RESIDUAL_BLOCKS = 5
# MobileNetV2's inverted residual stages: (expansion, output channels, blocks, stride).
MOBILENET_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose per-channel scale and shift come from the style vector."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Linear(STYLE_DIM, channels)
        self.shift = nn.Linear(STYLE_DIM, channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        scale = self.scale(style)[:, :, None, None]
        return (x - mean) * torch.rsqrt(var + EPS) * scale + self.shift(style)[:, :, None, None]


class StyledConv(nn.Module):
    """Reflection-padded convolution (no bias: the norm removes it) and a conditional
    instance norm."""

    def __init__(self, cin: int, cout: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(
            cin, cout, kernel, padding=kernel // 2, padding_mode="reflect", bias=False
        )
        self.norm = ConditionalInstanceNorm(cout)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x), style)


class ResidualBlock(nn.Module):
    """Two styled convolutions, ReLU between them, none after the sum."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = StyledConv(channels, channels, 3)
        self.conv2 = StyledConv(channels, channels, 3)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x, style)), style)


def _contract_conv(cin: int, cout: int, kernel: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, padding_mode="reflect")


class StyleTransformer(nn.Module):
    """Content (N, 3, H, W) in [0, 1] and style vectors (N, 100) to stylized images
    (N, 3, H, W) in [0, 1]; H and W divisible by 4. Layer names follow the graph's
    (``contract.conv1`` is ``transformer/contract/conv1``)."""

    provenance: Provenance | None = None

    def __init__(self):
        super().__init__()
        self.contract = nn.ModuleDict(
            {
                "conv1": _contract_conv(3, 8, 9, 1),
                "conv2": _contract_conv(8, 16, 3, 2),
                "conv3": _contract_conv(16, 32, 3, 2),
            }
        )
        self.residual = nn.ModuleDict(
            {f"residual{i}": ResidualBlock(32) for i in range(1, RESIDUAL_BLOCKS + 1)}
        )
        self.expand = nn.ModuleDict(
            {
                "conv1": StyledConv(32, 16, 3),
                "conv2": StyledConv(16, 8, 3),
                "conv3": StyledConv(8, 3, 9),
            }
        )

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        height, width = content.shape[-2:]
        if height % 4 or width % 4:
            raise ValueError(
                f"the style transformer needs sides divisible by 4, got {height}x{width}"
            )
        x = content
        for conv in self.contract.values():
            x = F.relu(conv(x))
        for block in self.residual.values():
            x = block(x, style)
        for name in ("conv1", "conv2"):
            x = F.relu(self.expand[name](F.interpolate(x, scale_factor=2.0, mode="nearest"), style))
        return torch.sigmoid(self.expand["conv3"](x, style))


def _transformer_sources() -> dict[str, str]:
    """Each torch layer's ONNX Conv (by its weight name less ``/weights``)."""
    sources = {f"contract.conv{i}": f"transformer/contract/conv{i}" for i in (1, 2, 3)}
    styled = {
        f"residual.residual{b}.conv{c}": f"transformer/residual/residual{b}/conv{c}"
        for b in range(1, RESIDUAL_BLOCKS + 1)
        for c in (1, 2)
    }
    styled |= {f"expand.conv{i}": f"transformer/expand/conv{i}/conv" for i in (1, 2, 3)}
    for layer, onnx in styled.items():
        sources[f"{layer}.conv"] = onnx
        sources[f"{layer}.norm.scale"] = f"style_params/{onnx}/StyleNorm/Conv_1"
        sources[f"{layer}.norm.shift"] = f"style_params/{onnx}/StyleNorm/Conv"
    return sources


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion, 3x3 depthwise (ReLU6 after both), linear 1x1
    projection, and a skip connection where the shape allows."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = nn.Conv2d(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, cout, 1)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.expand(x)) if self.expand is not None else x
        h = self.project(F.relu6(self.depthwise(_same_pad(h, 3, self.depthwise.stride[0]))))
        return x + h if self.skip else h


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's SAME zero padding: the extra pixel of an odd total goes after."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class StylePredictor(nn.Module):
    """Style images (N, 3, H, W) in [0, 1] to style vectors (N, 100)."""

    provenance: Provenance | None = None

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, 2)
        blocks, cin = [], 32
        for expansion, cout, count, stride in MOBILENET_STAGES:
            for index in range(count):
                blocks.append(InvertedResidual(cin, cout, expansion, stride if index == 0 else 1))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(cin, 1280, 1)
        self.bottleneck = nn.Linear(1280, STYLE_DIM)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.stem(_same_pad(images, 3, 2)))
        for block in self.blocks:
            x = block(x)
        return self.bottleneck(F.relu6(self.head(x)).mean(dim=(2, 3)))


def _predictor_sources(model: StylePredictor) -> dict[str, str]:
    """Each torch layer's ONNX Conv (by its weight name less ``/weights``)."""
    sources = {"stem": "MobilenetV2/Conv", "head": "MobilenetV2/Conv_1"}
    sources["bottleneck"] = "mobilenet_conv/Conv"
    for index, block in enumerate(model.blocks):
        onnx = "MobilenetV2/expanded_conv" + (f"_{index}" if index else "")
        for part in ("expand", "depthwise", "project"):
            if getattr(block, part) is not None:
                sources[f"blocks.{index}.{part}"] = f"{onnx}/{part}"
    return sources


def load_style_transformer(download: bool = True) -> StyleTransformer:
    """The transformer with the published weights (fetched into the cache if allowed)."""
    model = StyleTransformer()
    _load(model, _transformer_sources(), conv_weights(model_path(TRANSFORMER, download)))
    model.provenance = provenance(TRANSFORMER)
    return model


def load_style_predictor(download: bool = True) -> StylePredictor:
    """The style predictor with the published weights (fetched into the cache if allowed)."""
    model = StylePredictor()
    _load(model, _predictor_sources(model), conv_weights(model_path(PREDICTOR, download)))
    model.provenance = provenance(PREDICTOR)
    return model


def _load(model: nn.Module, sources: dict[str, str], convs: ConvWeights) -> None:
    """Copy each ONNX Conv into its torch layer; a bias-free layer needs a zero bias in
    the graph, and every parameter must be covered (strict)."""
    state: dict[str, torch.Tensor] = {}
    shapes = {name: p.shape for name, p in model.named_parameters()}
    for layer, onnx in sources.items():
        if onnx not in convs:
            raise WeightsError(f"Magenta's graph has no Conv {onnx!r} for {layer}")
        weight, bias = (torch.from_numpy(a) for a in convs[onnx])
        state[f"{layer}.weight"] = weight.reshape(shapes[f"{layer}.weight"])
        if f"{layer}.bias" in shapes:
            state[f"{layer}.bias"] = bias
        elif bias.abs().max() > 0:
            raise WeightsError(f"Magenta's Conv {onnx!r} has a bias where none was expected")
    model.load_state_dict(state, strict=True)
