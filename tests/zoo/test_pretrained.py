"""`pretrained = "weights.pt"`: weights-only loading into zoo and tv: models, one-line refusals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from zoo.models import create_model
from zoo.pretrained import PretrainedError, load_pretrained


def test_zoo_model_starts_from_saved_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = create_model("digits_cnn", 10, (1, 8, 8))
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "w.pt")
    torch.manual_seed(1)
    dst = create_model("digits_cnn", 10, (1, 8, 8))
    assert load_pretrained(dst, tmp_path / "w.pt") == []
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(src.eval()(x), dst.eval()(x))


def test_tv_classifier_may_change_its_number_of_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    imagenet_like = create_model("tv:resnet18", 1000, (3, 32, 32))
    torch.save(imagenet_like.state_dict(), tmp_path / "r18.pt")
    model = create_model("tv:resnet18", 200, (3, 64, 64))
    fresh_fc = model.fc.weight.detach().clone()
    assert sorted(load_pretrained(model, tmp_path / "r18.pt")) == ["fc.bias", "fc.weight"]
    assert torch.equal(model.conv1.weight, imagenet_like.conv1.weight)
    assert torch.equal(model.fc.weight, fresh_fc)


def test_mismatches_are_refused_in_one_line(tmp_path: Path) -> None:
    state = create_model("digits_cnn", 10, (1, 8, 8)).state_dict()
    wrong_shape = {**state, "features.0.weight": torch.zeros(8, 1, 3, 3)}
    torch.save(wrong_shape, tmp_path / "shape.pt")
    torch.save({k: v for k, v in state.items() if k != "fc.bias"}, tmp_path / "missing.pt")
    torch.save({"net": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pt")  # a module object, not tensors
    model = create_model("digits_cnn", 10, (1, 8, 8))
    cases = {
        "shape.pt": "'features.0.weight' has shape \\(8, 1, 3, 3\\), the model needs \\(16, 1, 3, 3\\)",
        "missing.pt": "missing key 'fc.bias'",
        "pickled.pt": "cannot be read",
        "absent.pt": "do not exist",
    }
    for name, msg in cases.items():
        with pytest.raises(PretrainedError, match=msg) as err:
            load_pretrained(model, tmp_path / name)
        assert "\n" not in str(err.value)


def test_run_refuses_a_bad_file_before_training(tmp_path: Path) -> None:
    from search.config import ConfigError, SearchConfig
    from search.run import run

    cfg = SearchConfig(
        model="mlp",
        dataset="synthetic",
        train_subset=32,
        warmup_epochs=0,
        search_epochs=0,
        finetune_epochs=0,
        out_dir=str(tmp_path),
        progress=False,
        pretrained="nope.pt",
    )
    with pytest.raises(ConfigError, match="pretrained: weights file nope.pt does not exist"):
        run(cfg)
    torch.save({"0.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(PretrainedError):
        run(replace(cfg, pretrained=str(tmp_path / "bad.pt")))
    assert not any(tmp_path.glob("*/config.json"))


@pytest.mark.slow
def test_tiny_imagenet_resnet18_from_pretrained_weights_end_to_end(tmp_path: Path) -> None:
    """Seed 001's third benchmark, plumbing only: tinyimagenet + tv:resnet18 from a weights file."""
    from test_data_classes import write_tiny_imagenet  # sibling module (prepend import mode)

    from search.config import SearchConfig
    from search.run import run

    write_tiny_imagenet(tmp_path / "tin", ["n01443537", "n01629819"], per_class=6, val_per_class=2)
    torch.manual_seed(0)
    torch.save(create_model("tv:resnet18", 1000, (3, 64, 64)).state_dict(), tmp_path / "r18.pt")
    cfg = SearchConfig(
        model="tv:resnet18",
        dataset="tinyimagenet",
        data_root=str(tmp_path / "tin"),
        pretrained=str(tmp_path / "r18.pt"),
        method="uniform",
        warmup_epochs=0,
        search_epochs=0,
        finetune_epochs=1,
        batch_size=8,
        out_dir=str(tmp_path / "runs"),
        progress=False,
    )
    metrics = run(cfg)
    assert metrics["dataset"] == "tinyimagenet" and 0.0 <= metrics["test_acc"] <= 1.0
