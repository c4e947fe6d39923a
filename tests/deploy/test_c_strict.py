"""Every generated model.c compiles with -Wall -Wextra -Werror and nothing switched off, in both
flavours, with and without BG_PROFILE: also a network where no layer mixes precisions (all 8-bit: the
cmsis-nn flavour then needs no precision-group scratch) and one without residual adds (the reference
flavour then needs no bg_add). A static buffer or helper that is emitted but unused fails here."""

from __future__ import annotations

import subprocess
import warnings

import pytest
import torch
from c_build import CMSIS, CORTEX_M_2IN4, STRICT, compiler, needs_cc, needs_cmsis
from export_helpers import set_random_arch, varied_images

from deploy import export
from search.models import create_model
from supernet import materialize, to_supernet

ARCHS = {"uniform8": (8,), "mixed": (0, 2, 4, 8)}


@pytest.fixture(scope="module", params=list(ARCHS))
def exports(request, tmp_path_factory):
    torch.manual_seed(0)
    pool = varied_images(256, (1, 8, 8), torch.Generator().manual_seed(0))
    net = to_supernet(create_model("digits_cnn", 10, (1, 8, 8)), pool, bits=ARCHS[request.param])
    arch = set_random_arch(net, seed=1)
    small = materialize(net, arch).eval()
    out = tmp_path_factory.mktemp(request.param)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a Flash or bias note does not matter here
        reports = {
            f: export(small, pool, out / f, formats="c", target=CORTEX_M_2IN4, arch=arch, flavour=f)
            for f in ("reference", "cmsis-nn")
        }
    mixed = any(len(set(b) - {0}) > 1 for b in arch.weight_bits.values())
    assert mixed == (request.param == "mixed")
    return reports


def _compile(export_dir, profile: bool) -> subprocess.CompletedProcess:
    inc = ["-I", str(export_dir), *(["-isystem", str(CMSIS / "Include")] if CMSIS else [])]
    return subprocess.run(
        [
            compiler(),
            "-std=c99",
            "-O2",
            *STRICT,
            *(["-DBG_PROFILE"] if profile else []),
            *inc,
            "-c",
            str(export_dir / "model.c"),
            "-o",
            str(export_dir / "strict.o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_cc
@pytest.mark.parametrize("profile", [False, True], ids=["production", "profile"])
def test_reference_c_has_no_warning(exports, profile):
    done = _compile(exports["reference"].out_dir, profile)
    assert done.returncode == 0, done.stderr[-3000:]


@needs_cc
@needs_cmsis
@pytest.mark.parametrize("profile", [False, True], ids=["production", "profile"])
def test_cmsis_c_has_no_warning(exports, profile):
    done = _compile(exports["cmsis-nn"].out_dir, profile)
    assert done.returncode == 0, done.stderr[-3000:]


@needs_cmsis
def test_uniform_export_declares_no_group_scratch(exports):
    source = exports["cmsis-nn"].files["model.c"].read_text()
    scratch = exports["cmsis-nn"].ram["scratch_bytes"]
    assert ("bg_group_words" in source) == ("bg_group_buf" in source.split("int bg_infer", 1)[1])
    assert scratch > 0  # digits_cnn's convolutions need kernel scratch in every architecture
