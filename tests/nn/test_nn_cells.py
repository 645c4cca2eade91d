"""Every cell family: registry, parameters from the inventory, forward/backward over the unroll."""

from __future__ import annotations

import pytest
import torch
from nn_archs import CELL_VARIANTS, images, randomize_biases, tiny, with_feedback

from space.arch import CELL_KINDS, Arch
from space.inventory import inventory, param_count
from space.nn import build_model, register_cell
from space.nn.registry import cell_builders


def test_registry_matches_the_dsl_kinds() -> None:
    assert set(cell_builders()) == set(CELL_KINDS)


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
