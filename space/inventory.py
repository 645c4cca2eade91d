"""Every parameter tensor of an :class:`~space.arch.Arch`, without torch.

This is the single source of truth for what a model contains: ``space.cost`` sums it (parameter
count, FLOPs) and ``space.nn`` builds its convs, norms and free tensors from it by name, so the
analytic count equals ``sum(p.numel())`` of the torch model by construction (and a test checks it).

Conventions (as in the papers' released code, convrnn.md section 6):
- a conv is square, stride 1 and same-padded unless ``stride`` says otherwise;
- depth-separable = depthwise ``k x k`` (channel multiplier 1, no bias) then pointwise ``1 x 1``
  with one bias (when ``bias``); with ``Arch.crop_depthwise`` a ``k`` larger than the map is
  ``k = size`` (the released code's crop);
- a norm is a layer norm over (C, H, W) per sample with a per-channel gain and shift (TF's
  ``layer_norm`` with ``begin_params_axis=-1``; ``GroupNorm(1, C)`` in torch).

Conv names and what they read/write (``x``: cell input, C channels; ``r``: layer input, R channels;
``c``: memory, D channels; ``h``: cell output/state):

- layer: ``conv`` (r -> x, stride), ``post`` (y -> channels, residual blocks), ``residual_proj``
  (r -> out, bias-free 1x1, when channels or stride change), ``feedback.{i}`` (one per feedback
  group of ``space.graph.layer_shapes``, concat of sources -> entry channels).
- simplernn: ``cell.input`` (x -> h), ``cell.state`` (h -> h); norm ``cell.ln``.
- gru: ``cell.gates`` ([x, h] -> 2D: reset, update), ``cell.candidate`` ([x, r.h] -> D);
  norms ``cell.ln_r``, ``cell.ln_u``, ``cell.ln_c``.
- lstm: ``cell.gates`` ([x, h] -> 4D: i, j, f, o); tensors ``cell.peep_{i,f,o}`` of shape (D, H, W);
  norms ``cell.ln_{i,j,f,o,c}``.
- ugrnn: ``cell.gates`` ([x, h] -> 2D: g, c); norms ``cell.ln_g``, ``cell.ln_c``.
- intersectionrnn: ``cell.gates`` ([x, h] -> 4C: g_h, h~, g_y, y~); norms ``cell.ln_{gh,h,gy,y}``.
- timedecay: tensor ``cell.tau`` of shape ().
- rgc (memory only when ``has_memory``): ``cell.in_to_cell`` (x -> D), ``cell.res_to_cell``
  (r -> D), ``cell.cell_tau`` (c -> D), ``cell.out_to_cell`` (h -> D, the gate of c),
  ``cell.in_to_cell_tau``, ``cell.res_to_cell_tau``, ``cell.in_to_cell_gate``,
  ``cell.res_to_cell_gate`` (bias-free extra gate inputs); ``cell.out_tau`` (h -> C),
  ``cell.cell_to_out`` (c -> C: the gate of h, or a drive when ``cell_to_out``), ``cell.in_to_out``
  (x -> C), ``cell.res_to_out`` (r -> C bias-free 1x1, when R != C or the size changes),
  ``cell.in_to_out_tau``, ``cell.res_to_out_tau``, ``cell.in_to_out_gate``,
  ``cell.res_to_out_gate`` (bias-free; the last is depth-separable when ``gate_depth_separable``,
  as released); norms ``cell.ln_cell``, ``cell.ln_out``.
- readout: ``fc`` (a linear layer, written as a 1x1 conv at size 1) or ``conv`` (k x k to classes);
  tensor ``decoder.beta`` of shape (1,) when the decoder learns its softmax temperature.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from space.arch import Arch, LayerArch
from space.graph import LayerShape, layer_shapes

# the specs are defined apart (the cell families list them too) and re-exported from here
from space.inventory_parts import ConvSpec as ConvSpec
from space.inventory_parts import NormSpec as NormSpec
from space.inventory_parts import TensorSpec as TensorSpec


@dataclass(frozen=True)
class LayerInventory:
    """The parameters of one layer (or of the readout, named ``readout``)."""

    name: str
    convs: tuple[ConvSpec, ...]
    norms: tuple[NormSpec, ...] = ()
    tensors: tuple[TensorSpec, ...] = ()

    @property
    def params(self) -> int:
        parts: list[ConvSpec | NormSpec | TensorSpec] = [*self.convs, *self.norms, *self.tensors]
        return sum(p.params for p in parts)

    def conv(self, name: str) -> ConvSpec:
        for spec in self.convs:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no conv {name!r}")

    def has(self, name: str) -> bool:
        parts: list[ConvSpec | NormSpec | TensorSpec] = [*self.convs, *self.norms, *self.tensors]
        return any(spec.name == name for spec in parts)


def _layer_convs(layer: LayerArch, shape: LayerShape) -> list[ConvSpec]:
    convs = [
        ConvSpec(
            "conv",
            shape.in_channels,
            layer.channels,
            layer.kernel,
            shape.size,
            layer.bias,
            stride=layer.stride,
        )
    ]
    if layer.post_kernel:
        convs.append(
            ConvSpec(
                "post", shape.y_channels, layer.channels, layer.post_kernel, shape.size, layer.bias
            )
        )
    if layer.residual and (shape.in_channels != shape.out_channels or layer.stride > 1):
        convs.append(
            ConvSpec(
                "residual_proj",
                shape.in_channels,
                shape.out_channels,
                1,
                shape.size,
                False,
                stride=layer.stride,
            )
        )
    for i, group in enumerate(shape.feedback):
        convs.append(
            ConvSpec(
                f"feedback.{i}",
                group.in_channels,
                group.out_channels,
                group.kernel,
                shape.size,
                True,
                group.depth_separable,
            )
        )
    return convs


def _cropped(spec: ConvSpec) -> ConvSpec:
    """A depth-separable conv's kernel shrunk to its (stride-1) map, as the released code does
    (``ksize = min(filter_size, map size)``, parameters included)."""
    if not spec.depth_separable or spec.kernel <= spec.size:
        return spec
    return replace(spec, kernel=spec.size)


def layer_inventory(layer: LayerArch, shape: LayerShape, crop: bool = False) -> LayerInventory:
    """One layer's parameters; ``crop``: ``Arch.crop_depthwise``."""
    convs = _layer_convs(layer, shape)
    cell = layer.cell.parts(shape)  # the family's own parameters (space.cells)
    convs += cell.convs
    if crop:
        convs = [_cropped(spec) for spec in convs]
    return LayerInventory(layer.name, tuple(convs), tuple(cell.norms), tuple(cell.tensors))


def readout_inventory(arch: Arch, last: LayerShape) -> LayerInventory:
    if arch.head.kind == "fc":
        spec = ConvSpec("fc", last.out_channels, arch.classes, 1, 1)
    else:
        k = arch.head.kernel
        size = last.out_size - k + 1 if arch.head.padding == "valid" else last.out_size
        spec = ConvSpec("conv", last.out_channels, arch.classes, k, size)
    # a learned softmax temperature of the decoder (max_conf, thresh) is one trainable scalar
    learned = getattr(arch.time.readout, "temperature", None) == "learned"
    tensors = (TensorSpec("decoder.beta", (1,)),) if learned else ()
    return LayerInventory("readout", (spec,), tensors=tensors)


def inventory(arch: Arch) -> list[LayerInventory]:
    """Every layer's parameters in layer order, then the readout."""
    shapes = layer_shapes(arch)
    layers = [
        layer_inventory(layer, shape, arch.crop_depthwise)
        for layer, shape in zip(arch.layers, shapes, strict=True)
    ]
    return [*layers, readout_inventory(arch, shapes[-1])]


def param_count(arch: Arch) -> int:
    return sum(item.params for item in inventory(arch))
