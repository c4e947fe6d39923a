"""`export`: write a materialized network as ONNX (QDQ) and/or C (model.h + model.json + model.bin).

    small = materialize(net, arch).eval()
    report = export(small, calibration_batch, "out/", formats=("onnx", "c"), target="stm32l4")

Files are written atomically (temporary file in the folder, then rename). When a target is
given and the Flash bytes of the export (packed weights + per-channel metadata) exceed
target.flash_bytes, a warning names both numbers (and is kept in the report).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from deploy.files import write_atomic
from deploy.graph import Graph, read_graph
from deploy.grouping import reorder
from deploy.integer import ActGrid, IntLayer, integer_layer
from deploy.manifest import build_manifest
from deploy.plan import build_program
from supernet.arch import Architecture
from supernet.network import DEFAULT_OUTPUT_ACT_BITS, Supernet
from supernet.quant import activation_levels
from targets.flavour import FLAVOURS as FLAVOUR_RECORDS
from targets.registry import get_target
from targets.target import Target

FORMATS = ("onnx", "c")
CALIBRATION_SAMPLES = 256  # training inputs a run is calibrated on by `bitgate export` (verify, deployed accuracy)
FLAVOURS = tuple(FLAVOUR_RECORDS)


class FlashOverflowWarning(UserWarning):
    """The exported model does not fit the target's Flash."""


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    files: dict[str, Path]  # "model.onnx", "model.h", "model.c", "model.json", "model.bin" -> path
    target: str
    weight_bytes: int  # packed weight arrays (== `size` cost)
    metadata_bytes: int  # per-channel bias + multiplier + shift arrays
    flash_bytes: int  # weight_bytes + metadata_bytes (== `memory` cost)
    array_bytes: dict[str, int]  # every C array
    input_scale: float
    output_scale: float
    warnings: tuple[str, ...] = ()  # every warning emitted (Flash overflow, saturated biases)
    flavour: str = "reference"
    ram: dict[str, int] | None = None  # arena_bytes, scratch_bytes, ram_bytes of the generated C
    sparse_weight_bytes: int | None = None  # with sparse=True: weights in sparse.py's format (== `size_sparse`)


@dataclass
class IntegerModel:
    """Everything the writers need: the op graph, integer layers and the output grid."""

    graph: Graph
    layers: dict[str, IntLayer]
    output: ActGrid


@torch.no_grad()
def to_integer(model: nn.Module, example_input: Tensor, bias_frac_bits: int | str = "auto") -> IntegerModel:
    """Read and convert a materialized network; the output grid's clip is max |logit| on example_input.

    bias_frac_bits: extra fractional bits of the int32 biases ("auto", or 0 for stock CMSIS-NN /
    PULP-NN kernels that add the bias to the accumulator as is); see integer.py.
    """
    training = model.training
    model.eval()
    try:
        graph = read_graph(model, example_input)
        logits = model(example_input).float()
    finally:
        model.train(training)
    layers = {name: integer_layer(name, layer, bias_frac_bits) for name, layer in graph.layers.items()}
    levels = activation_levels(DEFAULT_OUTPUT_ACT_BITS, True)
    clip = torch.tensor(max(float(logits.abs().max()), 1e-6)) + 1e-8
    return IntegerModel(
        graph, layers, ActGrid(float(clip / levels), -levels, levels, DEFAULT_OUTPUT_ACT_BITS, True, float(clip))
    )


def c_arrays(im: IntegerModel, target: Target) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(manifest, arrays) of the C export (see manifest.py)."""
    program, groups, class_order = reorder(build_program(im.graph, im.layers, im.output), im.graph)
    return build_manifest(program, groups, class_order, target, im.graph.input_shape)


def _blob(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    end = max((s["offset"] + s["bytes"] for s in manifest["arrays"].values()), default=0)
    buf = bytearray(end)
    for name, spec in manifest["arrays"].items():
        a = arrays[name]
        buf[spec["offset"] : spec["offset"] + spec["bytes"]] = a.astype(a.dtype.newbyteorder("<")).tobytes()
    return bytes(buf)


def _formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    chosen = (formats,) if isinstance(formats, str) else tuple(formats)
    chosen = FORMATS if "all" in chosen else chosen
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise ValueError(f"unknown export format(s) {bad or chosen}; choose from {', '.join(FORMATS)} or 'all'")
    return tuple(dict.fromkeys(chosen))


def _check_arch(graph: Graph, arch: Architecture) -> None:
    if set(arch.weight_bits) != set(graph.layers):
        raise ValueError(
            f"architecture layers {sorted(arch.weight_bits)[:3]}... do not match the model's "
            f"{sorted(graph.layers)[:3]}..."
        )
    for name, layer in graph.layers.items():
        kept = [b for b in arch.weight_bits[name] if b > 0]
        if kept != layer.bits.tolist() or arch.act_bits[name] != layer.act.options[0]:
            raise ValueError(
                f"layer {name!r}: the model's bits do not match the architecture (was it materialized "
                "from another arch?)"
            )


def export(
    model: nn.Module,
    example_input: Tensor,
    out_dir: str | Path,
    formats: str | Iterable[str] = FORMATS,
    target: Target | str | None = None,
    arch: Architecture | None = None,
    bias_frac_bits: int | str = "auto",
    flavour: str | None = None,
    sparse: bool = False,
) -> ExportReport:
    """Export `model` (a materialized network, or a Supernet together with `arch`).

    example_input: a calibration batch; sets the output grid (largest |logit|) and the shapes.
    formats: "onnx", "c", both, or "all". target: storage bits and Flash size (default "generic",
    without the Flash check). arch: checked against the model and recorded in the manifest.
    bias_frac_bits: "auto" (most precise bias that cannot overflow) or 0 for kernels that add the
    int32 bias to the accumulator unshifted (stock CMSIS-NN / PULP-NN); see integer.py.
    flavour: "reference" (exact integer model, NCHW, portable C kernels) or "cmsis-nn" (int8 NHWC with
    zero points, CMSIS-NN requantization, calls to the CMSIS-NN kernels; needs bias_frac_bits 0 or "auto");
    None: the target's own flavour (targets/flavour.py; "reference" without a target).
    sparse: also write model_sparse.json + model_sparse.bin, each precision group dense or bitmask +
    non-zeros (sparse.py; no C kernel reads it yet, the interpreter runs it after sparse.decode).
    """
    chosen = _formats(formats)
    tgt = get_target(target) if isinstance(target, str) else target
    if flavour is None:
        flavour = tgt.flavour if tgt is not None else "reference"
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; choose from {', '.join(FLAVOURS)}")
    if flavour == "cmsis-nn":
        if bias_frac_bits not in ("auto", 0):
            raise ValueError(f"the cmsis-nn flavour adds whole-unit biases (bias_frac_bits=0), got {bias_frac_bits!r}")
        bias_frac_bits = 0
    if sparse and flavour != "reference":
        raise ValueError(f"sparse=True encodes the reference flavour's weight arrays; got flavour {flavour!r}")
    if isinstance(model, Supernet):
        if arch is None:
            raise ValueError("exporting a Supernet needs the architecture (arch=...)")
        from supernet.materialize import materialize

        model = materialize(model, arch)
    im = to_integer(model, example_input, bias_frac_bits)
    if arch is not None:
        _check_arch(im.graph, arch)
    if flavour == "cmsis-nn":
        from deploy.calibrate import node_ranges
        from deploy.cmsis_plan import build_cmsis

        manifest, arrays = build_cmsis(
            im.graph, im.layers, im.output, tgt or get_target("generic"), node_ranges(model, example_input)
        )
    else:
        manifest, arrays = c_arrays(im, tgt or get_target("generic"))
    if arch is not None:
        manifest["arch"] = arch.to_dict()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    if "onnx" in chosen:
        from deploy.onnx_model import build_onnx  # onnx is an optional dependency

        files["model.onnx"] = out / "model.onnx"
        write_atomic(files["model.onnx"], build_onnx(im.graph, im.layers, im.output).SerializeToString())
    ram = None
    if "c" in chosen:
        source, head, ram = render_c(manifest, arrays)
        manifest["ram"] = ram
        if flavour == "cmsis-nn":
            from deploy.c_cmsis import markers

            manifest["markers"] = markers(manifest)  # what model.c's BG_MARK ids belong to (deploy/firmware)
        for name, data in (
            ("model.bin", _blob(manifest, arrays)),
            ("model.json", json.dumps(manifest, indent=1).encode()),
            ("model.h", head.encode()),
            ("model.c", source.encode()),
        ):
            files[name] = out / name
            write_atomic(files[name], data)
    sparse_bytes = None
    if sparse:
        from deploy.sparse import encode

        s_manifest, s_arrays = encode(manifest, arrays)
        sparse_bytes = s_manifest["bytes"]["weights"]
        for name, data in (
            ("model_sparse.bin", _blob(s_manifest, s_arrays)),
            ("model_sparse.json", json.dumps(s_manifest, indent=1).encode()),
        ):
            files[name] = out / name
            write_atomic(files[name], data)
    sizes = manifest["bytes"]
    messages = []
    if tgt is not None and sizes["flash"] > tgt.flash_bytes:
        messages.append(
            f"exported model needs {sizes['flash']} bytes of Flash ({sizes['weights']} packed weights + "
            f"{sizes['metadata']} per-channel metadata) but target {tgt.name!r} has {tgt.flash_bytes}"
        )
        warnings.warn(messages[-1], FlashOverflowWarning, stacklevel=2)
    for note in manifest.get("notes", ()):
        messages.append(note)
        warnings.warn(note, stacklevel=2)
    clamped = {n: layer.clamped_bias for n, layer in im.layers.items() if layer.clamped_bias}
    if clamped:
        messages.append(f"int32 bias saturated in {clamped} (channels per layer)")
        warnings.warn(messages[-1], stacklevel=2)
    return ExportReport(
        out_dir=out,
        files=files,
        target=(tgt or get_target("generic")).name,
        weight_bytes=sizes["weights"],
        metadata_bytes=sizes["metadata"],
        flash_bytes=sizes["flash"],
        array_bytes={n: s["bytes"] for n, s in manifest["arrays"].items()},
        input_scale=manifest["input"]["scale"],
        output_scale=manifest["output"]["scale"],
        warnings=tuple(messages),
        flavour=flavour,
        ram=ram,
        sparse_weight_bytes=sparse_bytes,
    )


def render_c(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[str, str, dict[str, int]]:
    """(model.c, model.h, RAM figures) for either flavour's manifest."""
    if manifest.get("flavour") == "cmsis-nn":
        from deploy.c_cmsis import render
    else:
        from deploy.c_reference import render
    return render(manifest, arrays)
