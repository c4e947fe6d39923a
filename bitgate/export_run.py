"""`bitgate export RUN_DIR`: integer export of a finished run's materialized network."""

from __future__ import annotations

import warnings
from pathlib import Path

from deploy.api import CALIBRATION_SAMPLES
from search.config import ConfigError
from search.model_file import load_arch, load_model
from search.run import load_data, load_run_config, run_target
from targets import get_target


def export_run(
    run_dir: Path, fmt: str = "all", target: str | None = None, out: Path | None = None, flavour: str | None = None
) -> str:
    """Export RUN_DIR/model.pt into RUN_DIR/export/<flavour> (or `out`); returns a printable summary.

    flavour None: the one the run was searched for (its `flavour` setting, else its target's), so the
    exported bytes and RAM are the ones the search priced."""
    from deploy.api import export  # onnx is imported only when exporting

    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    if not (run_dir / "model.pt").exists():
        raise ConfigError(f"{run_dir} has no model.pt: the run has not finished (resume it with --resume)")
    model = load_model(run_dir)  # weights_only: a run folder's file never runs code
    arch = load_arch(run_dir / "arch.json")
    data = load_data(cfg)
    calibration = data.train.batch(slice(0, CALIBRATION_SAMPLES))[0]
    tgt = get_target(target) if target else run_target(cfg, run_dir)  # the run's own copy if not registered
    flavour = flavour or cfg.flavour or tgt.flavour
    with warnings.catch_warnings():  # its warnings are in report.warnings, printed once below
        warnings.simplefilter("ignore")
        report = export(
            model, calibration, out or run_dir / "export" / flavour, formats=fmt, target=tgt, arch=arch, flavour=flavour
        )
    lines = [f"exported {run_dir.name} for {report.target} ({report.flavour} flavour) into {report.out_dir}"]
    lines += [f"  {name:<12}{path.stat().st_size:>10,} bytes" for name, path in report.files.items()]
    lines.append(
        f"  Flash: {report.weight_bytes:,} B packed weights + {report.metadata_bytes:,} B per-channel "
        f"metadata = {report.flash_bytes:,} B"
    )
    if report.ram is not None:
        lines.append(
            f"  RAM: {report.ram['arena_bytes']:,} B activation arena + {report.ram['scratch_bytes']:,} B "
            f"kernel scratch = {report.ram['ram_bytes']:,} B (static buffers in model.c)"
        )
    lines += [f"  warning: {w}" for w in report.warnings]
    return "\n".join(lines)
