"""model.pt as data: a plain state dict plus what is needed to rebuild the network, never a pickled module.

A run folder travels between people and machines, so reading one must not run code from it:
model.pt is loaded with ``torch.load(weights_only=True)`` and the module is rebuilt from the
zoo model named in it, the run's arch.json (channels, bits, and a clustering codebook if any)
and the saved tensors.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from search.run_files import read_arch
from search.rundir import RunFileError, atomic_torch_save, load_tensors
from supernet import Architecture, materialize, to_supernet

MODEL_FORMAT = "bitgate-model/1"


def save_model(
    path: Path,
    model: nn.Module,
    model_name: str,
    num_classes: int,
    in_shape: tuple[int, ...],
    seed: int = 0,
    exclude: tuple[str, ...] = (),
) -> None:
    """Write the materialized network's tensors and the zoo model they belong to.

    exclude: the run's `exclude` module paths (float layers the rebuild must leave float)."""
    atomic_torch_save(
        path,
        {
            "format": MODEL_FORMAT,
            "model": model_name,
            "num_classes": int(num_classes),
            "in_shape": [int(s) for s in in_shape],
            "seed": int(seed),
            "exclude": [str(p) for p in exclude],
            "state": model.state_dict(),
        },
    )


def rebuild(
    model_name: str,
    num_classes: int,
    in_shape: tuple[int, ...],
    arch: Architecture,
    seed: int = 0,
    exclude: tuple[str, ...] = (),
) -> nn.Module:
    """The materialized network `arch` describes, with freshly initialised tensors (load a state into it)."""
    from zoo.models import create_model

    torch.manual_seed(seed)
    model = create_model(model_name, num_classes, tuple(in_shape))
    bits = sorted({0} | {b for bs in arch.weight_bits.values() for b in bs})
    acts = sorted(set(arch.act_bits.values()))
    net = to_supernet(model, torch.zeros(2, *in_shape), bits=bits, act_bits=acts, exclude=tuple(exclude))
    small = materialize(net, arch)
    codebook = arch.meta.get("codebook")
    if codebook:  # twonn-cluster: k-means weight sharing (its codebook and indices come from the state)
        from search.methods.clustering import cluster_network

        trained = set(codebook.get("trained", ()))
        layers = {n: n in trained for n in codebook["layers"]}
        small = cluster_network(small, layers, int(codebook["clusters"]), int(codebook["value_bits"]), seed)
    return small


def load_model(run_dir: Path) -> nn.Module:
    """RUN_DIR/model.pt as a module, read with weights_only=True and rebuilt from RUN_DIR/arch.json."""
    run_dir = Path(run_dir)
    path = run_dir / "model.pt"
    saved = load_tensors(path, required=("format", "model", "num_classes", "in_shape", "state"))
    if saved["format"] != MODEL_FORMAT:
        raise RunFileError(f"{path} is not a valid checkpoint (format {saved['format']!r}, expected {MODEL_FORMAT})")
    arch = load_arch(run_dir / "arch.json")
    try:
        model = rebuild(
            str(saved["model"]),
            int(saved["num_classes"]),
            tuple(saved["in_shape"]),
            arch,
            int(saved.get("seed", 0)),
            tuple(str(p) for p in saved.get("exclude", ())),
        )
        masks = {k[: -len(".weight_mask")]: v for k, v in saved["state"].items() if k.endswith(".weight_mask")}
        if masks:  # element-wise pruned runs (search.methods.sparsity): masked weights stay 0
            from search.methods.sparsity import apply_masks

            apply_masks(model, masks)
        model.load_state_dict(saved["state"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunFileError(f"{path} does not match {run_dir / 'arch.json'} ({first})") from None
    return model.eval()


def load_arch(path: Path) -> Architecture:
    """arch.json, with a one-line error naming the file when it is missing or unreadable (search/run_files.py)."""
    return read_arch(path)
