"""The convolutional networks the project uses, layer for layer as torchvision builds them.

Matching torchvision's ``features`` indices means a torchvision state dict (the VGG19
hub checkpoint) loads as it is, and weights converted from elsewhere are placed by the
same names. Each network's taps name its ReLU outputs: ``reluB_L`` for VGG (block B,
layer L), ``reluN`` for AlexNet's five convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

# Channels per convolution, "M" for 2x2 max pooling (torchvision's cfgs "D" and "E").
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M")
VGG16_LAYOUT += (512, 512, 512, "M")
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M")
VGG19_LAYOUT += (512, 512, 512, 512, "M")

# Every model here expects ImageNet-normalized RGB; LPIPS's own input scaling is the
# same normalization written for images in [-1, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Architecture:
    """A network's ``features`` and the index of each named ReLU in it."""

    name: str
    taps: dict[str, int]

    def build(self) -> nn.Sequential:
        return BUILDERS[self.name]()

    def conv_indices(self) -> list[int]:
        return [i for i, m in enumerate(self.build()) if isinstance(m, nn.Conv2d)]


def vgg_features(layout: tuple) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
            channels = int(item)
    return nn.Sequential(*layers)


def vgg_taps(layout: tuple) -> dict[str, int]:
    """``reluB_L`` -> index in ``features``, counted through the layout."""
    taps: dict[str, int] = {}
    index, block, layer = 0, 1, 1
    for item in layout:
        if item == "M":
            index, block, layer = index + 1, block + 1, 1
        else:
            taps[f"relu{block}_{layer}"] = index + 1
            index, layer = index + 2, layer + 1
    return taps


def alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
    )


BUILDERS = {
    "vgg16": lambda: vgg_features(VGG16_LAYOUT),
    "vgg19": lambda: vgg_features(VGG19_LAYOUT),
    "alexnet": alexnet_features,
}
ARCHITECTURES = {
    "vgg16": Architecture("vgg16", vgg_taps(VGG16_LAYOUT)),
    "vgg19": Architecture("vgg19", vgg_taps(VGG19_LAYOUT)),
    "alexnet": Architecture(
        "alexnet", {"relu1": 1, "relu2": 4, "relu3": 7, "relu4": 9, "relu5": 11}
    ),
}
# The layers LPIPS compares, per backbone (the LPIPS paper's choice).
LPIPS_TAPS = {
    "alexnet": ("relu1", "relu2", "relu3", "relu4", "relu5"),
    "vgg16": ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
}
