"""Target dataclass validation, the built-in devices and every way to add a device."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from cost_models import evaluate
from supernet.spec import LayerChoice, LayerSpec
from targets import (
    Target,
    get_target,
    load_target_toml,
    register_target,
    reset_registry,
    target_names,
    unregister_target,
)
from targets import registry as reg

BUILTIN = {"mpic", "gap8", "stm32l4", "stm32h7", "generic"}
DEVICE_TOML = """
name = "{name}"
description = "test board"
family = "cortex-m"
flash_bytes = 1_048_576
ram_bytes = 262_144
clock_hz = 80_000_000
weight_bits = [0, 4, 8]
act_bits = [8]
costs = ["memory", "latency_cortexm"]

[params]
latency_table = "board_latency.toml"  # beside this file
cycles_per_instruction = 2.0
"""
LATENCY_TOML = """core = "m4"
path = "dsp"
[kinds.fc_s8]
"n*K" = 1
[kinds.fc_s4]
"n*K" = 2
"""


@pytest.fixture(autouse=True)
def fresh_registry():
    reset_registry()
    yield
    reset_registry()


def kwargs(**over):
    base = dict(
        name="t",
        description="",
        flash_bytes=1,
        ram_bytes=1,
        clock_hz=1,
        weight_bits=(0, 8),
        act_bits=(8,),
        costs=("memory",),
    )
    return {**base, **over}


def linear_choice(bits: list[int]) -> LayerChoice:
    """One-hot Linear 8 -> len(bits) over options (0, 4, 8), 8-bit activations."""
    options = (0, 4, 8)
    probs = torch.zeros(3, len(bits))
    probs[[options.index(b) for b in bits], range(len(bits))] = 1.0
    spec = LayerSpec("fc", "linear", 8, len(bits))
    one = torch.ones(1)
    return LayerChoice(spec, options, probs, torch.ones(8), (8,), one, (8,), one)


def test_builtin_targets():
    assert BUILTIN <= set(target_names())
    l4, h7, gap8, mpic = (get_target(n) for n in ("stm32l4", "stm32h7", "gap8", "mpic"))
    assert (l4.flash_bytes, l4.ram_bytes, l4.clock_hz, l4.weight_bits) == (2 << 20, 640 << 10, 120_000_000, (0, 4, 8))
    assert (h7.flash_bytes, h7.ram_bytes, h7.clock_hz, h7.weight_bits) == (2 << 20, 1 << 20, 480_000_000, (0, 4, 8))
    assert 2 not in l4.storage_bits and 2 not in h7.storage_bits  # CMSIS-NN has no 2-bit kernel
    assert (gap8.params["l1_bytes"], gap8.params["l2_bytes"], gap8.params["l3_bytes"]) == (64 << 10, 512 << 10, 8 << 20)
    assert gap8.act_bits == (2, 4, 8) and gap8.default_act_bits == 8
    assert mpic.weight_bits == (0, 2, 4, 8) and mpic.params["mac_per_cycle"]["a2"]["w2"] == 6.5
    assert get_target("generic").costs[:2] == ("memory", "bitops")


def test_builtin_toml_files_load_standalone():
    for path in sorted(reg.DEVICES_DIR.glob("*.toml")):
        assert load_target_toml(path) == get_target(path.stem)


def test_unknown_target_is_one_line_listing_known_names():
    with pytest.raises(ValueError) as info:
        get_target("esp32")
    message = str(info.value)
    assert "\n" not in message and "'esp32'" in message
    assert all(name in message for name in target_names())


def test_target_validation_and_storage_defaults():
    t = Target(**kwargs(weight_bits=[8, 0, 4], storage_bits={1: 1}))
    assert t.weight_bits == (0, 4, 8) and t.storage_bits == {1: 1, 4: 4, 8: 8}
    assert t.storage(0) == 0 and t.storage(4) == 4 and t.prunable
    with pytest.raises(ValueError, match="cannot store 2-bit"):
        t.storage(2)
    bad = [
        (dict(flash_bytes=0), "flash_bytes"),
        (dict(clock_hz="fast"), "clock_hz"),
        (dict(weight_bits=(0,)), "weight_bits"),
        (dict(weight_bits=(0, 40)), "weight_bits"),
        (dict(act_bits=()), "act_bits"),
        (dict(storage_bits={4: 2}), "storage_bits"),
        (dict(name="two words"), "name"),
        (dict(default_act_bits=4), "default_act_bits"),
    ]
    for over, key in bad:
        with pytest.raises(ValueError, match=key):
            Target(**kwargs(**over))


def test_toml_device_in_tmp_path_registers_and_is_priced(tmp_path):
    path = tmp_path / "board.toml"
    path.write_text(DEVICE_TOML.format(name="myboard"))
    (tmp_path / "board_latency.toml").write_text(LATENCY_TOML)
    register_target(load_target_toml(path))
    target = get_target("myboard")
    assert "myboard" in target_names() and target.family == "cortex-m"
    choice = linear_choice([8, 8, 4, 0])  # 8 inputs: 2*8 B at 8 bits + 8*4/8 B at 4 bits, 3 kept channels
    assert evaluate("memory", [choice], target).item() == 16 + 4 + 3 * 9
    # a Linear layer: s8 group (2 channels, arm_convolve_s8), s4 group (1, the 1x1 kernel), 8 columns each
    assert evaluate("latency_cortexm", [choice], target).item() == 2.0 * (1 * 2 * 8 + 2 * 1 * 8)
    with pytest.raises(ValueError, match="already registered"):
        register_target(Target(**kwargs(name="myboard")))  # a different target under the same name
    register_target(Target(**kwargs(name="myboard")), replace=True)
    unregister_target("myboard")
    assert "myboard" not in target_names()


def test_targets_path_env_var(tmp_path, monkeypatch):
    (tmp_path / "a.toml").write_text(DEVICE_TOML.format(name="env_a"))
    single = tmp_path / "single"
    single.mkdir()
    (single / "b.toml").write_text(DEVICE_TOML.format(name="env_b"))
    monkeypatch.setenv(reg.ENV_PATH, f"{tmp_path}{reg.os.pathsep}{single / 'b.toml'}")
    reset_registry()
    assert {"env_a", "env_b"} | BUILTIN <= set(target_names())
    monkeypatch.setenv(reg.ENV_PATH, str(tmp_path / "missing"))
    reset_registry()
    with pytest.raises(ValueError, match="neither a directory"):
        target_names()


@pytest.mark.parametrize(
    "edit,key",
    [
        (lambda s: s.replace("flash_bytes", "flsh_bytes"), "flsh_bytes"),
        (lambda s: s.replace("clock_hz = 80_000_000\n", ""), "clock_hz"),
        (lambda s: s.replace("ram_bytes = 262_144", 'ram_bytes = "256k"'), "ram_bytes"),
        (lambda s: s.replace("[0, 4, 8]", "[0, 4, 99]"), "weight_bits"),
        (lambda s: s.replace('"latency_cortexm"]', '"latency_gap8"]'), "latency_gap8"),
        (lambda s: s.replace('"memory",', '"flash",'), "flash"),
        (lambda s: s + "\n[storage_bits]\nfour = 4\n", "storage_bits"),
        (lambda s: s.replace("[params]", "params = 3\n[x]"), "unknown key 'x'"),
        (lambda s: s.replace("name =", "name"), "cannot read"),
    ],
)
def test_bad_toml_is_one_line_naming_the_key(tmp_path, edit, key):
    path = tmp_path / "bad.toml"
    path.write_text(edit(DEVICE_TOML.format(name="bad")))
    with pytest.raises(ValueError) as info:
        register_target(load_target_toml(path))
    assert key in str(info.value)
    assert "\n" not in str(info.value).strip()


def test_python_device_file(tmp_path, monkeypatch):
    (tmp_path / "pyboard.py").write_text(
        textwrap.dedent("""
        from targets.target import Target
        TARGET = Target(name="pyboard", description="", flash_bytes=1, ram_bytes=1, clock_hz=1,
                        weight_bits=(0, 8), act_bits=(8,), costs=("memory",))
    """)
    )
    (tmp_path / "tomlboard.toml").write_text(DEVICE_TOML.format(name="tomlboard"))
    monkeypatch.setattr(reg, "DEVICES_DIR", tmp_path)
    monkeypatch.delitem(sys.modules, "targets.devices.pyboard", raising=False)
    try:
        assert set(target_names()) >= {"pyboard", "tomlboard"}
    finally:
        sys.modules.pop("targets.devices.pyboard", None)


class FakeEntryPoint:
    def __init__(self, name, obj):
        self.name, self.value, self.obj = name, f"plugin:{name}", obj

    def load(self):
        if isinstance(self.obj, Exception):
            raise self.obj
        return self.obj


def test_entry_points_lazy_with_broken_plugin_skipped(monkeypatch):
    eps = [
        FakeEntryPoint("ep_obj", Target(**kwargs(name="ep_obj"))),
        FakeEntryPoint("ep_factory", lambda: Target(**kwargs(name="ep_factory"))),
        FakeEntryPoint("ep_broken", ImportError("no module named plugin")),
    ]
    calls = []

    def entry_points(group):
        calls.append(group)
        return eps

    monkeypatch.setattr(reg.metadata, "entry_points", entry_points)
    assert calls == []  # nothing is loaded before the first lookup
    with pytest.warns(UserWarning, match="ep_broken"):
        names = target_names()
    assert calls == [reg.ENTRY_POINT_GROUP]
    assert {"ep_obj", "ep_factory"} <= set(names)
