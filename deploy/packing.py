"""Bit packing of signed integer weights: the byte format of the C export and of the `size` cost model.

A packed array is a little-endian bit stream: value i occupies stream bits
[i * bits, (i + 1) * bits), and stream bit k is bit (k % 8) of byte k // 8 (bit 0 = LSB).
So 2-bit values go 4 per byte with the first value in bits 1..0, 4-bit values go 2 per byte
with the first value in the low nibble, and 8-bit values are plain int8 bytes. The last byte
is zero-padded: an array of n values occupies ceil(n * bits / 8) bytes.

Fields are two's complement (bits >= 2). 1 bit is binary: bit 0 means +1, bit 1 means -1 (the
sign bit of a two's complement number, as in XNOR-Net style sign(W) * alpha layers).
"""

from __future__ import annotations

import numpy as np

MAX_BITS = 32


def packed_bytes(count: int, bits: int) -> int:
    """Bytes an array of `count` values of `bits` bits occupies (last byte zero-padded)."""
    return -(-count * bits // 8)


def _check_bits(bits: int) -> None:
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an int in 1..{MAX_BITS}, got {bits!r}")


def pack(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack integers into a uint8 array (see module docstring); refuses values that do not fit."""
    _check_bits(bits)
    v = np.asarray(values).astype(np.int64).ravel()
    if bits == 1:
        if v.size and not np.all(np.abs(v) == 1):
            raise ValueError("1-bit values must be -1 or +1")
        fields = (v < 0).astype(np.uint64)
    else:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        if v.size and (v.min() < lo or v.max() > hi):
            raise ValueError(f"values {int(v.min())}..{int(v.max())} do not fit {bits}-bit two's complement")
        fields = (v & ((1 << bits) - 1)).astype(np.uint64)
    stream = (fields[:, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)
    return np.packbits(stream.astype(np.uint8).ravel(), bitorder="little")


def unpack(data: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of `pack`: the first `count` values of the stream, as int32."""
    _check_bits(bits)
    data = np.asarray(data, dtype=np.uint8).ravel()
    need = packed_bytes(count, bits)
    if data.size < need:
        raise ValueError(f"{count} values of {bits} bits need {need} bytes, got {data.size}")
    stream = np.unpackbits(data[:need], bitorder="little")[: count * bits].reshape(count, bits)
    fields = (stream.astype(np.int64) << np.arange(bits, dtype=np.int64)).sum(1)
    if bits == 1:
        return (1 - 2 * fields).astype(np.int32)
    fields = np.where(fields >= 2 ** (bits - 1), fields - 2**bits, fields)
    return fields.astype(np.int32)
