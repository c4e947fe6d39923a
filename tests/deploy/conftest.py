"""Session fixtures: exported random architectures of ResNet-8, DS-CNN, a tiny all-ops net and a
Conv1d QuantNet, with their PyTorch / onnxruntime / interpreter logits (see export_helpers.py), and the
Cortex-M models' exports shared by the host C tests and the firmware tests (`cortex_m`)."""

from __future__ import annotations

import pytest
import torch
from c_build import CMSIS, CORTEX_M_2IN4, build_cmsis_library, compiler
from export_helpers import (
    Case,
    CortexMExport,
    TinyNet,
    build_case,
    cortex_m_export,
    scramble_depthwise,
    tiny_pool,
    varied_images,
)

from zoo.models import create_model


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global seed (as under tests/supernet, where these tests lived)."""
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def cortex_m(tmp_path_factory):
    """cortex_m(name): export_helpers.cortex_m_export of a CORTEX_M_MODELS model, made once per session."""
    made: dict[str, CortexMExport] = {}

    def get(name: str) -> CortexMExport:
        if name not in made:
            made[name] = cortex_m_export(name, tmp_path_factory.mktemp(f"cortex-m-{name}"), CORTEX_M_2IN4)
        return made[name]

    return get


@pytest.fixture(scope="session")
def resnet8_case(tmp_path_factory) -> Case:
    torch.manual_seed(0)
    model = create_model("resnet8", 10, (3, 32, 32))
    pool = varied_images(512, (3, 32, 32), torch.Generator().manual_seed(0))
    return build_case("resnet8", model, pool, tmp_path_factory.mktemp("resnet8"), seed=1)


@pytest.fixture(scope="session")
def dscnn_case(tmp_path_factory) -> Case:
    torch.manual_seed(0)
    model = create_model("dscnn", 12, (1, 49, 10))
    pool = torch.randn(512, 1, 49, 10, generator=torch.Generator().manual_seed(0))
    return build_case("dscnn", model, pool, tmp_path_factory.mktemp("dscnn"))


@pytest.fixture(params=["resnet8", "dscnn"])
def zoo_case(request) -> Case:
    return request.getfixturevalue(f"{request.param}_case")


@pytest.fixture(scope="session")
def tiny_case(tmp_path_factory) -> Case:
    torch.manual_seed(0)
    return build_case(
        "tiny",
        TinyNet(),
        tiny_pool(),
        tmp_path_factory.mktemp("tiny"),
        seed=3,
        bits=(0, 1, 2, 4, 8),
        act_bits=(2, 4, 8),
    )


@pytest.fixture(scope="session")
def tiny_bn_case(tmp_path_factory) -> Case:
    """BatchNorms kept in the materialized layers (fold_bn=False): the exporter folds them itself,
    flipping the integers of channels with negative gamma and handling the gamma = 0 channel."""
    torch.manual_seed(0)
    case = build_case("tiny-bn", TinyNet(), tiny_pool(), tmp_path_factory.mktemp("tinybn"), seed=4, fold_bn=False)
    assert all(layer.bn is not None for name, layer in case.small.named_modules() if name in ("conv1", "dw", "pw"))
    return case


@pytest.fixture(scope="session")
def tiny_scrambled_case(tmp_path_factory) -> Case:
    torch.manual_seed(0)
    return build_case(
        "tiny-scrambled",
        TinyNet(),
        tiny_pool(),
        tmp_path_factory.mktemp("tiny2"),
        seed=3,
        bits=(0, 1, 2, 4, 8),
        prepare=scramble_depthwise,
    )


@pytest.fixture(scope="session")
def quantnet1d_case(tmp_path_factory) -> Case:
    torch.manual_seed(0)
    model = create_model("quantnet", 4, (2, 32))  # Conv1d, flatten of 8 positions per channel
    pool = torch.randn(512, 2, 32, generator=torch.Generator().manual_seed(2))
    return build_case("quantnet1d", model, pool, tmp_path_factory.mktemp("quantnet1d"))


@pytest.fixture(params=["resnet8", "dscnn", "tiny", "tiny_bn", "tiny_scrambled", "quantnet1d"])
def any_case(request) -> Case:
    return request.getfixturevalue(f"{request.param}_case")


@pytest.fixture(scope="session")
def resnet8_subbyte_case(tmp_path_factory) -> Case:
    """ResNet-8 with 2- and 4-bit activations chosen per layer (a searched-activation architecture)."""
    torch.manual_seed(0)
    model = create_model("resnet8", 10, (3, 32, 32))
    pool = varied_images(1024, (3, 32, 32), torch.Generator().manual_seed(5))
    return build_case("resnet8-a2a4", model, pool, tmp_path_factory.mktemp("resnet8sub"), seed=1, act_bits=(2, 4))


@pytest.fixture(scope="session")
def tiny_subbyte_case(tmp_path_factory) -> Case:
    torch.manual_seed(0)
    return build_case(
        "tiny-a2a4",
        TinyNet(),
        tiny_pool(),
        tmp_path_factory.mktemp("tinysub"),
        seed=5,
        bits=(0, 2, 4, 8),
        act_bits=(2, 4),
    )


@pytest.fixture(scope="session")
def cmsis_lib(tmp_path_factory):
    """CMSIS-NN's plain-C kernels compiled once per session into a static library (see c_build.py)."""
    if CMSIS is None or compiler() is None:
        pytest.skip("CMSIS-NN sources (CMSIS_NN_PATH) or a C compiler (cc) missing")
    return build_cmsis_library(CMSIS, tmp_path_factory.mktemp("cmsis-nn"))
