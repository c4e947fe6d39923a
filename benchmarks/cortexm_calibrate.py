"""The built-in Cortex-M latency tables: the calibration grid measured on m4, m7, m33, m55 and fitted.

    PYTHONPATH=. python benchmarks/cortexm_calibrate.py                  # measure, fit, write the tables
    PYTHONPATH=. python benchmarks/cortexm_calibrate.py --check          # measure and fit, compare, write nothing
    PYTHONPATH=. python benchmarks/cortexm_calibrate.py --samples S.json # refit saved samples (no emulator)

Writes targets/devices/latency/cortex-<core>.toml (provenance: CMSIS-NN source hash, compiler, -O level,
QEMU, grid, date) and, with --save-samples, every measured call as JSON. The grid is seeded and the counts
exact, so rerunning on the same tools writes the same coefficients (--check says whether they match the
committed tables; only the date may differ). About 15-20 minutes on 2 free cores (160 networks x 4 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from cost_models.cortexm_table import load_table
from deploy.calibration import grid, measure_grid
from deploy.calibration.samples import Sample
from deploy.calibration.tables import build_table, provenance, table_file, write_table
from deploy.firmware import find_toolchain

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "targets" / "devices" / "latency"
CORES = ("m4", "m7", "m33", "m55")
NETWORKS, SEED, OPT = 160, 0, "-O2"


def measured(cores: list[str], networks: int, samples_file: Path | None, save: Path | None) -> dict[str, list[Sample]]:
    if samples_file is not None:
        data = json.loads(samples_file.read_text())
        return {c: [Sample.from_dict(s) for s in data[c]] for c in cores}
    if find_toolchain().problem:
        sys.exit(find_toolchain().problem)
    with tempfile.TemporaryDirectory(prefix="cortexm-grid-") as work:
        samples = measure_grid(grid(networks, SEED), cores, Path(work), OPT)
    if save is not None:
        save.write_text(json.dumps({c: [s.to_dict() for s in v] for c, v in samples.items()}))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", default=",".join(CORES))
    parser.add_argument("--networks", type=int, default=NETWORKS)
    parser.add_argument("--samples", type=Path, help="refit these saved samples instead of measuring")
    parser.add_argument("--save-samples", type=Path, help="write the measured samples here (JSON)")
    parser.add_argument("--check", action="store_true", help="compare with the committed tables; write nothing")
    args = parser.parse_args()
    cores = args.cores.split(",")
    samples = measured(cores, args.networks, args.samples, args.save_samples)
    differ = []
    for core in cores:
        table = build_table(samples[core], core, provenance(core, OPT, args.networks, SEED, len(samples[core])))
        path = TABLES / table_file(core)
        worst = max(f["max_error"] for f in table.fit.values())
        print(f"{core}: {len(samples[core])} calls, {len(table.kinds)} kinds, worst call fitted within {worst:.1%}")
        for kind, fit in table.fit.items():
            print(
                f"  {kind:12s} {fit['samples']:5d} calls  median {fit['median_error']:.2%}  "
                f"max {fit['max_error']:.2%}  {len(table.kinds[kind])} features"
            )
        if args.check:
            committed = load_table(path) if path.exists() else None
            if committed is None or committed.kinds != table.kinds:
                differ.append(core)
        else:
            write_table(table, path, "benchmarks/cortexm_calibrate.py")
            print(f"  written: {path.relative_to(ROOT)}")
    if args.check:
        print("tables reproduced" if not differ else f"tables differ from the committed ones: {', '.join(differ)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
