"""A hardware target as plain data: what the kernels support and what memory there is.

Cost models read these fields; no hardware constant lives inside a cost function.
A target is validated on construction so that a typo in a device file fails at load
time with one line naming the bad field, not later inside a cost model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from targets.flavour import FLAVOURS, Flavour, get_flavour


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class Target:
    """One device (or device family member) that bitgate searches for.

    weight_bits are the options the search may choose per output channel (0 = pruned).
    storage_bits maps every deployable weight bit-width to the bits it occupies in Flash;
    its keys may be a superset of weight_bits (e.g. 1-bit for a baseline's binary layers)
    and missing weight_bits entries default to identity. act_bits are the activation
    bit-widths the kernels support; default_act_bits is used when activations are not
    searched. `family` selects the latency model ("mpic", "gap8", "cortex-m"; "generic"
    has none); params holds that model's constants. `flavour` is how its networks are deployed
    (targets/flavour.py): the cost models price the bytes and RAM that flavour writes.
    """

    name: str
    description: str
    flash_bytes: int
    ram_bytes: int
    clock_hz: int
    weight_bits: tuple[int, ...]  # options the kernels support; 0 = pruned
    act_bits: tuple[int, ...]  # activation bit-widths the kernels support
    costs: tuple[str, ...]  # cost models that make sense here; the first is the search default
    storage_bits: dict[int, int] = field(default_factory=dict)  # bits an option occupies in Flash
    params: dict[str, Any] = field(default_factory=dict)  # constants read by this target's cost models
    family: str = "generic"  # which latency model applies (see cost_models.registry applies_to)
    default_act_bits: int = 0  # activation bits when they are not searched; 0 -> max(act_bits)
    flavour: str = "reference"  # how networks for it are deployed (targets/flavour.py); cost models price it

    def __post_init__(self) -> None:
        who = f"target {self.name!r}"
        if not isinstance(self.name, str) or not self.name or any(ch.isspace() for ch in self.name):
            raise ValueError(f"target name must be a non-empty string without spaces, got {self.name!r}")
        if not isinstance(self.description, str):
            raise ValueError(f"{who}: description must be a string, got {type(self.description).__name__}")
        for key in ("flash_bytes", "ram_bytes", "clock_hz"):
            value = getattr(self, key)
            if not _is_int(value) or value <= 0:
                raise ValueError(f"{who}: {key} must be a positive int, got {value!r}")
        wbits = self._bits("weight_bits", self.weight_bits, low=0)
        if not any(b > 0 for b in wbits):
            raise ValueError(f"{who}: weight_bits needs at least one non-zero option, got {list(wbits)}")
        abits = self._bits("act_bits", self.act_bits, low=1)
        if isinstance(self.costs, str) or not all(isinstance(c, str) and c for c in self.costs):
            raise ValueError(f"{who}: costs must be a list of cost model names, got {self.costs!r}")
        if not isinstance(self.storage_bits, dict) or not isinstance(self.params, dict):
            raise ValueError(f"{who}: storage_bits and params must be tables (dicts)")
        storage = {}
        for b, s in self.storage_bits.items():
            if not (_is_int(b) and _is_int(s)) or not 1 <= b <= s <= 32:
                raise ValueError(f"{who}: storage_bits entry {b!r} = {s!r} must map bits in 1..32 to >= bits")
            storage[b] = s
        for b in wbits:
            if b > 0:
                storage.setdefault(b, b)
        if not isinstance(self.family, str) or not self.family:
            raise ValueError(f"{who}: family must be a non-empty string, got {self.family!r}")
        if not isinstance(self.flavour, str) or self.flavour not in FLAVOURS:
            raise ValueError(f"{who}: unknown flavour {self.flavour!r}; choose from {', '.join(FLAVOURS)}")
        for key in ("bias_bytes", "multiplier_bytes", "shift_bytes"):
            if key in self.params:
                raise ValueError(
                    f"{who}: params.{key} is not a target setting: the per-channel metadata is the "
                    f"flavour's ({self.flavour!r} writes {get_flavour(self.flavour).metadata_bytes} "
                    "bytes per kept channel, targets/flavour.py)"
                )
        default_act = self.default_act_bits or max(abits)
        if default_act not in abits:
            raise ValueError(f"{who}: default_act_bits {default_act!r} is not one of act_bits {list(abits)}")
        object.__setattr__(self, "default_act_bits", default_act)
        object.__setattr__(self, "weight_bits", wbits)
        object.__setattr__(self, "act_bits", abits)
        object.__setattr__(self, "costs", tuple(self.costs))
        object.__setattr__(self, "storage_bits", dict(sorted(storage.items())))

    def _bits(self, key: str, value: Any, low: int) -> tuple[int, ...]:
        try:
            bits = tuple(sorted(set(value)))
        except TypeError:
            bits = ()
        if not bits or not all(_is_int(b) and low <= b <= 32 for b in bits):
            raise ValueError(f"target {self.name!r}: {key} must be a non-empty list of ints {low}..32, got {value!r}")
        return bits

    @property
    def prunable(self) -> bool:
        """Whether the search may remove channels (0 is a weight option)."""
        return 0 in self.weight_bits

    @property
    def deploy_flavour(self) -> Flavour:
        """The flavour the cost models price (what `export` writes by default)."""
        return get_flavour(self.flavour)

    def with_flavour(self, flavour: str) -> Target:
        """This target deployed with another flavour ("" keeps its own)."""
        return self if not flavour or flavour == self.flavour else replace(self, flavour=flavour)

    def storage(self, bits: int) -> int:
        """Bits one weight of a `bits`-bit channel occupies in Flash (0 for pruned)."""
        if bits == 0:
            return 0
        if bits not in self.storage_bits:
            raise ValueError(
                f"target {self.name!r} cannot store {bits}-bit weights (storable: {sorted(self.storage_bits)})"
            )
        return self.storage_bits[bits]
