"""Deployment flavours: what each exporter writes, as data both the exporter and the cost models read.

A flavour is a way of deploying a searched network (deploy/): `reference` writes the exact integer
model with portable C kernels (int32 bias, int32 multiplier, int8 shift per kept channel; NCHW
tensors, int32 tensors at adds and average pools); `cmsis-nn` writes int8 NHWC tensors and calls
CMSIS-NN's kernels, whose per-channel quantization takes an int32 multiplier and an int32 shift
(`cmsis_nn_per_channel_quant_params`), so a kept channel costs 4 + 4 + 4 bytes of metadata.

The cost models price the flavour the search is told to deploy (a target's default, or the
search's `flavour` setting), so the `memory` cost is the bytes that flavour writes and
`peak_activation_ram` the RAM it allocates. tests/deploy check both against the exporter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavour:
    """The per-channel metadata one flavour stores in Flash, and how it keeps activations in RAM."""

    name: str
    description: str
    bias_bytes: int  # per kept output channel
    multiplier_bytes: int
    shift_bytes: int
    int8_activations: bool  # every tensor int8 (one byte per value, no int32 intermediates)

    @property
    def metadata_bytes(self) -> int:
        """Bytes of bias + requantization parameters stored for each kept output channel."""
        return self.bias_bytes + self.multiplier_bytes + self.shift_bytes


FLAVOURS: dict[str, Flavour] = {
    "reference": Flavour(
        "reference",
        "exact integer model, portable C kernels (deploy/c_reference.py)",
        bias_bytes=4,
        multiplier_bytes=4,
        shift_bytes=1,
        int8_activations=False,
    ),
    "cmsis-nn": Flavour(
        "cmsis-nn",
        "int8 NHWC, calls to Arm CMSIS-NN kernels (deploy/c_cmsis.py)",
        bias_bytes=4,
        multiplier_bytes=4,
        shift_bytes=4,
        int8_activations=True,
    ),
}


def get_flavour(name: str) -> Flavour:
    """The flavour `name`, or one line naming the known ones."""
    try:
        return FLAVOURS[name]
    except KeyError:
        raise ValueError(f"unknown flavour {name!r}; choose from {', '.join(FLAVOURS)}") from None
