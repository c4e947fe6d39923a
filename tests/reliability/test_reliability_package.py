"""The `bitgate` package: python -m bitgate, --version, and the public API under one import name."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from reliability_helpers import ROOT

import bitgate


def test_python_m_bitgate_version():
    out = subprocess.run(
        [sys.executable, "-m", "bitgate", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip() == f"bitgate {bitgate.__version__}"


def test_public_api_resolves():
    for name in ("to_supernet", "discretize", "materialize", "export", "evaluate", "get_target", "run", "sweep"):
        assert callable(getattr(bitgate, name)), name
    for name in bitgate.__all__:
        assert getattr(bitgate, name) is not None
    assert bitgate.get_target("stm32h7").name == "stm32h7"


def test_pyproject_installs_the_package_and_points_the_script_at_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "bitgate" in project["tool"]["setuptools"]["packages"]
    assert project["project"]["scripts"]["bitgate"] == "bitgate.__main__:main"
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bitgate.__version__"}
