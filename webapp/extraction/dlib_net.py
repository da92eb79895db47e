"""dlib's face recognition ResNet, run by ONNX Runtime instead of dlib.

`dlib_face_recognition_resnet_model_v1.dat` (from the `face_recognition_models`
package) is dlib's own serialization of its 29-layer ResNet. dlib's CPU build
on PyPI has no BLAS and needs about 100 ms a face; the same network under ONNX
Runtime needs about 6 ms and gives the same descriptor (within float rounding:
the tests compare it with dlib's `compute_face_descriptor`).

This module reads the weights from that file (the layout of dlib's
`serialize()` for `add_loss_layer`, `add_layer`, `con_`, `affine_`, `relu_`,
`max_pool_`, `avg_pool_`, `add_prev_` and `fc_`) and builds the equivalent
ONNX graph in memory, once per process (about 0.5 s). Nothing is downloaded or
written to disk. The graph takes aligned 150x150 RGB face chips as uint8 NHWC
and returns the 128 floats of each descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

CHIP_SIZE = 150
DESCRIPTOR_SIZE = 128


class ModelFormatError(ValueError):
    """The file is not the network this module knows."""


class _Reader:
    """dlib's serialization primitives (dlib/serialize.h, dlib/cuda/tensor.h)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def integer(self) -> int:
        # A control byte (bit 7: negative; low 4 bits: byte count), then the
        # magnitude, little-endian.
        control = self.data[self.pos]
        size = control & 0x0F
        if size == 0 or size > 8:
            raise ModelFormatError(f"bad integer at byte {self.pos}")
        start = self.pos + 1
        value = int.from_bytes(self.data[start : start + size], "little")
        self.pos = start + size
        return -value if control & 0x80 else value

    def peek_integer(self) -> int:
        pos = self.pos
        try:
            return self.integer()
        finally:
            self.pos = pos

    def real(self) -> float:
        # float_details: a mantissa then a binary exponent, both integers.
        mantissa, exponent = self.integer(), self.integer()
        if exponent >= 32000:  # inf, -inf, nan
            raise ModelFormatError(f"non-finite number at byte {self.pos}")
        return float(mantissa) * 2.0**exponent

    def boolean(self) -> bool:
        value = self.data[self.pos : self.pos + 1]
        if value not in (b"0", b"1"):
            raise ModelFormatError(f"bad boolean at byte {self.pos}")
        self.pos += 1
        return value == b"1"

    def string(self) -> str:
        size = self.integer()
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value.decode("ascii", "replace")

    def tensor(self) -> np.ndarray:
        # Version 2: four dimensions, then raw float32 little-endian.
        if self.integer() != 2:
            raise ModelFormatError(f"unknown tensor version at byte {self.pos}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if self.pos + 4 * count > len(self.data):
            raise ModelFormatError("truncated tensor")
        values = np.frombuffer(self.data, "<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple[int, ...]:
        if self.integer() != 1:
            raise ModelFormatError(f"unknown alias_tensor version at byte {self.pos}")
        return tuple(self.integer() for _ in range(4))


@dataclass
class Layer:
    kind: str
    """con, affine, relu, max_pool, avg_pool, add_prev, fc, or tag (tag or skip
    layers: they carry no data)."""
    params: dict[str, Any] = field(default_factory=dict)


def _layer_details(reader: _Reader) -> Layer:
    name = reader.string()
    p: dict[str, Any] = {}
    if name in ("con_4", "con_5", "con_6"):
        p["params"] = reader.tensor()
        p["num_filters"] = reader.integer()
        p["nr"], p["nc"] = reader.integer(), reader.integer()
        p["stride"] = (reader.integer(), reader.integer())
        p["padding"] = (reader.integer(), reader.integer())
        p["filters"] = reader.alias_tensor()
        reader.alias_tensor()  # biases
        for _ in range(4):  # learning-rate and weight-decay multipliers
            reader.real()
        if name in ("con_5", "con_6") and not reader.boolean():
            raise ModelFormatError("convolutions without bias are not supported")
        if name == "con_6" and reader.boolean():
            raise ModelFormatError("fused convolution+relu is not supported")
        return Layer("con", p)
    if name in ("affine_", "affine_2"):
        p["params"] = reader.tensor()
        p["gamma"] = reader.alias_tensor()
        reader.alias_tensor()  # beta
        if reader.integer() != 0:  # CONV_MODE: one gamma and beta per channel
            raise ModelFormatError("only per-channel affine layers are supported")
        if name == "affine_2" and reader.boolean():
            raise ModelFormatError("disabled affine layers are not supported")
        return Layer("affine", p)
    if name in ("relu_", "relu_2"):
        if name == "relu_2" and reader.boolean():
            raise ModelFormatError("disabled relu layers are not supported")
        return Layer("relu")
    if name in ("max_pool_2", "avg_pool_2"):
        p["nr"], p["nc"] = reader.integer(), reader.integer()
        p["stride"] = (reader.integer(), reader.integer())
        p["padding"] = (reader.integer(), reader.integer())
        return Layer(name[:-2], p)
    if name == "add_prev_":
        return Layer("add_prev")
    if name in ("fc_2", "fc_3"):
        p["num_outputs"], p["num_inputs"] = reader.integer(), reader.integer()
        p["params"] = reader.tensor()
        reader.alias_tensor()  # weights
        reader.alias_tensor()  # biases
        if reader.integer() != 1:  # FC_NO_BIAS
            raise ModelFormatError("only fc_no_bias layers are supported")
        for _ in range(4):
            reader.real()
        if name == "fc_3":
            reader.boolean()
        return Layer("fc", p)
    raise ModelFormatError(f"unsupported layer {name!r}")


def read_network(data: bytes) -> tuple[tuple[float, float, float], list[Layer]]:
    """The input means and the layers, input first, of a serialized dlib network."""
    try:
        return _read_network(data)
    except ModelFormatError:
        raise
    except (IndexError, ValueError) as error:  # ran off the end, odd values
        raise ModelFormatError(f"not a dlib network file ({error})") from None


def _read_network(data: bytes) -> tuple[tuple[float, float, float], list[Layer]]:
    reader = _Reader(data)
    if reader.integer() != 1 or not reader.string().startswith("loss_metric"):
        raise ModelFormatError("not a dlib metric-learning network")
    reader.real(), reader.real()  # margin, distance threshold
    # add_layer serializes its subnetwork before itself: first the versions of
    # every layer from the top down (2 for an add_layer, 1 for tag and skip
    # layers), then the input layer, then each add_layer's own data from the
    # bottom up.
    versions = []
    while reader.peek_integer() in (1, 2, 3):
        versions.append(reader.integer())
    if not versions or reader.string() not in ("input_rgb_image", "input_rgb_image_sized"):
        raise ModelFormatError("expected an RGB input layer")
    means = (reader.real(), reader.real(), reader.real())
    if (reader.integer(), reader.integer()) != (CHIP_SIZE, CHIP_SIZE):
        raise ModelFormatError(f"expected a {CHIP_SIZE}x{CHIP_SIZE} input")
    layers = []
    for position, version in enumerate(reversed(versions)):
        if position > 0 and version == 1:
            layers.append(Layer("tag"))
            continue
        layers.append(_layer_details(reader))
        for _ in range(3):  # setup done, gradient stale, gradient disabled
            reader.boolean()
        for _ in range(3):  # x_grad, cached output, gradient
            reader.tensor()
        if position == 0 and version == 3:
            reader.integer()  # sample expansion factor
    if reader.pos != len(data):
        raise ModelFormatError("trailing data after the network")
    return means, layers


def _expected_kinds() -> list[str]:
    """dlib's `anet_type` from dnn_face_recognition_ex.cpp, input first."""
    ares = ["tag", "con", "affine", "relu", "con", "affine", "add_prev", "relu"]
    ares_down = ["tag", "con", "affine", "relu", "con", "affine", "tag", "tag"]
    ares_down += ["avg_pool", "add_prev", "relu"]
    kinds = ["con", "affine", "relu", "max_pool"] + ares * 3
    kinds += ares_down + ares * 3 + ares_down + ares * 2 + ares_down + ares * 2 + ares_down
    return [*kinds, "avg_pool", "fc"]


def build_onnx(means: tuple[float, float, float], layers: list[Layer]) -> bytes:
    """The ONNX model (bytes) of the network: uint8 [N,150,150,3] RGB chips in,
    float32 [N,128] descriptors out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if [layer.kind for layer in layers] != _expected_kinds():
        raise ModelFormatError("the layers are not those of dlib's face recognition ResNet")
    nodes: list[Any] = []
    initializers: list[Any] = []

    def constant(value: np.ndarray) -> str:
        name = f"c{len(initializers)}"
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], **attributes: Any) -> str:
        output = f"{op.lower()}{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def out_size(size: int, p: dict[str, Any]) -> int:
        return 1 + (size + 2 * p["padding"][0] - p["nr"]) // p["stride"][0]

    def window(p: dict[str, Any]) -> dict[str, Any]:
        pads = [p["padding"][0], p["padding"][1]] * 2
        return {"kernel_shape": [p["nr"], p["nc"]], "strides": list(p["stride"]), "pads": pads}

    # dlib's input layer: (pixel - channel mean) / 256, planar RGB.
    x = node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = node("Transpose", [x], perm=[0, 3, 1, 2])
    x = node("Sub", [x, constant(np.array(means, np.float32).reshape(1, 3, 1, 1))])
    x = node("Mul", [x, constant(np.array(1 / 256, np.float32))])
    channels, size = 3, CHIP_SIZE
    tags: list[tuple[str, int, int]] = []  # (tensor, channels, size) of tag layers
    index = 0
    while index < len(layers):
        layer, p = layers[index], layers[index].params
        if layer.kind == "con":
            count = int(np.prod(p["filters"]))
            flat = p["params"].reshape(-1)
            weights = flat[:count].reshape(p["filters"])
            bias = flat[count : count + p["num_filters"]]
            # Every convolution here is followed by an affine layer: fold it in.
            affine = layers[index + 1].params["params"].reshape(-1)
            gamma, beta = affine[: p["num_filters"]], affine[p["num_filters"] :]
            weights = weights * gamma[:, None, None, None]
            bias = bias * gamma + beta
            x = node("Conv", [x, constant(weights), constant(bias)], **window(p))
            channels, size = p["num_filters"], out_size(size, p)
            index += 1
        elif layer.kind == "relu":
            x = node("Relu", [x])
        elif layer.kind == "max_pool":
            x = node("MaxPool", [x], **window(p))
            size = out_size(size, p)
        elif layer.kind == "avg_pool" and p["nr"] == 0:  # avg_pool_everything
            x = node("Flatten", [node("GlobalAveragePool", [x])])
            size = 1
        elif layer.kind == "avg_pool":
            x = node("AveragePool", [x], **window(p))
            size = out_size(size, p)
        elif layer.kind == "tag" and layers[index + 1].kind == "tag":
            # tag2 (the block's output) then skip1 (back to the block's input).
            block_input = tags.pop()
            tags.append((x, channels, size))
            x, channels, size = block_input
            index += 1
        elif layer.kind == "tag":
            tags.append((x, channels, size))
        elif layer.kind == "add_prev":
            # dlib adds tensors of different shapes by padding the smaller one
            # with zeros after its last channel, row and column.
            other, other_channels, other_size = tags.pop()
            out_channels, out_size_ = max(channels, other_channels), max(size, other_size)

            def padded(t: str, c: int, s: int, oc: int = out_channels, os: int = out_size_) -> str:
                if (c, s) == (oc, os):
                    return t
                pads = np.array([0, 0, 0, 0, 0, oc - c, os - s, os - s], np.int64)
                return node("Pad", [t, constant(pads)])

            x = node("Add", [padded(x, channels, size), padded(other, other_channels, other_size)])
            channels, size = out_channels, out_size_
        elif layer.kind == "fc":
            inputs, outputs = p["num_inputs"], p["num_outputs"]
            weights = p["params"].reshape(-1)[: inputs * outputs].reshape(inputs, outputs)
            x = node("MatMul", [x, constant(weights)])
        index += 1
    nodes[-1].output[0] = "descriptors"
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", DESCRIPTOR_SIZE])],
        initializers,
    )
    # IR 7 / opset 13: old enough for any onnxruntime of the last years.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
