"""latency_cortexm as one batched computation: the same values and gradients as the per-layer reference
(tests/cost_models/cortexm_reference.py: the model written call by call), on the Cortex-M models and every
Cortex-M target, and a number of tensor operations that does not grow with the network's depth."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torchvision
from cortexm_reference import instructions as reference

import cost_models
from cost_models.latency_cortexm import instructions, target_table
from search.opcount import OpCounter, summary
from search.pricing import layer_choices
from supernet import discretize, to_supernet
from supernet.spec import LayerChoices
from targets import get_target, target_names
from zoo.models import create_model

CORTEX_M = [n for n in target_names() if get_target(n).family == "cortex-m"]


def small_mobilenet_v2() -> torch.nn.Module:
    blocks = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2]]  # t, c, n, s: every op it deploys with
    return torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.25, inverted_residual_setting=blocks)


MODELS = {
    "digits_cnn": (lambda: create_model("digits_cnn", 10, (1, 8, 8)), (1, 8, 8)),
    "resnet8": (lambda: create_model("resnet8", 10, (3, 32, 32)), (3, 32, 32)),
    "dscnn": (lambda: create_model("dscnn", 12, (1, 49, 10)), (1, 49, 10)),
    "mobilenet_v2": (small_mobilenet_v2, (3, 32, 32)),
}


@pytest.fixture(scope="module")
def supernets() -> dict:
    out = {}
    for name, (make, shape) in MODELS.items():
        torch.manual_seed(0)
        out[name] = to_supernet(make(), torch.randn(4, *shape), bits=(0, 4, 8))
    return out


def randomize(net, seed: int) -> None:
    """Gates far from their init: mixed 4/8-bit layers with pruned channels, soft and one-hot alike."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for gate in net.all_gates():
            gate.alpha.copy_(torch.randn(gate.alpha.shape, generator=g) * (1 + seed))


def float64_leaves(choices: LayerChoices) -> tuple[LayerChoices, list[torch.Tensor]]:
    """The same choices from float64 leaves (weight-option logits, input keeps), so gradients are compared
    without the float32 gates' rounding."""
    leaves, out = [], []
    for c in choices:
        logits = torch.log(c.weight_probs.detach().double()).requires_grad_(True)
        keep = c.in_keep.detach().double().requires_grad_(True)
        leaves += [logits, keep]
        out.append(replace(c, weight_probs=torch.softmax(logits, 0), in_keep=keep))
    return LayerChoices(out, planner=choices._planner), leaves


@pytest.mark.parametrize("target_name", CORTEX_M)
@pytest.mark.parametrize("model", MODELS)
def test_batched_equals_the_per_layer_reference(supernets, model, target_name):
    net, target = supernets[model], get_target(target_name)
    table = target_table(target)
    for seed in (0, 1):
        randomize(net, seed)
        with torch.no_grad():  # one-hot: the same sums of table coefficients x whole counts, in another order
            one_hot = layer_choices(net, discretize(net, {}))
            want = float(reference(one_hot, table, target))
            assert float(instructions(one_hot, table, target)) == pytest.approx(want, rel=4e-15, abs=0)
        soft, leaves = float64_leaves(layer_choices(net))
        got, want = instructions(soft, table, target), reference(soft, table, target)
        assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-13, abs=0)
        mine = torch.autograd.grad(got, leaves, retain_graph=True, allow_unused=True)  # the two share the softmax
        theirs = torch.autograd.grad(want, leaves, allow_unused=True)  # (a depthwise layer reads no input keep)
        for leaf, a, b in zip(leaves, mine, theirs, strict=True):
            a, b = (torch.zeros_like(leaf) if g is None else g for g in (a, b))
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * float(b.abs().max()) + 1e-12)


def _extra_ops(net, target) -> dict[str, int]:
    """What latency_cortexm's forward + backward issues beyond `memory`'s (the same choices and stacked rows)."""
    counts = {}
    for cost in ("memory", "latency_cortexm"):
        cost_models.evaluate(cost, layer_choices(net), target).backward()  # per-structure constants made here
        with OpCounter() as counter:
            cost_models.evaluate(cost, layer_choices(net), target).backward()
        counts[cost] = summary(counter.counts)
    assert counts["latency_cortexm"]["syncs"] == counts["latency_cortexm"]["host_tensors"] == 0
    return {k: counts["latency_cortexm"][k] - counts["memory"][k] for k in ("ops",)}


def test_its_operations_do_not_grow_with_depth(supernets):
    """4 layers or 20: the same few hundred operations (written per layer and option it issued ~3,200 more than
    `memory` on ResNet-8's 10 layers)."""
    target = get_target("stm32l4")
    shallow = _extra_ops(supernets["digits_cnn"], target)["ops"]
    deep = _extra_ops(supernets["mobilenet_v2"], target)["ops"]
    assert len(supernets["mobilenet_v2"].layer_names) >= 5 * len(supernets["digits_cnn"].layer_names)
    assert shallow < 300 and deep < 1.3 * shallow


@pytest.mark.parametrize("model", MODELS)
def test_layer_terms_sum_to_the_cost_and_a_few_layers_price_alone(supernets, model):
    """The budget repair prices a move on the layers it touches: their terms, priced with the plan's ops that
    carry their channels (DeployPlan.carried_by), equal those layers' terms in the whole network; the terms
    plus what no choice changes equal the cost."""
    net, target = supernets[model], get_target("stm32h7")
    randomize(net, 2)
    with torch.no_grad():
        whole = layer_choices(net, discretize(net, {}))
        terms = cost_models.layer_terms("latency_cortexm", whole, target)
        total = float(cost_models.evaluate("latency_cortexm", whole, target))
        assert terms.shape == (len(whole),) and 0 < float(terms.sum()) < total
        plan = whole.deploy_plan("cmsis-nn")
        fixed = sum(1 for op in plan.ops if op.source is None)
        assert fixed >= 1  # bg_infer itself: the part no choice changes
        picked = [len(whole) - 1, 0] if len(whole) > 1 else [0]
        few = LayerChoices([whole[i] for i in picked], planner=lambda flavour: plan.carried_by(picked))
        alone = cost_models.layer_terms("latency_cortexm", few, target)
        torch.testing.assert_close(alone, terms[picked], rtol=1e-12, atol=0)
