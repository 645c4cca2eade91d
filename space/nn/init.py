"""Initial weights of a ConvRNN (``Arch.init``, cells' ``init_scale``).

``xavier`` (default): Glorot-uniform kernels (torch's fan sizes), zero biases, everywhere.
``tf``: the released code's initialisers (TF 1.13):

- the layers' own convs (feedforward ``conv``, ``post``, ``residual_proj``): fan-in variance
  scaling, ``init.scale`` (``tf.variance_scaling_initializer``: truncated normal at two
  standard deviations, standard deviation ``sqrt(scale / fan_in) / 0.8796``);
- the readout: kernels N(0, 0.01); an fc readout's bias 1 (``model_tool.fc``'s default), a conv
  readout's 0;
- cells and feedback projections: Glorot uniform (``tf.get_variable``'s default), with TF's fan
  sizes; LSTM peepholes too (zeros under ``xavier``); GRU gate biases 1.0 (the released
  ``bias_ones``); other biases 0.

An LSTM's ``bias_init`` sets its gates' biases, in either scheme.
A cell's ``init_scale`` makes its kernels (and its layer's feedback projections, which live in
the cell in the released code) fan-in variance scaling with that scale, in either scheme.
TF's fan sizes differ from torch's for depthwise kernels: TF's ``[k, k, C, 1]`` has fan-in
``k*k*C``, torch's ``[C, 1, k, k]`` ``k*k``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from space.arch import Arch
from space.cells.base import InitRule

#: TF's correction of a unit normal truncated at two standard deviations back to unit variance
TRUNCATED_STD = 0.87962566103423978
READOUT_STD = 0.01


def tf_fans(weight: Tensor, groups: int = 1) -> tuple[int, int]:
    """(fan_in, fan_out) as TF computes them for the same kernel in TF's layout."""
    if weight.dim() == 2:  # linear [out, in] = TF [in, out]
        return weight.shape[1], weight.shape[0]
    out, per_group, kh, kw = weight.shape
    if groups > 1 and per_group == 1:  # depthwise: TF [kh, kw, C, 1]
        return kh * kw * groups, kh * kw * (out // groups)
    return kh * kw * per_group, kh * kw * out


def variance_scaling_(weight: Tensor, scale: float, groups: int = 1) -> None:
    """TF's fan-in ``variance_scaling_initializer`` (truncated normal) in place."""
    fan_in, _ = tf_fans(weight, groups)
    std = math.sqrt(scale / max(fan_in, 1)) / TRUNCATED_STD
    with torch.no_grad():
        nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


def glorot_uniform_tf_(weight: Tensor, groups: int = 1) -> None:
    fan_in, fan_out = tf_fans(weight, groups)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-limit, limit)


def _init_peephole(weight: Tensor, scale: float | None) -> None:
    """A peephole ``(D, H, W)``, TF's ``[H, W, D]`` variable under the cell's kernel initialiser
    (TF's fans for a rank-3 shape: in ``H*W``, out ``H*D``)."""
    depth, height, width = weight.shape
    fan_in, fan_out = height * width, height * depth
    with torch.no_grad():
        if scale is not None:
            std = math.sqrt(scale / fan_in) / TRUNCATED_STD
            nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)
        else:
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            weight.uniform_(-limit, limit)


def _apply_rule(param: Tensor, rule: InitRule, cell_scale: float | None) -> None:
    if rule.fill == "peephole":
        _init_peephole(param, cell_scale)
    else:
        nn.init.constant_(param, rule.value)


def _kernels(module: nn.Module) -> list[nn.Conv2d | nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _zero_biases(module: nn.Module) -> None:
    for m in _kernels(module):
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _init_kernels(module: nn.Module, scheme: str, scale: float | None) -> None:
    """Every kernel of ``module``: variance scaling with ``scale`` when given, else Glorot
    (TF's fans under ``tf``, torch's under ``xavier``)."""
    for m in _kernels(module):
        groups = m.groups if isinstance(m, nn.Conv2d) else 1
        if scale is not None:
            variance_scaling_(m.weight, scale, groups)
        elif scheme == "tf":
            glorot_uniform_tf_(m.weight, groups)
        else:
            nn.init.xavier_uniform_(m.weight)


def init_weights(
    model: nn.Module, layers: Iterable[nn.Module], readout: nn.Module, arch: Arch
) -> None:
    """Initialise ``model`` (built from ``arch``, with its ``layers`` in order and its
    ``readout``) in place, in module registration order (the default scheme draws exactly what
    a plain Glorot loop over ``model.modules()`` draws)."""
    scheme = arch.init.scheme
    own_scale = arch.init.scale if scheme == "tf" else None
    _zero_biases(model)
    for layer, spec in zip(layers, arch.layers, strict=True):
        cell_scale = getattr(spec.cell, "init_scale", None)
        for name, child in layer.named_children():
            in_cell = name in ("feedback", "cell")
            _init_kernels(child, scheme, cell_scale if in_cell else own_scale)
        for rule in spec.cell.init_rules(scheme):  # the family's own starts (space.cells)
            _apply_rule(layer.get_parameter(f"cell.{rule.param}"), rule, cell_scale)
    if scheme == "tf":
        for m in _kernels(readout):
            nn.init.normal_(m.weight, 0.0, READOUT_STD)
        fc = readout.get_submodule("fc") if arch.head.kind == "fc" else None
        if isinstance(fc, nn.Linear) and fc.bias is not None:
            nn.init.ones_(fc.bias)
    else:
        _init_kernels(readout, scheme, None)
