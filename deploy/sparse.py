"""Sparse storage of the exported weights: per precision group, dense or bitmask + packed non-zeros.

Works on the (manifest, arrays) pair of the C export (manifest.py), so it stays independent of how
the exporter builds them. `encode` rewrites every precision group whose bitmask form is smaller:

  <array>_mask  uint8, ceil(count * wpc / 8) bytes: bit k (little-endian bit order, packing.py) is
                set when weight k of the group's dense stream (channel after channel) is non-zero
  <array>_nz    uint8, the group's non-zero integer weights in stream order, packed at the group's
                storage bits (packing.py): ceil(nnz * storage_bits / 8) bytes

and marks the group {"format": "bitmask", "mask": ..., "values": ..., "nonzeros": nnz}; dense
groups get {"format": "dense"}. The bytes are exactly cost_models/size_sparse.py's (one-hot ==
export). `decode` restores the dense form, which the reference interpreter runs: a kernel that
reads the bitmask walks the same stream (skip the weight when its bit is 0), which is what the
round trip test checks through the interpreter.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from deploy.packing import pack, packed_bytes, unpack

SPARSE_LAYOUT = (
    "per precision group: dense, or bitmask (1 bit per weight of the group's dense stream, "
    "set = non-zero) + the non-zero weights packed at storage bits"
)


def sparse_group_bytes(count: int, nonzeros: int, storage_bits: int) -> int:
    """Bytes of one group in bitmask form: mask + packed non-zeros."""
    return packed_bytes(count, 1) + packed_bytes(nonzeros, storage_bits)


def encode_group(dense: np.ndarray, storage_bits: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask, values) of a dense packed group of `count` weights."""
    w = unpack(dense, storage_bits, count)
    nz = w != 0
    return np.packbits(nz.astype(np.uint8), bitorder="little"), pack(w[nz], storage_bits)


def decode_group(mask: np.ndarray, values: np.ndarray, storage_bits: int, count: int) -> np.ndarray:
    """The dense packed group again (inverse of `encode_group`)."""
    nz = np.unpackbits(np.asarray(mask, dtype=np.uint8), bitorder="little")[:count].astype(bool)
    w = np.zeros(count, dtype=np.int64)
    w[nz] = unpack(values, storage_bits, int(nz.sum()))
    return pack(w, storage_bits)


def _groups(manifest: dict[str, Any]):
    for op in manifest["ops"]:
        if op["op"] == "layer":
            for group in op["precision_groups"]:
                yield op, group


def _relayout(manifest: dict[str, Any], arrays: dict[str, np.ndarray], kinds: dict[str, str]) -> None:
    """Rebuild the array table (4-byte aligned offsets in model.bin) and the byte totals."""
    offset, table = 0, {}
    for name, a in arrays.items():
        offset = -(-offset // 4) * 4
        table[name] = {
            "kind": kinds[name],
            "dtype": str(a.dtype),
            "count": int(a.size),
            "bytes": int(a.nbytes),
            "offset": offset,
        }
        offset += a.nbytes
    manifest["arrays"] = table
    weight = sum(a.nbytes for n, a in arrays.items() if kinds[n] == "weights")
    meta = sum(a.nbytes for n, a in arrays.items() if kinds[n] != "weights")
    manifest["bytes"] = {"weights": int(weight), "metadata": int(meta), "flash": int(weight + meta)}


def encode(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A copy of the export with every precision group stored in its smaller form (see module docstring)."""
    manifest = copy.deepcopy(manifest)
    kinds = {n: s["kind"] for n, s in manifest["arrays"].items()}
    out: dict[str, np.ndarray] = {}
    rewritten: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for op, group in _groups(manifest):
        count = group["count"] * op["weights_per_channel"]
        mask, values = encode_group(arrays[group["weights"]], group["storage_bits"], count)
        if mask.nbytes + values.nbytes < arrays[group["weights"]].nbytes:
            rewritten[group["weights"]] = (mask, values)
            nnz = int((unpack(arrays[group["weights"]], group["storage_bits"], count) != 0).sum())
            name = group.pop("weights")
            group.update(
                format="bitmask",
                mask=f"{name}_mask",
                values=f"{name}_nz",
                nonzeros=nnz,
                bytes=int(mask.nbytes + values.nbytes),
            )
        else:
            group["format"] = "dense"
    for name, a in arrays.items():
        if name in rewritten:
            for suffix, part in zip(("_mask", "_nz"), rewritten[name], strict=True):
                out[name + suffix], kinds[name + suffix] = part, "weights"
            del kinds[name]
        else:
            out[name] = a
    manifest["layout"]["sparse"] = SPARSE_LAYOUT
    _relayout(manifest, out, kinds)
    return manifest, out


def decode(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The dense export an encoded one stands for (same arrays the exporter wrote before `encode`)."""
    manifest = copy.deepcopy(manifest)
    kinds = {n: s["kind"] for n, s in manifest["arrays"].items()}
    dense: dict[str, np.ndarray] = {}
    for op, group in _groups(manifest):
        if group.get("format") == "bitmask":
            count = group["count"] * op["weights_per_channel"]
            name = group["mask"].removesuffix("_mask")
            dense[group["mask"]] = decode_group(
                arrays[group["mask"]], arrays[group["values"]], group["storage_bits"], count
            )
            for key in ("mask", "values", "nonzeros", "format"):
                group.pop(key)
            group.update(weights=name, bytes=int(dense[f"{name}_mask"].nbytes))
    out: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        if name in dense:
            base = name.removesuffix("_mask")
            out[base], kinds[base] = dense[name], "weights"
            del kinds[name]
        elif name.endswith("_nz") and name.removesuffix("_nz") + "_mask" in dense:
            del kinds[name]
        else:
            out[name] = a
    for _, group in _groups(manifest):
        group.pop("format", None)
    manifest["layout"].pop("sparse", None)
    _relayout(manifest, out, kinds)
    return manifest, out
