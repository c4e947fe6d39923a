"""The cmsis-nn flavour's arithmetic inside the PyTorch network: a fake-quantized network that computes what
the CMSIS-NN kernels compute.

The fake-quantized network rounds only where a layer reads its input (PACT) and adds, averages and
requantizes in float. The cmsis-nn flavour stores every tensor in int8: a residual add reads two rounded
branches (arm_elementwise_add_s8), an average pool averages rounded values and rounds half away from zero
(arm_avgpool_s8), and every requantization rounds twice (arm_nn_requantize: a doubling high multiply, then
a rounding shift). Each of these moves a value by up to one step, and a network whose logits differ by a
few output steps (a random-init MobileNetV2: 70% argmax agreement) shows it.

`cmsis_network(model, example_input)` returns `model` with every layer, add and average pool replaced by
its kernel's arithmetic on the integers the export stores: the grids, multipliers and shifts of the
cmsis-nn plan that `export(model, example_input, flavour="cmsis-nn")` writes, the layer's own integer
weights and whole-unit bias (deploy.integer, in the model's channel order). The forward value is the
kernels' (bit for bit the export's, up to float32 rounding of the inputs), the gradient the float
network's (straight-through), so it can be evaluated as the deployed network or fine-tuned. It shares
its parameters with `model`. Grids and requantization parameters are fixed when it is built: after
changing the weights, build it again.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from deploy.api import to_integer
from deploy.calibrate import node_ranges
from deploy.cmsis_arith import avg_divide, quantize_multipliers, requantize
from deploy.cmsis_interpreter import elementwise_add
from deploy.cmsis_plan import build_cmsis
from deploy.graph import _to_graph_module
from deploy.integer import IntLayer
from supernet.fixed import FixedLayer
from supernet.graph import UnsupportedModelError
from targets.registry import get_target

EMULATED = ("input", "layer", "add", "avgpool", "maxpool", "relu", "clamp", "flatten", "output")


def _stored(x: Tensor, t: dict[str, Any]) -> np.ndarray:
    """The int8 values a float tensor on grid `t` (a manifest tensor entry) is stored as; in float32 like
    cmsis_interpreter.quantize_input (exact for a tensor already on the grid, and the network input rounds
    as bg_infer's caller is told to round it)."""
    v = torch.round(x.detach().float() / np.float32(t["scale"])) + t["zero_point"]
    return v.clamp(t["lo"], t["hi"]).cpu().numpy().astype(np.int64)


def _real(v: np.ndarray, t: dict[str, Any], like: Tensor) -> Tensor:
    return torch.from_numpy((v - t["zero_point"]) * t["scale"]).to(dtype=like.dtype, device=like.device)


def _ste(value: Tensor, exact: Tensor) -> Tensor:
    """`exact` forward, the gradient of `value`."""
    return value + (exact - value).detach()


class ExactLayer(nn.Module):
    """A FixedLayer whose output is arm_convolve / arm_depthwise_conv's: integer accumulation of the layer's
    integer weights over its integer input, the whole-unit bias, arm_nn_requantize per channel, the output
    grid's zero point and activation range. `convert`: the requant op the export puts before the layer when
    its input is stored on another grid."""

    def __init__(
        self,
        layer: FixedLayer,
        int_layer: IntLayer,
        op: dict[str, Any],
        tensors: list[dict[str, Any]],
        convert: dict[str, Any] | None,
    ) -> None:
        super().__init__()
        self.layer = layer
        w = int_layer.weight.astype(np.int64)
        # float32 sums integers exactly below 2^24: the worst accumulator says whether it may be used
        worst = int(np.abs(w.reshape(len(w), -1)).sum(1).max(initial=0)) * 255
        dtype = torch.float32 if worst < 2**24 else torch.float64
        self.weight = torch.from_numpy(w).to(dtype).reshape(layer.weight.shape)
        self.bias = int_layer.bias.astype(np.int64)
        self.out = tensors[op["output"]]
        self.mult, self.shift = quantize_multipliers(int_layer.sum_scale / self.out["scale"])
        self.input = tensors[op["inputs"][0]]
        self.convert = convert
        self.source = tensors[convert["inputs"][0]] if convert else self.input
        self.bounds = (op["act_min"], op["act_max"])

    def forward(self, x: Tensor) -> Tensor:
        v = _stored(x, self.source)
        if self.convert is not None:  # the requant op: source grid -> the layer's input grid
            c = self.convert
            v = np.clip(
                requantize(v + c["input_offset"], c["multiplier"], c["shift"]) + c["output_offset"],
                c["act_min"],
                c["act_max"],
            )
        levels = torch.from_numpy(v - self.input["zero_point"]).to(self.weight.dtype)
        acc = self.layer.op(levels, self.weight, None).round().numpy().astype(np.int64)  # exact (see __init__)
        shape = (1, -1) + (1,) * (acc.ndim - 2)
        y = requantize(
            acc + self.bias.reshape(shape),
            self.mult.reshape(shape).astype(np.int64),
            self.shift.reshape(shape).astype(np.int64),
        )
        y = np.clip(y + self.out["zero_point"], *self.bounds)
        value = self.layer(x)
        return _ste(value, _real(y, self.out, value))


class ExactAdd(nn.Module):
    """a + b as arm_elementwise_add_s8 computes it on the two stored branches."""

    def __init__(self, op: dict[str, Any], tensors: list[dict[str, Any]]) -> None:
        super().__init__()
        self.op = op
        self.a, self.b = (tensors[i] for i in op["inputs"])
        self.out = tensors[op["output"]]

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        y = np.clip(
            elementwise_add(self.op, _stored(a, self.a), _stored(b, self.b)), self.op["act_min"], self.op["act_max"]
        )
        value = a + b
        return _ste(value, _real(y, self.out, value))


class ExactAvgPool(nn.Module):
    """The mean over each window as arm_avgpool_s8 computes it (on stored values, rounded half away from zero)."""

    def __init__(self, op: dict[str, Any], tensors: list[dict[str, Any]]) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(op["kernel"]), tuple(op["stride"])
        self.input, self.out = tensors[op["inputs"][0]], tensors[op["output"]]
        self.bounds = (op["act_min"], op["act_max"])

    def forward(self, x: Tensor, *_: Any) -> Tensor:
        two_d = x if x.dim() == 4 else x.unsqueeze(2)  # Conv1d networks: (N, C, L) as (N, C, 1, L)
        value = F.avg_pool2d(two_d, self.kernel, self.stride)
        stored = torch.from_numpy(_stored(two_d, self.input).astype(np.float64))
        count = self.kernel[0] * self.kernel[1]
        sums = (F.avg_pool2d(stored, self.kernel, self.stride) * count).round().numpy().astype(np.int64)
        y = np.clip(avg_divide(sums, count), *self.bounds)
        value = _ste(value, _real(y, self.out, value))
        return value if x.dim() == 4 else value.squeeze(2)


class ExactRequant(nn.Module):
    """A tensor moved to another grid by the export's requant op (arm_nn_requantize per element)."""

    def __init__(self, op: dict[str, Any], tensors: list[dict[str, Any]]) -> None:
        super().__init__()
        self.op, self.input, self.out = op, tensors[op["inputs"][0]], tensors[op["output"]]

    def forward(self, x: Tensor) -> Tensor:
        o = self.op
        y = np.clip(
            requantize(_stored(x, self.input) + o["input_offset"], o["multiplier"], o["shift"]) + o["output_offset"],
            o["act_min"],
            o["act_max"],
        )
        return _ste(x, _real(y, self.out, x))


def _plan(model: nn.Module, example_input: Tensor) -> tuple[Any, dict[str, Any]]:
    """The integer model and the cmsis-nn manifest `export(model, example_input, flavour="cmsis-nn")` writes."""
    im = to_integer(model, example_input, bias_frac_bits=0)
    manifest, _ = build_cmsis(im.graph, im.layers, im.output, get_target("generic"), node_ranges(model, example_input))
    return im, manifest


@torch.no_grad()
def cmsis_network(model: nn.Module, example_input: Tensor) -> fx.GraphModule:
    """`model` (a materialized network) computing what its cmsis-nn export computes (module docstring).

    example_input: the calibration batch the export is made with (it sets the calibrated grids)."""
    im, manifest = _plan(model, example_input)
    for node in im.graph.nodes:
        if node.kind not in EMULATED:
            raise UnsupportedModelError(f"node '{node.name}': cmsis_network does not emulate {node.kind} ops")
    tensors = manifest["tensors"]
    ops = manifest["ops"]
    producer = {op["output"]: op for op in ops}
    by_name = {(op["op"], op["name"]): op for op in ops}
    source = _to_graph_module(model)
    gm = fx.GraphModule(source, copy.deepcopy(source.graph))  # shares the modules (and parameters) of `model`
    nodes = {n.name: n for n in gm.graph.nodes}
    kinds = {n.name: n for n in im.graph.nodes}
    for i, (name, fx_node) in enumerate(nodes.items()):
        node = kinds.get(name)
        if node is None:
            continue
        new: nn.Module | None = None
        if node.kind == "layer":
            op = by_name[("conv", node.module)]
            before = producer.get(op["inputs"][0])
            convert = before if before is not None and before["op"] == "requant" else None
            new = ExactLayer(gm.get_submodule(node.module), im.layers[node.module], op, tensors, convert)
        elif node.kind == "add":
            new = ExactAdd(by_name[("add", name)], tensors)
        elif node.kind == "avgpool":
            new = ExactAvgPool(by_name[("avgpool", name)], tensors)
        if new is not None:
            target = f"_cmsis_{i}"
            gm.add_submodule(target, new)
            fx_node.op, fx_node.target = "call_module", target
            fx_node.args = tuple(a for a in fx_node.args if isinstance(a, fx.Node))[: 2 if node.kind == "add" else 1]
            fx_node.kwargs = {}
    out_op = producer.get(manifest["output"]["id"])
    if out_op is not None and out_op["op"] == "requant":  # the logits moved onto the output grid
        output = next(n for n in gm.graph.nodes if n.op == "output")
        (result,) = output.all_input_nodes
        gm.add_submodule("_cmsis_output", ExactRequant(out_op, tensors))
        with gm.graph.inserting_before(output):
            moved = gm.graph.call_module("_cmsis_output", (result,))
        output.replace_input_with(result, moved)
    gm.recompile()
    return gm.train(model.training)


__all__ = ["ExactAdd", "ExactAvgPool", "ExactLayer", "ExactRequant", "cmsis_network"]
