"""Magenta's arbitrary style transfer networks as published (int8 ONNX): their weights,
dequantized, for the torch port (magenta.py), and onnxruntime running the graphs as its
reference.

Both graphs come from int8 TFLite through tf2onnx: every Conv reads its weight (int8,
per output channel) and bias (int32) through a DequantizeLinear, and every activation
passes through a QuantizeLinear/DequantizeLinear pair. :func:`conv_weights` reads the
Conv weights as ``scale * (q - zero_point)`` in float32. The reference runs either the
published int8 graph or the same graph with the activations' pairs made identities
(float compute): the port matches the latter to float rounding, the former only to
within its quantization (the numbers are in tests/test_stylizer2d.py).

onnx and onnxruntime are optional (the ``stylizer2d`` extra) and imported only here,
only when a graph is read or run.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch

from backend.errors import BackendError, WeightsError
from backend.pretrained.magenta_wheel import PREDICTOR, TRANSFORMER, model_path

if TYPE_CHECKING:
    from onnx import NodeProto

ConvWeights = dict[str, tuple[np.ndarray, np.ndarray]]
WEIGHT_SUFFIXES = ("/depthwise_weights", "/weights")


def optional_module(name: str) -> ModuleType:
    """Import ``onnx`` or ``onnxruntime``, or say in one line how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendError(
            f"{name} is needed for Magenta's style networks: pip install -e '.[stylizer2d]'"
        ) from exc


def conv_weights(path: Path) -> ConvWeights:
    """Every Conv's dequantized (weight, bias), keyed by its weight's name less the
    ``/weights`` suffix (``transformer/contract/conv1``, ``MobilenetV2/Conv``, ...)."""
    onnx = optional_module("onnx")
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # protobuf raises its own DecodeError
        raise WeightsError(f"{path}: cannot read the ONNX graph ({exc})") from exc
    arrays = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in graph.initializer}
    dequantized = {
        node.output[0]: (node.input[0], _dequantize(node, arrays, onnx))
        for node in graph.node
        if node.op_type == "DequantizeLinear" and node.input[0] in arrays
    }
    convs: ConvWeights = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        if node.input[1] not in dequantized or node.input[2] not in dequantized:
            raise WeightsError(f"{path}: Conv {node.name} does not read dequantized weights")
        name, weight = dequantized[node.input[1]]
        convs[_strip_suffix(name)] = (weight, dequantized[node.input[2]][1])
    return convs


def _dequantize(node: NodeProto, arrays: dict[str, np.ndarray], onnx: ModuleType) -> np.ndarray:
    """``scale * (q - zero_point)`` as DequantizeLinear computes it, per channel along
    the node's axis where the scale is a vector."""
    q, scale = arrays[node.input[0]], arrays[node.input[1]]
    zero = arrays[node.input[2]] if len(node.input) > 2 else np.zeros_like(scale, np.int32)
    axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 1)
    if scale.ndim == 1 and q.ndim > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (q.astype(np.int32) - zero.astype(np.int32)).astype(np.float32) * scale


def _strip_suffix(name: str) -> str:
    for suffix in WEIGHT_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    raise WeightsError(f"unexpected Conv weight name {name!r} in Magenta's graph")


def session_graph(path: Path, int8: bool = True) -> bytes:
    """The serialized graph for onnxruntime, its image sides left free (the published
    256 and 384 are declared sizes: every op is size-agnostic), and with ``int8=False``
    every QuantizeLinear/DequantizeLinear of an activation made an Identity (those of
    weights and constants stay), so that it computes in float as the torch port does."""
    onnx = optional_module("onnx")
    model = onnx.load(str(path))
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value == 3:
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    if not int8:
        constants = {tensor.name for tensor in model.graph.initializer}
        for node in model.graph.node:
            quantizes = node.op_type in ("QuantizeLinear", "DequantizeLinear")
            if quantizes and node.input[0] not in constants:
                source = node.input[0]
                node.op_type = "Identity"
                del node.input[:], node.attribute[:]
                node.input.append(source)
    return model.SerializeToString()


class OnnxStylizer:
    """The two published graphs under onnxruntime (CPU): the reference. Images are
    (N, 3, H, W) RGB in [0, 1] as everywhere in the backend; the graphs take one NHWC
    image at a time (the style predictor was made for 256x256, the transformer for
    384x384 and needs sides divisible by 4)."""

    def __init__(self, download: bool = True, threads: int | None = None, int8: bool = True):
        """``int8=False`` runs the graphs with their activations' quantization taken out:
        the torch port's computation, to float rounding."""
        ort = optional_module("onnxruntime")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self._sessions = {
            name: ort.InferenceSession(
                session_graph(model_path(name, download), int8),
                options,
                providers=["CPUExecutionProvider"],
            )
            for name in (PREDICTOR, TRANSFORMER)
        }

    def predict_style(self, style_images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) style images to (N, 100) style vectors."""
        return torch.cat([self._run(PREDICTOR, image).reshape(1, -1) for image in style_images])

    def transform(self, content: torch.Tensor, style_vectors: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) content images and (N, 100) style vectors to the stylized images."""
        outputs = [
            self._run(TRANSFORMER, image, vector.reshape(1, 1, 1, -1))
            for image, vector in zip(content, style_vectors, strict=True)
        ]
        return torch.cat(outputs).permute(0, 3, 1, 2)

    def _run(self, name: str, image: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        """One NHWC image (and the style vector) through a graph."""
        session = self._sessions[name]
        tensors = (image.permute(1, 2, 0)[None], *extra)
        feed = {
            spec.name: tensor.detach().cpu().float().contiguous().numpy()
            for spec, tensor in zip(session.get_inputs(), tensors, strict=True)
        }
        return torch.from_numpy(session.run(None, feed)[0])
