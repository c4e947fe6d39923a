"""Agreement of both export flavours with PyTorch, and the RAM of the generated C, per model.

    PYTHONPATH=. python benchmarks/deploy_agreement.py [--seeds 1 2 3] [--models resnet8 dscnn ...]

For each model (random init, calibrated on random inputs) and seed (a random architecture that prunes
and mixes 2/4/8-bit weights), both flavours are exported for a Cortex-M target that stores 2-bit weights
in 4-bit fields. Printed per flavour: argmax agreement with the fake-quantized PyTorch model on inputs
whose top-2 logits are >= 2 output steps apart, mean / max |logit error| in output steps, weight bytes
against the `size` cost, and the generated C's arena (+ scratch) against `peak_activation_ram`.
The C builds themselves are checked bit for bit by tests/deploy/test_deploy_c.py. About 1 minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "deploy"))
from c_build import CORTEX_M_2IN4  # noqa: E402
from export_helpers import SEPARATION_STEPS, set_random_arch, varied_images  # noqa: E402
from test_deploy_c import MODELS  # noqa: E402

from cost_models.registry import evaluate  # noqa: E402
from deploy import cmsis_interpreter, export, interpreter  # noqa: E402
from search.pricing import layer_choices
from supernet import materialize, to_supernet  # noqa: E402


def measure(name: str, seed: int, out: Path) -> list[str]:
    factory, shape, n = MODELS[name]
    torch.manual_seed(0)
    pool = varied_images(n, shape, torch.Generator().manual_seed(0))
    net = to_supernet(factory(), pool, bits=(0, 2, 4, 8))
    arch = set_random_arch(net, seed=seed)
    small = materialize(net, arch).eval()
    choices = layer_choices(net, arch)
    size = float(evaluate("size", choices, CORTEX_M_2IN4))
    peak = float(evaluate("peak_activation_ram", choices, CORTEX_M_2IN4))
    with torch.no_grad():
        ref = small(pool).numpy()
    rows = []
    for flavour in ("reference", "cmsis-nn"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = export(
                small,
                pool,
                out / f"{name}-{seed}-{flavour}",
                formats="c",
                target=CORTEX_M_2IN4,
                arch=arch,
                flavour=flavour,
            )
        manifest, arrays = interpreter.load(rep.out_dir)
        if flavour == "cmsis-nn":
            q = cmsis_interpreter.run(manifest, arrays, cmsis_interpreter.quantize_input(manifest, pool.numpy()))
        else:
            q = interpreter.run(manifest, arrays, interpreter.quantize_input(manifest, pool.numpy()))
        step = rep.output_scale
        top2 = np.sort(ref, 1)[:, -2:]
        sep = top2[:, 1] - top2[:, 0] >= SEPARATION_STEPS * step
        agree = float((q.argmax(1) == ref.argmax(1))[sep].mean())
        err = np.abs(q * step - ref) / step
        rows.append(
            f"{name:<13}{seed:>4} {flavour:<10}{agree:>8.1%}{int(sep.sum()):>6}{err.mean():>7.2f}"
            f"{err.max():>7.2f}{rep.weight_bytes:>9,}{size:>9,.0f}{rep.ram['arena_bytes']:>9,}"
            f"{rep.ram['scratch_bytes']:>8,}{peak:>9,.0f}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"{'model':<13}{'seed':>4} {'flavour':<10}{'argmax':>8}{'sep':>6}{'mean':>7}{'max':>7}{'weightB':>9}"
        f"{'size':>9}{'arena':>9}{'scratch':>8}{'peakRAM':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            for seed in args.seeds:
                for row in measure(name, seed, Path(tmp)):
                    print(row, flush=True)


if __name__ == "__main__":
    main()
