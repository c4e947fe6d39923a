"""The one configuration of a run: a frozen, validated dataclass, loaded from TOML plus overrides.

Sweeps derive their points with `dataclasses.replace`; every run writes `asdict(cfg)` as
config.json next to its results, so a result always says how it was made.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from search.config_schema import SCHEMA, migrate
from search.errors import ConfigError, did_you_mean
from targets.flavour import FLAVOURS

SAMPLING = ("soft", "gumbel", "hard", "hard-gumbel")
TAU_SCHEDULES = ("anneal", "exp", "linear", "constant")
OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "cosine")
AMP_MODES = ("off", "bf16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")  # syntax only: availability is checked in search.device
_UNITS = {
    "": 1.0,
    "b": 1.0,
    "B": 1.0,
    "kB": 1e3,
    "KB": 1e3,
    "KiB": 1024.0,
    "MB": 1e6,
    "MiB": 1024.0**2,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
}


_PATH_LISTS = ("exclude", "keep_channels")  # lists of module paths: "features.0,classifier"


@dataclass(frozen=True)
class SearchConfig:
    # what to search
    method: str = "joint"
    model: str = "digits_cnn"
    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    train_subset: int | None = None
    val_subset: int | None = None  # a seeded, class-balanced subset of the validation / test images (image
    test_subset: int | None = None  # data sets: cifar10, imagefolder, tinyimagenet), for fast runs
    val_fraction: float | None = None
    classes: tuple[str, ...] | None = None  # a subset of the data set's classes, relabelled 0..k-1 in this order
    pretrained: str | None = None  # weights file (state dict) to start the model from; never downloaded
    # where it will run
    target: str = "generic"
    flavour: str = ""  # how it will be deployed, so what the costs price: "reference" or "cmsis-nn"; "": the target's
    cost: str | None = None  # default: the target's first cost model
    bits: tuple[int, ...] | None = None  # default: the target's weight bit options
    act_bits: tuple[int, ...] = (8,)
    # module paths (a parent path covers its layers): left in float and unsearched / searched without pruning
    exclude: tuple[str, ...] = ()
    keep_channels: tuple[str, ...] = ()
    # trade-off: a fixed strength (lambda, on the cost normalised by the unpruned all-max-bits cost) or a budget
    strength: float = 0.1
    budget: float | None = None  # in the cost's unit (bytes, cycles, ...)
    ram_budget: float | None = None  # a second limit: planned peak activation RAM in bytes (search.constraints.limits)
    fit_target: bool = False  # also fit the target's own Flash (flash_bytes) and SRAM (ram_bytes)
    budget_rate: float = 1.0  # budget mode: most that log(strength) moves per search epoch (x e = 2.7)
    min_channels: float = 0.125  # kept channels per group, at least: a count (>= 1) or a fraction (< 1)
    # method-specific knobs (uniform precision, ADMM rho, TwoNN delta, ...)
    uniform_bits: int = 8
    # numbers, or words (variant = "quant"); each method reads and checks its own (search/methods/options.py)
    method_options: tuple[tuple[str, float | str], ...] = ()
    from_search: str | None = None  # joint-path points: the sweep's path-search folder (set by the sweep)
    # schedule
    warmup_epochs: int = 10
    search_epochs: int = 20
    finetune_epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"  # weights: "adam" or "sgd" (with momentum)
    momentum: float = 0.9  # sgd only (weights and gates)
    lr_schedule: str = "constant"  # or "cosine": per phase, from lr down to 0 at the phase's last epoch
    select_best: bool = False  # fine-tune: keep the epoch with the best validation accuracy
    patience: int = 0  # fine-tune: stop after this many epochs without a better validation accuracy (0: off)
    arch_lr: float = 1e-2
    arch_optimizer: str = "adam"
    weight_decay: float = 0.0
    sampling: str = "soft"
    harden: float = 0.0  # last share of the search trained on hard (one-hot, straight-through) gates
    harden_collapse: float = 0.0  # ... or once the argmax net's val acc falls below this x its best (0: never)
    tau0: float = 1.0
    tau_decay: float = 0.045  # "exp"/"linear" schedules only
    tau_schedule: str = "anneal"  # tau0 -> tau_final over the search epochs; "exp" is the seed's per-epoch decay
    tau_final: float = 0.1
    seed: int = 0
    # where it computes (search.device): auto = cuda, else mps, else cpu; amp = "bf16" for the float warm-up
    device: str = "auto"
    amp: str = "off"
    tf32: bool = False  # allow TF32 convolutions and matrix products on NVIDIA GPUs (search/numerics.py)
    deterministic: bool = False  # deterministic algorithms only (slower on a GPU; search/numerics.py)
    compile: str = ""  # torch.compile every phase's module: "default", "reduce-overhead", "max-autotune"; "": no
    # bookkeeping
    out_dir: str = "runs"
    name: str | None = None
    progress: bool = True
    tensorboard: bool = False  # also write TensorBoard scalars to <run>/tensorboard (needs the package)

    def __post_init__(self) -> None:
        for f in fields(self):  # nan/inf pass every comparison below, so refuse them first
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number, got {value!r}")
        for key, value in self.method_options:  # numbers or words (issue 14); numbers must be finite
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"method_options.{key} must be a finite number, got {value!r}")
        if self.val_fraction is not None and not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        for key in ("train_subset", "val_subset", "test_subset"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)!r}")
        if self.tau_schedule == "anneal" and self.tau_final > self.tau0:
            raise ConfigError(
                f"tau_final {self.tau_final:g} is above tau0 {self.tau0:g}: the anneal schedule cools "
                "the gates from tau0 down to tau_final; lower tau_final or raise tau0"
            )
        positive = ("batch_size", "lr", "arch_lr", "tau0", "tau_final", "budget_rate")
        for key in positive:
            if not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be > 0, got {getattr(self, key)!r}")
        for key in (
            "warmup_epochs",
            "search_epochs",
            "finetune_epochs",
            "weight_decay",
            "tau_decay",
            "strength",
            "patience",
        ):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)!r}")
        for key in ("budget", "ram_budget"):
            if getattr(self, key) is not None and not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be > 0, got {getattr(self, key)!r}")
        _choice("sampling", self.sampling, SAMPLING)
        if self.flavour:
            _choice("flavour", self.flavour, tuple(FLAVOURS))
        for key in ("harden", "harden_collapse"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"{key} must be in [0, 1], got {getattr(self, key)!r}")
        _choice("tau_schedule", self.tau_schedule, TAU_SCHEDULES)
        _choice("arch_optimizer", self.arch_optimizer, OPTIMIZERS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not self.min_channels > 0 or (self.min_channels >= 1 and not float(self.min_channels).is_integer()):
            raise ConfigError(f"min_channels must be a count >= 1 or a fraction in (0, 1), got {self.min_channels!r}")
        _choice("amp", self.amp, AMP_MODES)
        if self.compile:
            _choice("compile", self.compile, COMPILE_MODES)
        if not DEVICE_NAME.fullmatch(self.device):
            raise ConfigError(f"device must be auto, cpu, mps, cuda or cuda:N; got {self.device!r}")
        for key in ("bits", "act_bits"):
            vals = getattr(self, key)
            if vals is not None and (not vals or any(not 0 <= b <= 32 for b in vals)):
                raise ConfigError(f"{key} must be a non-empty list of bit-widths in 0..32, got {list(vals)}")
        if 0 in self.act_bits:
            raise ConfigError("act_bits cannot contain 0 (activations are not pruned)")
        if not 1 <= self.uniform_bits <= 8:
            raise ConfigError(f"uniform_bits must be in 1..8, got {self.uniform_bits}")

    def min_kept(self, channels: int) -> int:
        """The fewest channels a group of `channels` may keep: `min_channels` as a count or a fraction."""
        want = self.min_channels if self.min_channels >= 1 else math.ceil(self.min_channels * channels)
        return int(min(max(want, 1), channels))

    def to_dict(self) -> dict[str, Any]:
        """The settings as config.json holds them, with the layout's version first (search/config_schema.py)."""
        return {"schema": SCHEMA, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        """Settings (TOML, --set) or, with a "schema" key, a saved config.json in any known layout."""
        if "schema" in data:
            data = migrate(data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            hint = did_you_mean(unknown[0], known) or f"; known keys: {', '.join(sorted(known))}"
            raise ConfigError(f"unknown config key {unknown[0]!r}{hint}")
        hints = get_type_hints(cls)
        return cls(**{k: _coerce(k, v, hints[k]) for k, v in data.items()})

    @classmethod
    def from_saved(cls, data: dict[str, Any]) -> SearchConfig:
        """A run folder's config.json, in the current layout or an older one (no "schema" key: schema 0)."""
        return cls.from_dict(migrate(data))


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")


def parse_quantity(text: str | float | int) -> float:
    """'20kB' -> 20000.0, '1.5MiB' -> 1572864.0, '2M' (cycles) -> 2e6, 3000 -> 3000.0."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2) not in _UNITS:
        raise ConfigError(
            f"cannot read quantity {text!r}; expected a number with an optional unit "
            f"({', '.join(u for u in _UNITS if u)}), e.g. 20kB or 2M"
        )
    return float(m.group(1)) * _UNITS[m.group(2)]


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Turn TOML/CLI values into the field's type, with an error naming the key."""
    union = get_origin(hint) in (Union, UnionType)
    types = [t for t in get_args(hint) if t is not type(None)] if union else [hint]
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and type(None) in get_args(hint)):
        if type(None) in get_args(hint):
            return None
        raise ConfigError(f"{key} cannot be empty")
    target = types[0]
    if isinstance(value, bool) and target is not bool:  # TOML `strength = true` is a typo, not 1.0
        raise ConfigError(f"{key}: expected {getattr(target, '__name__', 'a list')}, got the boolean {value!r}")
    if isinstance(value, dict) and key != "method_options":
        raise ConfigError(f"{key}: expected {getattr(target, '__name__', 'a value')}, got a table {value!r}")
    is_list = getattr(target, "__origin__", None) is tuple or key == "method_options"
    if isinstance(value, (list, tuple)) and not is_list:
        raise ConfigError(f"{key}: expected one {getattr(target, '__name__', 'value')}, got a list {list(value)!r}")
    try:
        if key in ("budget", "ram_budget"):
            return parse_quantity(value)
        if key in _PATH_LISTS:
            seq = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
            return tuple(str(v).strip() for v in seq if str(v).strip())
        if key == "method_options":
            items = value.items() if isinstance(value, dict) else _pairs(value)
            return tuple((str(k), _number_or_word(v)) for k, v in items)
        origin = getattr(target, "__origin__", None)
        if origin is tuple:  # 0,4,8 or [0,4,8] or "0 4 8"; words for tuple[str, ...] (classes = cat,dog)
            text = str(value).strip().strip("[]()")
            seq = value if isinstance(value, (list, tuple)) else text.replace(",", " ").split()
            item = (get_args(target) or (int,))[0]
            return tuple((str(v).strip() if item is str else _strict_int(v)) for v in seq)
        if target is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if target is int:
            return _strict_int(value)
        if target is str and not isinstance(value, str):
            raise ValueError(value)
        return target(value)
    except ConfigError:
        raise
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: cannot read {value!r} as {getattr(target, '__name__', target)}") from None


def _strict_int(v: Any) -> int:
    """int('4') and int(4.0), but not int(4.5) or int(True)."""
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError(v)
    return int(v) if not isinstance(v, str) else int(v.strip())


def _number_or_word(value: Any) -> float | str:
    """A method option's value: a number when it reads as one, else the word itself (e.g. "unstructured")."""
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value).strip().strip("\"'")


def _pairs(text: Any) -> list[tuple[str, str]]:
    if isinstance(text, (list, tuple)):
        return [tuple(p) for p in text]
    return [tuple(p.split(":", 1)) for p in str(text).split(",") if p]


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML config, or a run's config.json in any known layout (so a finished run's settings can be run again)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read ({type(exc).__name__})") from None
    if text.startswith("\ufeff"):
        if path.suffix != ".json":  # JSON readers may ignore a byte-order mark (RFC 8259); TOML has none
            raise ConfigError(
                f"config file {path} starts with a UTF-8 byte-order mark (BOM), which TOML does not "
                "allow: save it as UTF-8 without BOM"
            )
        text = text[1:]
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a JSON object of settings")
        return {k: v for k, v in migrate(data).items() if v is not None}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """['lr=1e-4', 'bits=0,4,8'] -> {'lr': '1e-4', 'bits': '0,4,8'}, with a one-line error for a malformed item."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key=value")
        out[key.strip()] = value.strip()
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> SearchConfig:
    """TOML file (optional; its [sweep] table is for `bitgate sweep`) then `key=value` overrides."""
    data = read_toml(path) if path is not None else {}
    data.pop("sweep", None)
    data.update(parse_overrides(overrides))
    return SearchConfig.from_dict(data)
