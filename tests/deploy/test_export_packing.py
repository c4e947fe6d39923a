"""Bit packing: little-endian bit stream, two's complement fields, 1 bit = sign (0 -> +1, 1 -> -1)."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.packing import pack, packed_bytes, unpack


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("count", [1, 3, 7, 13, 101])
def test_round_trip_odd_lengths(bits, count):
    rng = np.random.default_rng(bits * 1000 + count)
    if bits == 1:
        values = rng.choice([-1, 1], count)
    else:
        values = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), count)
    data = pack(values, bits)
    assert data.dtype == np.uint8 and data.size == packed_bytes(count, bits) == -(-count * bits // 8)
    np.testing.assert_array_equal(unpack(data, bits, count), values)


def test_hand_packed_bytes():
    # 2-bit: fields 01, 11, 00, 01 from bit 0 upwards -> 0b01_00_11_01
    assert pack([1, -1, 0, 1], 2).tolist() == [0x4D]
    # 4-bit: first value in the low nibble; the odd last value pads the high nibble with 0
    assert pack([-8, 7, 3], 4).tolist() == [0x78, 0x03]
    # 1-bit: bit set for -1
    assert pack([1, -1, -1, 1, 1, 1, 1, 1, -1], 1).tolist() == [0x06, 0x01]
    # 8-bit: plain two's complement bytes
    assert pack([-1, 127, -127], 8).tolist() == [0xFF, 0x7F, 0x81]
    # 3-bit fields cross byte boundaries: 3 = 011, -1 = 111, 2 = 010 -> bits 011 111 010 (LSB first)
    assert pack([3, -1, 2], 3).tolist() == [0b1011_1011, 0]


def test_refuses_values_that_do_not_fit():
    with pytest.raises(ValueError, match="do not fit"):
        pack([2], 2)
    with pytest.raises(ValueError, match="-1 or \\+1"):
        pack([0], 1)
    with pytest.raises(ValueError, match="need"):
        unpack(np.zeros(1, np.uint8), 4, 3)
