"""Start a zoo or `tv:` model from a weights file (`pretrained = "path/to/weights.pt"`), never a download.

The file is read with `torch.load(..., weights_only=True)`: tensors and plain containers only, no
pickled code (a weights file is data). Accepted: a state dict, or a dict holding one under
"state_dict" or "model" (common checkpoint shapes); a "module." prefix (DataParallel) is dropped.

Every key must match the model's and every shape too, with one exception: the classifier (the
model's last Linear layer) may differ in its number of outputs, as when ImageNet weights start a
200-class Tiny ImageNet ResNet-18 (seed 001's third benchmark); it then keeps its fresh init.
Anything else is refused in one line naming the first offending key.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from zoo.safe_load import load_failure, safe_torch_load


class PretrainedError(ValueError):
    """A weights file that cannot start this model; the message is one line."""


def read_state(path: str | Path) -> dict[str, Tensor]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise PretrainedError(f"pretrained weights {path} do not exist")
    try:
        obj = safe_torch_load(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one plain error
        raise PretrainedError(
            f"pretrained weights {path} cannot be read as a tensor state dict: {load_failure(exc)}"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise PretrainedError(f"pretrained weights {path} hold no state dict (a dict of tensors)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def classifier_prefix(model: nn.Module) -> str | None:
    """Module path of the model's last Linear layer (its output size follows num_classes)."""
    last = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            last = name
    return last


def load_pretrained(model: nn.Module, path: str | Path) -> list[str]:
    """Copy the weights of `path` into `model`; returns the keys left at their init (the classifier's)."""
    state = read_state(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        what = f"missing key {missing[0]!r}" if missing else f"unexpected key {unexpected[0]!r}"
        raise PretrainedError(
            f"pretrained weights {path} do not fit the model: {what} "
            f"({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    head = classifier_prefix(model)
    skipped = []
    for k, v in own.items():
        if tuple(state[k].shape) == tuple(v.shape):
            continue
        if head is not None and k.startswith(head + ".") and state[k].shape[1:] == v.shape[1:]:
            skipped.append(k)
            continue
        raise PretrainedError(
            f"pretrained weights {path} do not fit the model: {k!r} has shape "
            f"{tuple(state[k].shape)}, the model needs {tuple(v.shape)}"
        )
    model.load_state_dict({k: (own[k] if k in skipped else state[k]) for k in own})
    return skipped
