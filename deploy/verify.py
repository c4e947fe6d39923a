"""`verify_export`: a cmsis-nn export measured on emulated Cortex-M cores, next to what was predicted.

The search prices a network with cost models; this is where those prices meet the code that deploys.
For every core the export is built as firmware (deploy/firmware), N inputs run under QEMU, and:

  bit-exactness  the firmware's int8 outputs against deploy.cmsis_interpreter (logits equal, inputs
                 whose every logit is equal): the C and the numpy twin must be the same computation; and,
                 when given, against the PyTorch network computing the flavour's arithmetic
                 (deploy.cmsis_torch.cmsis_network): the trained network and the deployed one are one
  agreement      argmax against the PyTorch model's logits, on the inputs whose two largest logits are
                 at least SEPARATION_STEPS output steps apart (closer ones cannot be ordered by int8)
  Flash          the model's read-only objects in the ELF against the `memory` cost
  RAM            the model's static RAM objects in the ELF (arena + kernel scratch + group scratch) against
                 `peak_activation_ram`; the stack high-water mark is measured and shown beside it
  latency        retired instructions per inference (and per layer) against the latency model

Instructions are counted exactly by QEMU's TCG plugin; they are not cycles (QEMU has no timing model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploy import cmsis_interpreter, interpreter
from deploy.firmware import build_firmware, run_firmware

FORMAT = "bitgate-verify/1"
SEPARATION_STEPS = 2.0  # as the export tests (tests/deploy/export_helpers.py)


@dataclass(frozen=True)
class LatencyPrediction:
    """One core's predicted latency: what `cost` says on `target` (a target of that core)."""

    target: str
    cost: str  # the cost model, e.g. latency_cortexm
    unit: str  # its unit ("cycles", "instructions")
    total: float
    instructions: float | None = None  # the total in instructions, when the model or its target says how
    per_layer: dict[str, float] | None = None  # layer -> instructions, when the model gives a breakdown


@dataclass(frozen=True)
class Prediction:
    """The cost models' figures for the verified architecture (None: not priced)."""

    memory: float | None = None  # Flash bytes: packed weights + per-channel metadata
    peak_activation_ram: float | None = None  # bytes: arena + kernel scratch + group scratch
    latency: dict[str, LatencyPrediction] = field(default_factory=dict)  # core -> prediction


@dataclass(frozen=True)
class CoreResult:
    """What one core measured (outputs, memory, instructions) and how it compares."""

    core: str
    machine: str
    outputs_equal: int  # logits equal to the interpreter's
    outputs_total: int
    inputs_bit_exact: int  # inputs whose every logit equals the interpreter's
    argmax_agree: int  # separated inputs whose argmax equals PyTorch's
    argmax_compared: int  # separated inputs
    flavour_equal: int | None  # logits equal to the PyTorch network computing the flavour's arithmetic
    flash_model_bytes: int  # the model's read-only objects in the image
    flash_weight_bytes: int
    flash_metadata_bytes: int
    static_ram_bytes: int  # the model's static RAM objects in the image
    ram_objects: dict[str, int]  # bg_arena_words, bg_ctx_buf, bg_group_words -> bytes
    stack_bytes: int  # deepest stack bg_infer used (shown beside, not inside, the static RAM)
    instructions: list[int]  # per inference
    per_layer: dict[str, float]  # conv / linear layer -> mean instructions per inference
    per_kernel: dict[str, float]  # CMSIS-NN function or glue kind -> mean instructions per inference
    seconds: float  # QEMU wall time

    @property
    def bit_exact(self) -> bool:
        return self.outputs_equal == self.outputs_total

    @property
    def mean_instructions(self) -> float:
        return float(np.mean(self.instructions))


@dataclass(frozen=True)
class VerifyResult:
    export_dir: Path
    opt: str
    inputs: int
    output_scale: float  # one int8 output step (the unit of SEPARATION_STEPS)
    prediction: Prediction
    cores: tuple[CoreResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """verify.json's content: plain JSON data (reports read it without importing deploy)."""
        cores = {}
        for c in self.cores:
            row = asdict(c)
            row["bit_exact"] = c.bit_exact
            row["mean_instructions"] = c.mean_instructions
            cores[c.core] = row
        pred = self.prediction
        return {
            "format": FORMAT,
            "export_dir": str(self.export_dir),
            "flavour": "cmsis-nn",
            "opt": self.opt,
            "inputs": self.inputs,
            "separation_steps": SEPARATION_STEPS,
            "output_scale": self.output_scale,
            "predicted": {
                "memory": pred.memory,
                "peak_activation_ram": pred.peak_activation_ram,
                "latency": {k: asdict(v) for k, v in pred.latency.items()},
            },
            "cores": cores,
        }


def separated(logits: np.ndarray, step: float, steps: float = SEPARATION_STEPS) -> np.ndarray:
    """(N,) bool: the two largest logits are at least `steps` output steps apart."""
    top2 = np.sort(np.asarray(logits, dtype=np.float64), axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0] >= steps * step


def _mean(grouped: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.mean(v)) for k, v in grouped.items()}


def measure_core(
    export_dir: Path,
    core: str,
    x: np.ndarray,
    expected: np.ndarray,
    class_order: np.ndarray,
    reference_argmax: np.ndarray,
    compared: np.ndarray,
    opt: str,
    flavour: np.ndarray | None = None,
) -> CoreResult:
    """Build and run the export on `core`; compare with the interpreter's outputs and PyTorch's argmax (and
    with `flavour`, the flavour network's logits on the int8 output grid, original class order)."""
    fw = build_firmware(export_dir, core, opt, profile=True)
    m = run_firmware(fw, x)
    logits = np.empty_like(m.outputs)
    logits[:, class_order] = m.outputs  # bg_infer writes class class_order[p] at position p
    agree = logits.argmax(1) == reference_argmax
    return CoreResult(
        core=core,
        machine=fw.board.machine,
        outputs_equal=int((m.outputs == expected).sum()),
        outputs_total=int(expected.size),
        inputs_bit_exact=int((m.outputs == expected).all(1).sum()),
        argmax_agree=int(agree[compared].sum()),
        argmax_compared=int(compared.sum()),
        flavour_equal=None if flavour is None else int((logits == flavour).sum()),
        flash_model_bytes=m.flash_model_bytes,
        flash_weight_bytes=m.flash_weight_bytes,
        flash_metadata_bytes=m.flash_metadata_bytes,
        static_ram_bytes=m.static_ram_bytes,
        ram_objects=dict(fw.memory.model_ram),
        stack_bytes=m.stack_bytes,
        instructions=[int(v) for v in m.instructions],
        per_layer=_mean(m.per_layer()),
        per_kernel=_mean(m.per_kernel()),
        seconds=m.seconds,
    )


def verify_export(
    export_dir: str | Path,
    images: np.ndarray,
    reference_logits: np.ndarray,
    cores: Sequence[str],
    opt: str = "-O2",
    prediction: Prediction | None = None,
    flavour_logits: np.ndarray | None = None,
) -> VerifyResult:
    """Measure a cmsis-nn C export (model.json + model.c) on each core.

    images: float inputs as the model takes them (N, C, H, W) or (N, C, L); reference_logits: the
    PyTorch model's (N, classes) logits on them, in the original class order; flavour_logits: those of
    the same model computing the flavour's arithmetic (cmsis_network, calibrated as the export was)."""
    export_dir = Path(export_dir)
    manifest, arrays = interpreter.load(export_dir)
    images = np.asarray(images, dtype=np.float32)
    reference_logits = np.asarray(reference_logits, dtype=np.float64)
    if len(images) == 0 or len(images) != len(reference_logits):
        raise ValueError(f"need one PyTorch logit row per input, got {len(reference_logits)} for {len(images)}")
    x = cmsis_interpreter.quantize_input(manifest, images)
    expected = cmsis_interpreter.run(manifest, arrays, x, deployed_order=True)
    class_order = np.asarray(manifest["output"]["class_order"])
    step = float(manifest["output"]["scale"])
    compared = separated(reference_logits, step)
    argmax = reference_logits.argmax(1)
    flavour = None if flavour_logits is None else np.rint(np.asarray(flavour_logits, dtype=np.float64) / step)
    results = tuple(
        measure_core(export_dir, core, x, expected, class_order, argmax, compared, opt, flavour) for core in cores
    )
    return VerifyResult(export_dir, opt, len(images), step, prediction or Prediction(), results)
