"""Hardware targets as data (targets/devices/*.toml) and their registry.

Add a device with one TOML file: put it in a directory named by BITGATE_TARGETS_PATH,
or call `register_target(load_target_toml(path))`; see targets/registry.py.
"""

from targets.registry import (
    get_target,
    load_target_dir,
    load_target_toml,
    register_target,
    reset_registry,
    target_names,
    unregister_target,
)
from targets.target import Target

__all__ = [
    "Target",
    "get_target",
    "load_target_dir",
    "load_target_toml",
    "register_target",
    "reset_registry",
    "target_names",
    "unregister_target",
]
