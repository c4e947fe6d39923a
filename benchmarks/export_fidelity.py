"""How exactly do the exported integers reproduce the fake-quantized network?

For random architectures (pruned channels, 2/4/8-bit weights in every layer) of random-init
ResNet-8 and DS-CNN, exports ONNX + C and compares, in steps of the int8 output grid:
  torch32  small(x) in float32 (what the tests compare against)
  torch64  the same fake-quantized network evaluated in float64, output rounded to the int8 grid
           (the exact value of the fake-quantized model, up to rounding ties)
  ort      onnxruntime on model.onnx (default session options)
  int      the numpy integer interpreter on model.json + model.bin
"normalized" re-estimates the BatchNorm statistics on the data first (random-init BN does not
normalise, which makes the random networks nearly input-independent and very insensitive).

    PYTHONPATH=. python benchmarks/export_fidelity.py --seeds 4 --out results/export_fidelity.csv
"""

from __future__ import annotations

import argparse
import copy
import csv
import random
import sys
import tempfile

import numpy as np
import torch

from deploy import export, interpreter
from supernet import discretize, materialize, to_supernet
from zoo.models import create_model

MODELS = {"resnet8": ((3, 32, 32), 10), "dscnn": ((1, 49, 10), 12)}


def random_arch(net, seed: int):
    rng = random.Random(seed)
    for gates in net.gates.values():
        bits = list(gates.options) + [rng.choice(gates.options) for _ in range(gates.channels - len(gates.options))]
        rng.shuffle(bits)
        gates.set_choice(bits)
    return discretize(net)


def measure(name: str, seed: int, normalized: bool, n: int = 256) -> dict:
    shape, classes = MODELS[name]
    torch.manual_seed(seed)
    model = create_model(name, classes, shape)
    x = torch.randn(n, *shape)
    if normalized:
        for bn in model.modules():
            if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
                bn.reset_running_stats()
                bn.momentum = None
        with torch.no_grad():
            model.train()(x)
        model.eval()
    net = to_supernet(model, x, bits=(0, 2, 4, 8))
    small = materialize(net, random_arch(net, seed)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        report = export(small, x, tmp, formats="all")
        from deploy.onnx_model import reference_session

        o = reference_session(report.files["model.onnx"]).run(None, {"input": x.numpy()})[0]
        manifest, arrays = interpreter.load(tmp)
        q = interpreter.run(manifest, arrays, interpreter.quantize_input(manifest, x.numpy()))
    step = report.output_scale
    with torch.no_grad():
        t32 = small(x).numpy()
        t64 = copy.deepcopy(small).double()(x.double()).numpy()
    t64q = np.clip(np.rint(t64 / step), -127, 127)
    o_lsb, t32_lsb = np.rint(o / step), t32 / step
    return {
        "model": name,
        "seed": seed,
        "bn": "normalized" if normalized else "random-init",
        "classes_predicted": len(np.unique(t32.argmax(1))),
        "argmax_ort_vs_torch32": float((o.argmax(1) == t32.argmax(1)).mean()),
        "max_ort_vs_torch32": float(np.abs(o_lsb - t32_lsb).max()),
        "max_torch64_vs_torch32": float(np.abs(t64q - t32_lsb).max()),
        "exact_ort_vs_torch64": float((o_lsb == t64q).mean()),
        "max_ort_vs_torch64": float(np.abs(o_lsb - t64q).max()),
        "exact_int_vs_ort": float((q == o_lsb).mean()),
        "max_int_vs_ort": float(np.abs(q - o_lsb).max()),
        "weight_bytes": report.weight_bytes,
        "flash_bytes": report.flash_bytes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", default=None, help="CSV file (default: print to stdout)")
    args = parser.parse_args(argv)
    rows = [measure(m, s, norm) for norm in (False, True) for m in MODELS for s in range(args.seeds)]
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})
    if args.out:
        out.close()


if __name__ == "__main__":
    main()
