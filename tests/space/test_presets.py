"""The shipped presets: they load, and they match the released models (convrnn.md 3, 4, 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from space.arch import Arch, GRUCell, LSTMCell, RGCCell, SimpleRNNCell
from space.cost import cost
from space.errors import SpecError
from space.graph import layer_shapes
from space.inventory import inventory
from space.presets import PRESET_DIR, list_presets, load_preset, preset_names, resolve_arch

FAMILIES = ("timedecay", "simplernn", "gru", "lstm", "ugrnn", "intersectionrnn", "rgc")
EXPECTED = sorted(
    [f"{f}_{d}" for f in FAMILIES for d in ("shallow", "intermediate")]
    + ["ff_shallow", "ff_intermediate"]
)


def test_the_sixteen_presets_are_shipped() -> None:
    assert preset_names() == EXPECTED
    infos = list_presets()
    assert [info.name for info in infos] == EXPECTED
    for info in infos:
        assert info.description
        assert info.path.parent == PRESET_DIR


@pytest.mark.parametrize("name", EXPECTED)
def test_preset_loads_with_meta_and_header(name: str) -> None:
    arch = load_preset(name)
    assert arch.meta["description"] and arch.meta["source"]
    assert (PRESET_DIR / f"{name}.yaml").read_text().startswith(f"# {name}: ")
    assert arch.input.size == 224 and arch.input.channels == 3 and arch.classes == 1000
    assert all(layer.activation in ("elu", "identity") for layer in arch.layers)
    result = cost(arch)
    assert result.params > 1_000_000 and result.flops > 10**8


@pytest.mark.parametrize("name", EXPECTED)
def test_preset_backbone_and_time(name: str) -> None:
    arch = load_preset(name)
    family, depth = name.rsplit("_", 1)
    shallow = depth == "shallow"
    assert len(arch.layers) == (5 if shallow else 10)
    assert arch.head.kind == ("conv" if shallow else "fc")
    if shallow:
        assert arch.head.kernel == 2
    names = [layer.name for layer in arch.layers]
    cells = {layer.name: layer.cell.kind for layer in arch.layers}
    if family == "ff":
        assert set(cells.values()) == {"none"}
        assert arch.time.steps == 1 and arch.time.unroll == "feedforward"
        return
    cell_layers = names[2:] if shallow else names[3:]
    assert [n for n in names if cells[n] != "none"] == cell_layers
    assert {cells[n] for n in cell_layers} == {family}
    assert arch.time.steps == (16 if shallow else 17)
    assert arch.time.image_off == 12
    assert arch.time.readout.kind == "last" and arch.time.unroll == "biological"


def test_spatial_sizes_of_the_backbones() -> None:
    shallow = [(s.size, s.out_size) for s in layer_shapes(load_preset("gru_shallow"))]
    assert shallow == [(112, 56), (56, 28), (28, 14), (14, 7), (7, 4)]
    median = [(s.size, s.out_size) for s in layer_shapes(load_preset("rgc_intermediate"))]
    assert median == [
        (112, 56), (56, 56), (56, 56), (56, 28), (28, 28),
        (28, 14), (14, 7), (7, 7), (7, 7), (7, 4),
    ]  # fmt: skip
    blocks = [s.out_channels for s in layer_shapes(load_preset("gru_intermediate"))]
    assert blocks == [64, 64, 64, 128, 128, 256, 256, 512, 512, 512]


def test_ff_shallow_params_by_hand() -> None:
    # 7x7 3->64, 3x3 64->128, 128->256, 256->256, 256->512 (all with bias), 2x2 512->1000
    expected = (
        (49 * 3 * 64 + 64)
        + (9 * 64 * 128 + 128)
        + (9 * 128 * 256 + 256)
        + (9 * 256 * 256 + 256)
        + (9 * 256 * 512 + 512)
        + (4 * 512 * 1000 + 1000)
    )
    assert cost(load_preset("ff_shallow")).params == expected == 4_197_736
    # time decay adds one scalar per cell layer
    assert cost(load_preset("timedecay_shallow")).params == expected + 3


def test_rgc_intermediate_is_the_released_median_model() -> None:
    arch = load_preset("rgc_intermediate")
    result = cost(arch)
    edges = {(e.source, e.target) for e in arch.feedback}
    assert edges == {
        ("conv8", "conv5"),
        ("conv9", "conv6"),
        ("conv10", "conv7"),
        ("conv7", "conv6"),
        ("conv10", "conv9"),
    }
    assert result.feedback_edges == 5
    incoming = {layer.name: layer.feedback_from for layer in result.layers}
    assert incoming["conv6"] == ("conv7", "conv9")
    assert incoming["conv5"] == ("conv8",) and incoming["conv9"] == ("conv10",)
    # one 1x1 projection per receiving layer: conv6's concatenates 256 + 512 -> 256
    groups = {s.name: s.feedback for s in layer_shapes(arch) if s.feedback}
    assert set(groups) == {"conv5", "conv6", "conv7", "conv9"}
    (conv6,) = groups["conv6"]
    assert (conv6.in_channels, conv6.out_channels, conv6.kernel, conv6.entry) == (
        768,
        256,
        1,
        "out",
    )
    assert [layer.first_signal for layer in result.layers] == list(range(10))
    assert result.readout_first_step == 10
    cell = arch.layers[3].cell
    assert isinstance(cell, RGCCell)
    assert (cell.cell_depth, cell.tau_filter_size, cell.gate_filter_size) == (64, 7, 7)
    assert (cell.ff_filter_size, cell.in_out_filter_size) == (2, 3)
    assert cell.tau_depth_separable and cell.gate_depth_separable
    assert not (cell.ff_depth_separable or cell.in_out_depth_separable)
    assert cell.input_to_cell and cell.input_to_out and cell.out_residual
    assert not (cell.cell_to_out or cell.cell_residual)
    assert cell.gate_nonlinearity == "tanh" and cell.tau_nonlinearity == "sigmoid"
    assert cell.tau_multiplier == -cell.tau_offset == pytest.approx(-0.922, abs=1e-3)
    assert cell.gate_multiplier == -cell.gate_offset == pytest.approx(-0.701, abs=1e-3)
    assert all(layer.cell == cell for layer in arch.layers[3:])  # shared median cell
    # the out-residual projection exists exactly where channels change: conv6 and conv9
    projected = {inv.name for inv in inventory(arch) if inv.has("cell.res_to_out")}
    assert projected == {"conv6", "conv9"}


def test_rgc_intermediate_conv6_params_by_hand() -> None:
    conv6 = next(
        layer for layer in cost(load_preset("rgc_intermediate")).layers if layer.name == "conv6"
    )
    expected = (
        (9 * 128 * 256 + 256)  # feedforward conv
        + (4 * 256 * 64 + 64)  # input -> cell, 2x2
        + (49 * 64 + 64 * 64 + 64)  # cell tau, 7x7 depth-separable
        + (49 * 256 + 256 * 64 + 64)  # out -> cell gate, 7x7 depth-separable
        + (49 * 256 + 256 * 256 + 256)  # out tau, 7x7 depth-separable
        + (49 * 64 + 64 * 256 + 256)  # cell -> out gate, 7x7 depth-separable
        + (9 * 256 * 256 + 256)  # input -> out, 3x3
        + 128 * 256  # bias-free 1x1 out-residual projection
        + (768 * 256 + 256)  # one feedback projection for conv7 + conv9
    )
    assert conv6.params == expected == 1_314_880


def test_rgc_intermediate_has_far_fewer_params_than_other_intermediates() -> None:
    rgc = cost(load_preset("rgc_intermediate")).params
    for family in ("lstm", "gru", "ugrnn", "intersectionrnn", "simplernn"):
        assert rgc * 2 < cost(load_preset(f"{family}_intermediate")).params
    assert cost(load_preset("lstm_intermediate")).params > 5 * rgc


def test_rgc_shallow_cells_have_no_biases_and_gate_on_the_input() -> None:
    arch = load_preset("rgc_shallow")
    depths = []
    for layer in arch.layers[2:]:
        cell = layer.cell
        assert isinstance(cell, RGCCell)
        assert cell.bias is False and cell.residual_to_out_gate and not cell.input_to_out
        assert cell.tau_nonlinearity == cell.gate_nonlinearity == "sigmoid"
        depths.append(cell.cell_depth)
        assert layer.activation == "elu"
    assert depths == [256, 256, 512]
    conv3 = inventory(arch)[2]
    assert all(not c.bias for c in conv3.convs if c.name.startswith("cell."))


def test_lstm_shallow_per_layer_settings() -> None:
    arch = load_preset("lstm_shallow")
    cells = [layer.cell for layer in arch.layers[2:]]
    assert all(isinstance(c, LSTMCell) for c in cells)
    lstm = [c for c in cells if isinstance(c, LSTMCell)]
    assert [(c.filter_size, c.depth, c.peepholes) for c in lstm] == [
        (2, 128, False),
        (3, 256, True),
        (4, 256, False),
    ]
    assert all(c.layer_norm for c in lstm)
    # peepholes are spatially untied: 3 gates x 256 channels x 14 x 14 in conv4
    conv4 = inventory(arch)[3]
    assert sum(t.params for t in conv4.tensors) == 3 * 256 * 14 * 14
    assert len(conv4.norms) == 5


def test_simplernn_depths() -> None:
    shallow = [layer.cell for layer in load_preset("simplernn_shallow").layers[2:]]
    assert all(isinstance(c, SimpleRNNCell) and c.layer_norm for c in shallow)
    assert [getattr(c, "depth", None) for c in shallow] == [128, 256, 256]
    inter = [layer.cell for layer in load_preset("simplernn_intermediate").layers[3:]]
    assert all(isinstance(c, SimpleRNNCell) and not c.layer_norm for c in inter)
    assert all(getattr(c, "depth", None) is None for c in inter)


def test_intermediate_block_base() -> None:
    arch = load_preset("gru_intermediate")
    assert all(layer.post_kernel == 3 and layer.residual for layer in arch.layers[1:])
    assert all(layer.post_activation == "elu" for layer in arch.layers[1:])
    projected = [inv.name for inv in inventory(arch) if inv.has("residual_proj")]
    assert projected == ["conv4", "conv6", "conv8"]
    assert all(not inv.conv("residual_proj").bias for inv in inventory(arch)[3:8:2])
    assert isinstance(arch.layers[3].cell, GRUCell)
    # the shallow non-RGC models feed their cells from a linear conv, as released
    assert [layer.activation for layer in load_preset("gru_shallow").layers] == [
        "elu",
        "elu",
        "identity",
        "identity",
        "identity",
    ]


def test_unknown_preset_lists_the_valid_names() -> None:
    with pytest.raises(SpecError) as info:
        load_preset("rgc_huge")
    text = str(info.value)
    assert "rgc_huge" in text and "rgc_intermediate" in text and "ff_shallow" in text


def test_resolve_arch_from_name_file_and_export(tmp_path: Path) -> None:
    arch = load_preset("gru_shallow")
    assert resolve_arch("gru_shallow") == arch
    yaml_file = tmp_path / "a.yaml"
    yaml_file.write_text(arch.to_yaml())
    assert resolve_arch(str(yaml_file)).arch_hash == arch.arch_hash
    exported = tmp_path / "best.json"
    exported.write_text(json.dumps({"arch": arch.to_dict(), "provenance": {"trial": 3}}))
    assert resolve_arch(str(exported)).arch_hash == arch.arch_hash
    with pytest.raises(SpecError, match="no such arch file"):
        resolve_arch(str(tmp_path / "missing.yaml"))


def test_presets_are_cached_and_frozen() -> None:
    a: Arch = load_preset("rgc_shallow")
    assert load_preset("rgc_shallow") is a
    with pytest.raises(Exception, match="frozen"):
        a.classes = 10  # type: ignore[misc]


# Parameter counts of the shipped presets (the 14 released models match the original code):
# the issue-13 options (blank frame, initialisers, resize, crop) must not move them.
PARAMS = {
    "ff_intermediate": 6_054_376,
    "ff_shallow": 4_197_736,
    "gru_intermediate": 67_725_032,
    "gru_shallow": 25_434_472,
    "intersectionrnn_intermediate": 84_832_232,
    "intersectionrnn_shallow": 32_513_384,
    "lstm_intermediate": 84_832_232,
    "lstm_shallow": 21_126_248,
    "rgc_intermediate": 15_445_800,
    "rgc_shallow": 23_956_840,
    "simplernn_intermediate": 33_512_936,
    "simplernn_shallow": 6_272_872,
    "timedecay_intermediate": 16_403_439,
    "timedecay_shallow": 4_197_739,
    "ugrnn_intermediate": 50_617_832,
    "ugrnn_shallow": 18_355_560,
}


@pytest.mark.parametrize("name", EXPECTED)
def test_preset_parameter_counts_are_pinned(name: str) -> None:
    assert cost(load_preset(name)).params == PARAMS[name]


@pytest.mark.parametrize("name", [n for n in EXPECTED if not n.startswith("ff_")])
def test_released_presets_use_the_released_input_and_initialisers(name: str) -> None:
    arch = load_preset(name)
    assert arch.time.blank == 0.5  # the released blank frame, in normalised input space
    assert arch.init.scheme == "tf"
    assert arch.time.steps > arch.time.image_steps  # the blank frame is shown


def test_ff_baselines_keep_the_defaults() -> None:
    for name in ("ff_shallow", "ff_intermediate"):
        arch = load_preset(name)
        assert arch.time.blank == 0.0 and arch.init.scheme == "xavier" and arch.training is None


def test_rgc_intermediate_carries_the_median_cells_search_settings() -> None:
    arch = load_preset("rgc_intermediate")
    cells = [layer.cell for layer in arch.layers if isinstance(layer.cell, RGCCell)]
    assert len(cells) == 7
    for cell in cells:
        assert cell.init_scale == pytest.approx(0.6393378386273998)
        assert cell.weight_decay == pytest.approx(0.0002033999204146308)
    assert arch.resize.align_corners and arch.crop_depthwise


def test_lstm_shallow_carries_the_tuned_optimizer_and_per_layer_settings() -> None:
    arch = load_preset("lstm_shallow")
    training = arch.training
    assert training is not None
    assert training.grad_clip_mode == "value"
    assert training.grad_clip == pytest.approx(0.324, abs=1e-3)
    assert training.lr == pytest.approx(0.00759, abs=1e-5) and training.nesterov
    assert training.batch_size == 64
    cells = [layer.cell for layer in arch.layers if isinstance(layer.cell, LSTMCell)]
    scales = [c.init_scale for c in cells]
    assert scales == pytest.approx([0.7008842622125534, 1.8314561102978617, 0.8937636886958731])
    assert all(c.weight_decay is not None and c.weight_decay < 1e-5 for c in cells)
    assert [c.bias_init for c in cells] == pytest.approx([1.6428, -1.1660, -1.3495], abs=1e-4)
    assert arch.init.scale == pytest.approx(1.7261410620368636)
    # training is not architecture: the arch hash ignores it
    assert arch.model_copy(update={"training": None}).arch_hash == arch.arch_hash
