"""Every cell family: registry, parameters from the inventory, forward/backward over the unroll."""

from __future__ import annotations

import typing

import pytest
import torch

from space import cells
from space.arch import CELL_KINDS, Arch, LayerArch
from space.cost import CELL_TENSORS, cost
from space.graph import layer_shapes
from space.inventory import inventory, param_count
from space.nn import build_model, register_cell
from space.nn.registry import cell_builders
from space.spec import twins
from tests.nn.nn_archs import CELL_VARIANTS, images, randomize_biases, tiny, with_feedback


def test_registry_matches_the_dsl_kinds() -> None:
    assert set(cell_builders()) == set(CELL_KINDS)


def test_every_family_is_registered_once_everywhere() -> None:
    """The torch-free registry (space.cells) is the one list of families: the arch union, the
    searchable twins, the cost table and the torch builders all follow it, in its order."""
    kinds = cells.FAMILIES
    assert kinds == CELL_KINDS == tuple(cells.CELL_MODELS)
    union = typing.get_args(LayerArch.model_fields["cell"].annotation)
    assert union == tuple(cells.CELL_MODELS.values())
    assert tuple(twins.CELL_SPACES) == kinds
    for kind, space in twins.CELL_SPACES.items():
        assert space.model_fields["kind"].default == kind
    assert tuple(CELL_TENSORS) == kinds
    builders = cell_builders()
    for kind in kinds:
        # the torch module of family <kind> is space.nn.cells.<kind>, found by that name
        assert builders[kind].__module__ == f"space.nn.cells.{kind}"
        assert cells.CELL_MODELS[kind].__module__ == f"space.cells.{kind}"


@pytest.mark.parametrize("variant", sorted(CELL_VARIANTS))
def test_family_hooks_agree_with_inventory_and_cost(variant: str) -> None:
    """A family's parts are its layer's ``cell.*`` inventory, and its kept tensors reach the
    cost model."""
    arch = tiny(CELL_VARIANTS[variant])
    shapes = layer_shapes(arch)
    layers = inventory(arch)[:-1]  # the readout last
    for layer, shape, item in zip(arch.layers, shapes, layers, strict=True):
        parts = layer.cell.parts(shape)
        names = [s.name for s in (*parts.convs, *parts.norms, *parts.tensors)]
        in_cell = [
            s.name for s in (*item.convs, *item.norms, *item.tensors) if s.name[:5] == "cell."
        ]
        assert names == in_cell and all(n.startswith("cell.") for n in names)
        assert layer.cell.state_tensors == CELL_TENSORS[layer.cell.kind]
    assert cost(arch).params == param_count(arch)


def test_registry_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_cell("rgc")(lambda cell, shape, inv: None)  # type: ignore[arg-type,return-value]


def test_every_kind_has_a_variant_here() -> None:
    assert {v["kind"] for v in CELL_VARIANTS.values()} == set(CELL_KINDS)


def assert_modules_follow_inventory(model: torch.nn.Module, arch: Arch) -> None:
    """Every inventory conv/norm/tensor is a submodule/parameter at its name, with its shape."""
    params = dict(model.named_parameters())
    for item in inventory(arch):
        prefix = "readout" if item.name == "readout" else f"layers.{item.name}"
        for conv in item.convs:
            name = "fc" if conv.name == "fc" else conv.name
            module = model.get_submodule(f"{prefix}.{name}")
            count = sum(p.numel() for p in module.parameters())
            assert count == conv.params, (item.name, conv.name)
        for norm in item.norms:
            module = model.get_submodule(f"{prefix}.{norm.name}")
            assert isinstance(module, torch.nn.GroupNorm) and module.num_channels == norm.channels
        for tensor in item.tensors:
            assert tuple(params[f"{prefix}.{tensor.name}"].shape) == tensor.shape


@pytest.mark.parametrize("variant", sorted(CELL_VARIANTS))
def test_cell_params_equal_inventory(variant: str) -> None:
    arch = tiny(CELL_VARIANTS[variant])
    model = build_model(arch, seed=0)
    assert sum(p.numel() for p in model.parameters()) == param_count(arch)
    assert_modules_follow_inventory(model, arch)


@pytest.mark.parametrize("variant", sorted(CELL_VARIANTS))
def test_cell_forward_backward_reaches_every_parameter(variant: str) -> None:
    arch = tiny(CELL_VARIANTS[variant])
    model = build_model(arch, seed=0)
    out = model(images())
    assert out.logits.shape == (arch.time.steps, 2, arch.classes)
    assert out.decoded.shape == (2, arch.classes)
    assert torch.isfinite(out.logits).all()
    # the loss at the last step only: gradients must flow back through the whole unroll
    out.logits[-1].square().mean().backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing, f"no gradient reaches {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_feedback_arch_params_and_gradients() -> None:
    arch = with_feedback()
    model = build_model(arch, seed=1)
    assert sum(p.numel() for p in model.parameters()) == param_count(arch)
    assert_modules_follow_inventory(model, arch)
    randomize_biases(model)
    model(images()).logits[-1].sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_rgc_default_gates_are_one_minus_sigmoid() -> None:
    """Default offsets (a=1, b=-1): with zero state the output is elu(0.5 * x) at init."""
    arch = tiny({"kind": "rgc"})
    cell = build_model(arch, seed=0).layers["c2"].cell
    x = torch.randn(2, 6, 8, 8)
    h, (state,) = cell(x, x, cell.init_state(2, x))
    assert torch.allclose(h, torch.nn.functional.elu(0.5 * x))
    assert torch.equal(h, state)


def test_lstm_forget_bias_and_zero_state() -> None:
    arch = tiny({"kind": "lstm", "forget_bias": 3.0})
    cell = build_model(arch, seed=0).layers["c2"].cell
    x = torch.zeros(1, 6, 8, 8)
    c0, h0 = cell.init_state(1, x)
    assert not c0.any() and not h0.any()
    with torch.no_grad():
        cell.gates.conv.bias.zero_()
        cell.gates.conv.weight.zero_()
    c = torch.ones_like(c0)
    _, (new_c, _) = cell(x, x, (c, h0))
    assert torch.allclose(new_c, torch.full_like(c, torch.sigmoid(torch.tensor(3.0)).item()))
