"""ONNX export in QDQ form, built with onnx.helper from the integer layers.

Structure = the fake-quantized network with BN folded:
  - every layer input: Clip(-clip or 0, clip) -> QuantizeLinear(step, zero point 0, int8 or uint8)
    -> DequantizeLinear; sub-byte activations (2, 4 bits) are int8/uint8 values that the Clip
    keeps within their 2^b levels; each QuantizeLinear's doc_string and the model property
    "bitgate.activation_bits" (JSON: layer -> bits) say which bits a tensor has;
  - weights: int8 initializers holding the per-channel integers (sub-byte weights are small values
    in int8 containers) -> DequantizeLinear(axis 0, per-channel scale s_w * |BN scale|);
  - bias: int32 initializer -> DequantizeLinear(axis 0, scale = input step * weight scale) when the
    layer's bias_frac_bits k is 0 (the usual QDQ bias). With k > 0 the bias is the same real value
    B * scale / 2^k as a float32 initializer: onnxruntime (1.31) fuses DQ -> Gemm -> Q into QGemm and
    then reads an int32 bias as if its scale were input step * weight scale, ignoring the bias's own
    DequantizeLinear scale, which gives wrong logits;
  - Conv / Gemm, then Relu, Add, pooling and Flatten in float, as in the PyTorch graph;
  - output: Clip -> QuantizeLinear(int8, output step) -> DequantizeLinear, named "logits".
Channels are in the materialized order (the C export's reordering is not needed here).
Conv1d networks are run as 2-D with height 1 (an Unsqueeze after the input).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from deploy.graph import Graph
from deploy.integer import ActGrid, IntLayer

OPSET = 17
IR_VERSION = 8


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._k = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], prefix: str, **attrs) -> str:
        self._k += 1
        out = f"{prefix}/{kind}_{self._k}"
        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def qdq(self, x: str, grid: ActGrid, prefix: str) -> str:
        """Fake-quantize x on a PACT grid: Clip, QuantizeLinear, DequantizeLinear."""
        dtype = np.int8 if grid.signed else np.uint8
        lo = self.const(f"{prefix}/clip_lo", np.array(-grid.clip if grid.signed else 0.0, np.float32))
        hi = self.const(f"{prefix}/clip_hi", np.array(grid.clip, np.float32))
        scale = self.const(f"{prefix}/act_scale", np.array(grid.scale, np.float32))
        zero = self.const(f"{prefix}/act_zero", np.array(0, dtype))
        y = self.op("Clip", [x, lo, hi], prefix)
        q = self.op("QuantizeLinear", [y, scale, zero], prefix)
        kind = "signed" if grid.signed else "unsigned"
        self.nodes[-1].doc_string = f"{grid.bits}-bit {kind} activations, integers {grid.lo}..{grid.hi}"
        return self.op("DequantizeLinear", [q, scale, zero], prefix)

    def layer(self, x: str, layer: IntLayer, prefix: str) -> str:
        x = self.qdq(x, layer.act, prefix)
        n_out = layer.weight.shape[0]
        w = self.const(f"{prefix}/weight_q", layer.weight.astype(np.int8))
        ws = self.const(f"{prefix}/weight_scale", layer.weight_scale.astype(np.float32))
        wz = self.const(f"{prefix}/weight_zero", np.zeros(n_out, np.int8))
        wf = self.op("DequantizeLinear", [w, ws, wz], prefix, axis=0)
        if layer.bias_frac_bits == 0:
            b = self.const(f"{prefix}/bias_q", layer.bias.astype(np.int32))
            bs = self.const(f"{prefix}/bias_scale", layer.sum_scale.astype(np.float32))
            bz = self.const(f"{prefix}/bias_zero", np.zeros(n_out, np.int32))
            bf = self.op("DequantizeLinear", [b, bs, bz], prefix, axis=0)
        else:  # see module docstring: a separate Add, out of reach of onnxruntime's QDQ bias rewrites
            shape = (n_out,) if layer.kind == "linear" else (n_out, 1, 1)
            bf = self.const(f"{prefix}/bias", (layer.bias * layer.sum_scale).astype(np.float32).reshape(shape))
        inputs = [x, wf, bf] if layer.bias_frac_bits == 0 else [x, wf]
        if layer.kind == "linear":
            y = self.op("Gemm", inputs, prefix, transB=1)
        else:
            y = self.op(
                "Conv",
                inputs,
                prefix,
                strides=list(layer.stride),
                pads=list(layer.pads),
                dilations=list(layer.dilation),
                group=layer.groups,
                kernel_shape=list(layer.weight.shape[2:]),
            )
        return y if layer.bias_frac_bits == 0 else self.op("Add", [y, bf], prefix)


def build_onnx(graph: Graph, layers: dict[str, IntLayer], out_grid: ActGrid) -> onnx.ModelProto:
    """The QDQ model (see module docstring); input "input" (N, *input_shape), output "logits"."""
    b = _Builder()
    value: dict[str, str] = {}
    outputs = []
    for node in graph.nodes:
        ins = [value[i] for i in node.inputs]
        if node.kind == "input":
            x = "input"
            if len(graph.input_shape) == 2:
                x = b.op("Unsqueeze", [x, b.const("input/axes", np.array([2], np.int64))], "input")
            value[node.name] = x
        elif node.kind == "layer":
            value[node.name] = b.layer(ins[0], layers[node.module], node.module)
        elif node.kind == "relu":
            value[node.name] = b.op("Relu", ins, node.name)
        elif node.kind == "clamp":
            big = float(np.finfo(np.float32).max)
            lo = b.const(f"{node.name}/min", np.array(max(node.attrs["min"], -big), np.float32))
            hi = b.const(f"{node.name}/max", np.array(min(node.attrs["max"], big), np.float32))
            value[node.name] = b.op("Clip", [ins[0], lo, hi], node.name)
        elif node.kind == "add":
            value[node.name] = b.op("Add", ins, node.name)
        elif node.kind == "affine":
            shape = (-1,) + (1,) * (len(node.shape) - 1)
            a = b.const(f"{node.name}/scale", np.asarray(node.attrs["scale"], np.float32).reshape(shape))
            c = b.const(f"{node.name}/offset", np.asarray(node.attrs["offset"], np.float32).reshape(shape))
            value[node.name] = b.op("Add", [b.op("Mul", [ins[0], a], node.name), c], node.name)
        elif node.kind == "concat":
            value[node.name] = b.op("Concat", ins, node.name, axis=1)
        elif node.kind == "flatten":
            value[node.name] = b.op("Flatten", ins, node.name, axis=1)
        elif node.kind in ("avgpool", "maxpool"):
            a = node.attrs
            if node.kind == "avgpool" and a.get("global"):
                value[node.name] = b.op("GlobalAveragePool", ins, node.name)
                continue
            kind = "AveragePool" if node.kind == "avgpool" else "MaxPool"
            extra = {"count_include_pad": 1} if kind == "AveragePool" else {}
            value[node.name] = b.op(
                kind, ins, node.name, kernel_shape=a["kernel"], strides=a["stride"], pads=a["pads"], **extra
            )
        elif node.kind == "output":
            y = b.qdq(ins[0], out_grid, "output")
            b.nodes.append(helper.make_node("Identity", [y], ["logits"], name="output/logits"))
            outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", *node.shape]))
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *graph.input_shape])
    g = helper.make_graph(b.nodes, "bitgate", [inp], outputs, initializer=b.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bitgate")
    model.ir_version = IR_VERSION
    bits = {name: layer.act.bits for name, layer in layers.items()} | {"output": out_grid.bits}
    helper.set_model_props(model, {"bitgate.activation_bits": json.dumps(bits)})  # each layer input's bits
    onnx.checker.check_model(model)
    return model


def reference_session(path):
    """An onnxruntime session that computes the QDQ graph as written: graph optimisations off.

    With optimisations on, onnxruntime fuses QuantizeLinear/DequantizeLinear pairs into integer
    kernels; on x86 CPUs without VNNI (e.g. AMD EPYC Zen 2/3) its u8 x s8 GEMM pairs products in
    saturating int16 (vpmaddubsw), so logits can move by many output steps (measured: 12 steps on a
    standalone-BatchNorm network). Unfused, every op is the float op of the ONNX spec on every CPU.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
