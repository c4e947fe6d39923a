"""A discrete architecture: the bits of every output channel of every searchable layer.

This is what every method writes to `arch.json`, what cost models price exactly, and
what `materialize` and the exporter build a network from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Architecture:
    """Per-layer choices; 0 bits means the channel is pruned.

    `weight_bits[layer][c]` is the weight bit-width of output channel c of `layer`
    (module path in the original model); `act_bits[layer]` the bit-width of that layer's
    input activations. `meta` carries provenance (model, target, method) for plots.
    """

    weight_bits: dict[str, tuple[int, ...]]
    act_bits: dict[str, int]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, bits in self.weight_bits.items():
            if not bits:
                raise ValueError(f"architecture layer {name!r} has no channels")
            bad = [b for b in bits if not (isinstance(b, int) and 0 <= b <= 32)]
            if bad:
                raise ValueError(
                    f"architecture layer {name!r} has invalid bit-widths {bad[:3]}; expected ints in 0..32"
                )
        missing = set(self.weight_bits) ^ set(self.act_bits)
        if missing:
            raise ValueError(f"architecture layers without both weight and activation bits: {sorted(missing)}")

    @classmethod
    def uniform(cls, channels: dict[str, int], weight_bits: int, act_bits: int, **meta: Any) -> Architecture:
        """Every channel of every layer (name -> output channels) kept at the same bit-widths."""
        return cls({n: (weight_bits,) * c for n, c in channels.items()}, dict.fromkeys(channels, act_bits), meta)

    def kept(self, layer: str) -> list[int]:
        """Indices of the channels of `layer` that survive pruning."""
        return [c for c, b in enumerate(self.weight_bits[layer]) if b > 0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "bitgate-arch/1",
            "meta": self.meta,
            "layers": {
                name: {"weight_bits": list(bits), "act_bits": self.act_bits[name]}
                for name, bits in self.weight_bits.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        if data.get("format") != "bitgate-arch/1":
            raise ValueError(f"not a bitgate architecture (format={data.get('format')!r}, expected 'bitgate-arch/1')")
        layers = data["layers"]
        return cls(
            weight_bits={k: tuple(int(b) for b in v["weight_bits"]) for k, v in layers.items()},
            act_bits={k: int(v["act_bits"]) for k, v in layers.items()},
            meta=dict(data.get("meta", {})),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> Architecture:
        path = Path(path)
        try:
            return cls.from_json(path.read_text())
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot read architecture {path}: {exc}") from exc
