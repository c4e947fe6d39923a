"""A method's own settings: one frozen, validated dataclass per method, read from `method_options`.

SearchConfig keeps `method_options` as plain (key, number | word) pairs, so a TOML table or
`--set method_options=rho:0.001` needs no knowledge of the methods. A method's options class turns
them into typed fields, with the defaults in one place, and refuses an unknown key or a bad value
in one line before any training (search.run.resolve):

    @dataclass(frozen=True)
    class AdmmOptions(MethodOptions):
        rho: float = 3e-4
        sparsity: Literal["channel", "unstructured"] = "channel"  # a word option: its choices

        def __post_init__(self) -> None:
            require(self.rho > 0, "rho must be > 0", self.rho)

    opts = AdmmOptions.from_config(ctx.cfg)  # in the method
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from types import UnionType
from typing import Any, Literal, Self, Union, get_args, get_origin, get_type_hints

from search.config import ConfigError, SearchConfig
from search.errors import did_you_mean


def require(ok: bool, what: str, value: Any) -> None:
    """Refuse an option value in one line: 'method_options.rho must be > 0, got -1.0'."""
    if not ok:
        raise ConfigError(f"method_options.{what}, got {value!r}")


@dataclass(frozen=True)
class MethodOptions:
    """The base of every method's options; a method without options uses it as it is."""

    @classmethod
    def words(cls) -> dict[str, tuple[str, ...]]:
        """The word options (the Literal fields) and their choices."""
        hints = get_type_hints(cls)
        return {f.name: get_args(hints[f.name]) for f in fields(cls) if get_origin(hints[f.name]) is Literal}

    @classmethod
    def from_pairs(cls, method: str, pairs: tuple[tuple[str, float | str], ...]) -> Self:
        """The options of `method` from (key, value) pairs; a repeated key takes its last value."""
        hints = get_type_hints(cls)
        known = [f.name for f in fields(cls)]
        values = {}
        for key, value in pairs:
            if key not in hints:
                names = ", ".join(known) if known else "none"
                hint = did_you_mean(key, known)
                raise ConfigError(
                    f"method_options.{key}: method {method} has no such option{hint}; its options: {names}"
                )
            values[key] = _coerce(key, value, hints[key])
        return cls(**values)

    @classmethod
    def from_config(cls, cfg: SearchConfig) -> Self:
        return cls.from_pairs(cfg.method, cfg.method_options)


def _coerce(key: str, value: float | str, hint: Any) -> Any:
    """A (number | word) value as the field's type: a word among its choices, a whole number, a number."""
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        if str(value) not in choices:
            raise ConfigError(f"method option {key} must be one of {', '.join(choices)}; got {str(value)!r}")
        return str(value)
    if get_origin(hint) in (Union, UnionType):  # float | None: None is the default, a given value is a number
        hint = next(t for t in get_args(hint) if t is not type(None))
    if isinstance(value, str) or not math.isfinite(value):
        raise ConfigError(f"method_options.{key} must be a finite number, got {value!r}")
    if hint is int:
        require(float(value).is_integer(), f"{key} must be a whole number", value)
        return int(value)
    return float(value)
