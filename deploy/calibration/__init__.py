"""Calibration of the Cortex-M latency tables: a grid of small networks measured on emulated cores, fitted.

    from deploy.calibration import grid, measure_grid
    from deploy.calibration.tables import build_table, provenance, write_table
    samples = measure_grid(grid(), ["m4"], work_dir)["m4"]   # exact instructions of every CMSIS-NN call
    table = build_table(samples, "m4", provenance("m4", "-O2", 160, 0, len(samples)))  # fit.py, per kind

benchmarks/cortexm_calibrate.py writes the built-in tables (targets/devices/latency/), `bitgate calibrate`
the table of a new device; dwt.import_log turns a real board's DWT cycle log into cycles per instruction.
"""

from deploy.calibration.grid import FAMILIES, GridNet, grid, random_arch
from deploy.calibration.measure import Exported, export_grid_net, measure_grid, measure_one
from deploy.calibration.samples import Sample, samples_of

__all__ = [
    "FAMILIES",
    "Exported",
    "GridNet",
    "Sample",
    "export_grid_net",
    "grid",
    "measure_grid",
    "measure_one",
    "random_arch",
    "samples_of",
]
