"""The fast conv paths (cropped kernels on small maps, unfold + matmul, fused convs, channels-last
depthwise) compute what the plain convs compute: outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from space.arch import Arch
from space.nn import build_model
from space.nn.layers import (
    ConvGroup,
    DepthSeparableConv,
    SameConv,
    conv_groups,
    reference_kernels,
)
from tests.nn.nn_archs import CELL_VARIANTS, images, randomize_biases, tiny, with_feedback


def _forward_backward(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    model.zero_grad(set_to_none=True)
    logits = model(x).logits
    logits.square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


def _assert_same_as_reference(model: torch.nn.Module, x: torch.Tensor) -> None:
    fast, fast_grads = _forward_backward(model, x)
    with reference_kernels():
        ref, ref_grads = _forward_backward(model, x)
    assert torch.allclose(fast, ref, rtol=1e-4, atol=1e-5), (fast - ref).abs().max()
    assert fast_grads.keys() == ref_grads.keys()
    for name, grad in ref_grads.items():
        assert torch.allclose(fast_grads[name], grad, rtol=1e-3, atol=1e-5), name


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "groups"),
    [
        (2, 7, 1, 1),
        (2, 7, 1, 4),
        (1, 3, 1, 1),
        (3, 7, 1, 4),
        (2, 2, 1, 1),
        (4, 4, 1, 1),
        (2, 3, 1, 1),
        (8, 3, 1, 1),
        (5, 4, 2, 1),
    ],
)
def test_same_conv_fast_path_equals_plain_conv(
    size: int, kernel: int, stride: int, groups: int
) -> None:
    torch.manual_seed(0)
    conv = SameConv(4, 8, kernel, size, stride, groups=groups)
    x = torch.randn(3, 4, size, size, requires_grad=True)
    fast = conv(x)
    (gx_fast, gw_fast) = torch.autograd.grad(fast.square().sum(), (x, conv.weight))
    with reference_kernels():
        ref = conv(x)
        (gx_ref, gw_ref) = torch.autograd.grad(ref.square().sum(), (x, conv.weight))
    assert fast.shape == ref.shape == (3, 8, -(-size // stride), -(-size // stride))
    assert torch.allclose(fast, ref, atol=1e-5)
    assert torch.allclose(gx_fast, gx_ref, atol=1e-4)
    assert torch.allclose(gw_fast, gw_ref, atol=1e-4)


def test_cropping_and_matmul_are_used_where_expected() -> None:
    assert SameConv(4, 4, 7, 2, groups=4).crop == (2, 5)  # a 7x7 on a 2x2 map is a 3x3
    assert SameConv(4, 4, 2, 1).crop == (0, 1)  # 2x2 SAME on 1x1: only the top-left tap
    assert SameConv(4, 4, 3, 8).crop is None
    assert SameConv(4, 4, 3, 2).matmul and not SameConv(4, 4, 3, 4).matmul
    assert DepthSeparableConv(4, 4, 7, 8, True).channels_last


def test_convs_reading_one_tensor_are_fused() -> None:
    a, b, c = SameConv(4, 3, 3, 8), SameConv(4, 5, 3, 8, bias=False), SameConv(4, 5, 1, 8)
    d = DepthSeparableConv(4, 2, 3, 8, True)
    groups = conv_groups({"a": ("x", a), "b": ("x", b), "c": ("x", c), "d": ("x", d)})
    names = sorted(g.names for _, g in groups)
    assert names == [["a", "b"], ["c"], ["d"]]
    fused = next(g for _, g in groups if g.names == ["a", "b"])
    x = torch.randn(2, 4, 8, 8)
    out = fused(x)
    assert torch.allclose(out["a"], a(x), atol=1e-6) and torch.allclose(out["b"], b(x), atol=1e-6)
    fused.prepare()
    assert fused._weights is not None and fused._weights[0].shape[0] == 8
    fused.release()
    assert isinstance(fused, ConvGroup) and fused._weights is None


def _arch_cases() -> dict[str, Arch]:
    cases = {name: tiny(cell) for name, cell in CELL_VARIANTS.items()}
    cases["feedback"] = with_feedback()
    return cases


@pytest.mark.parametrize("name", sorted(_arch_cases()))
def test_model_fast_paths_equal_reference(name: str) -> None:
    model = build_model(_arch_cases()[name], seed=0)
    randomize_biases(model)
    _assert_same_as_reference(model, images())


def test_rgc_shallow_fuses_the_state_convs() -> None:
    from space.presets import load_preset

    with torch.device("meta"):
        model = build_model(load_preset("rgc_shallow"))
    groups = sorted(sorted(g.names) for _, g in model.layers["conv3"].cell.groups)
    assert groups == [
        ["cell_tau", "cell_to_out"],
        ["in_to_cell"],
        ["out_tau", "out_to_cell"],
        ["res_to_out_gate"],
    ]
