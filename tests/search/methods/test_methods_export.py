"""Every method's result exports in both flavours (a front of one tiny run per method), except the codebook
method, which is refused in one line: no kernel reads codebooks, and requantizing them uniformly would
silently change the network."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bitgate.export_run import export_run
from search.methods import method_names
from search.run import run
from supernet import UnsupportedModelError


@pytest.mark.slow
@pytest.mark.parametrize("method", method_names())
def test_every_method_exports_in_both_flavours(methods_cfg, warm_state, method):
    cfg = replace(methods_cfg, method=method, name=f"export-{method}")
    run(cfg, warm_state=warm_state)
    folder = Path(cfg.out_dir) / cfg.name
    for flavour in ("reference", "cmsis-nn"):
        if method == "twonn-cluster":
            with pytest.raises(UnsupportedModelError, match="codebook") as info:
                export_run(folder, "c", out=folder / flavour, flavour=flavour)
            assert len(str(info.value).splitlines()) == 1
            continue
        summary = export_run(folder, "c", out=folder / flavour, flavour=flavour)
        assert f"({flavour} flavour)" in summary and (folder / flavour / "model.c").stat().st_size > 0
