"""TF-compatible options (issue 13): decoding window and temperature, the blank frame, resize
with aligned corners, cropped depth-separable kernels, the released code's initialisers."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from space.arch import Arch, arch_from_data
from space.cost import cost
from space.graph import decode_window, first_signal_steps
from space.inventory import param_count
from space.nn import build_model, network
from space.nn.decoders import decode
from space.nn.init import TRUNCATED_STD, tf_fans
from space.nn.layers import resize
from space.presets import load_preset, preset_names
from tests.nn.nn_archs import SIZE, images, randomize_biases, tiny, with_feedback


def _with(arch: Arch, **changes: Any) -> Arch:
    data = arch.to_dict()
    for key, value in changes.items():
        head, _, tail = key.partition(".")
        if tail:
            data[head] = {**data.get(head, {}), tail: value}
        else:
            data[key] = value
    return arch_from_data(data)


# -- decoding window ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mean", "max_conf", "thresh"])
def test_default_window_starts_at_the_readouts_first_sight(kind: str) -> None:
    arch = _with(with_feedback(), **{"time.readout": {"kind": kind}})
    first = first_signal_steps(arch)["readout"]
    assert first == 4 and decode_window(arch) == (4, arch.time.steps)
    model = build_model(arch, seed=0)
    randomize_biases(model)
    with torch.no_grad():
        out = model(images())
    assert out.logits.shape[0] == arch.time.steps  # every step's logits stay available
    expected = decode(out.logits[first:], arch.time.readout, (0, arch.time.steps - first))
    assert torch.allclose(out.decoded, expected)


def test_mean_window_excludes_the_steps_blind_to_the_image() -> None:
    # logits before the readout's first sight are the same for every image; averaging them in
    # (start 0, the old default) dilutes the image-dependent part, the auto window does not
    arch = _with(tiny({"kind": "gru"}), **{"time.readout": {"kind": "mean"}})
    every = _with(arch, **{"time.readout": {"kind": "mean", "start": 0}})
    a, b = build_model(arch, seed=0), build_model(every, seed=0)
    with torch.no_grad():
        out_a, out_b = a(images()), b(images())
    first = first_signal_steps(arch)["readout"]
    assert torch.allclose(out_a.decoded, out_a.logits[first:].mean(0))
    assert torch.allclose(out_b.decoded, out_b.logits.mean(0))
    assert not torch.allclose(out_a.decoded, out_b.decoded)


RELEASED = [n for n in preset_names() if not n.startswith("ff_")]  # the 14 released ConvRNNs


@pytest.mark.parametrize("name", RELEASED)
@pytest.mark.parametrize("kind", ["last", "mean", "max_conf", "thresh"])
def test_released_window_is_the_released_codes_range(name: str, kind: str) -> None:
    # model_func.py: num_layers = len(G) (the convs and the readout node "imnetds", asserted 6
    # or 11), times 16 (shallow) or 17 (intermediate); "last" reads outputs[-1], the others
    # range(decoder_start=num_layers, decoder_end=times)
    preset = load_preset(name)
    num_layers, times = (6, 16) if name.endswith("_shallow") else (11, 17)
    assert len(preset.layers) + 1 == num_layers and preset.time.steps == times
    readout = {"kind": kind} if kind == "last" else {"kind": kind, "start": "released"}
    arch = _with(preset, **{"time.readout": readout})
    expected = (times - 1, times) if kind == "last" else (num_layers, times)
    assert decode_window(arch) == expected
    if kind != "last":  # auto: the readout's first sight, one step earlier than released
        auto = _with(preset, **{"time.readout": {"kind": kind}})
        assert decode_window(auto) == (num_layers - 1, times)


def test_explicit_window_and_a_bad_one() -> None:
    arch = _with(tiny({"kind": "gru"}), **{"time.readout": {"kind": "max_conf", "start": 5}})
    assert decode_window(arch) == (5, 7)
    with pytest.raises(ValueError, match="window"):
        _with(tiny({"kind": "gru"}), **{"time.readout": {"kind": "mean", "start": 6, "end": 6}})
    with pytest.raises(ValueError, match="end"):
        _with(tiny({"kind": "gru"}), **{"time.readout": {"kind": "thresh", "end": 8}})


def test_learned_temperature_is_one_counted_parameter() -> None:
    arch = _with(tiny({"kind": "gru"}), **{"time.readout": {"kind": "max_conf"}})
    learned = _with(arch, **{"time.readout": {"kind": "max_conf", "temperature": "learned"}})
    model = build_model(learned, seed=0)
    assert model.decoder.beta is not None and 0.0 <= float(model.decoder.beta.detach()) < 1.0
    assert param_count(learned) == param_count(arch) + 1
    assert sum(p.numel() for p in model.parameters()) == param_count(learned)
    assert build_model(arch, seed=0).decoder.beta is None


# -- blank frame -------------------------------------------------------------------------------


def test_blank_frame_is_the_constant_in_input_space() -> None:
    plain = tiny({"kind": "none"})  # no recurrence: a layer's output depends on its input alone
    half = _with(plain, **{"time.blank": 0.5})
    model = build_model(half, seed=0)
    randomize_biases(model)
    with torch.no_grad():
        out = model(images(), return_features=True)
        gray = model(torch.full_like(images(), 0.5), return_features=True)
    assert out.features is not None and gray.features is not None
    off = half.time.image_steps
    # conv1 at a blank step sees exactly the 0.5 frame, at an image step the image
    assert torch.allclose(out.features["c1"][off], gray.features["c1"][0])
    assert not torch.allclose(out.features["c1"][off - 1], gray.features["c1"][0])
    zero_model = build_model(plain, seed=0)
    randomize_biases(zero_model)
    with torch.no_grad():
        zero = zero_model(images(), return_features=True)
    assert zero.features is not None
    assert torch.equal(zero.features["c1"][:off], out.features["c1"][:off])
    assert not torch.allclose(zero.features["c1"][off], out.features["c1"][off])


def test_blank_default_keeps_the_hash() -> None:
    arch = tiny({"kind": "gru"})
    assert _with(arch, **{"time.blank": 0.0}).arch_hash == arch.arch_hash
    assert _with(arch, **{"time.blank": 0.5}).arch_hash != arch.arch_hash


# -- resize --------------------------------------------------------------------------------------


def test_resize_aligns_corners_like_tf() -> None:
    x = torch.tensor([[0.0, 3.0], [0.0, 3.0]]).view(1, 1, 2, 2)
    # align_corners (TF resize_images(..., align_corners=True)): corners map onto corners,
    # the new pixels at thirds; half-pixel centres (the default) clamp the borders
    aligned = resize(x, 4, align_corners=True)
    assert aligned[0, 0, 0].tolist() == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert resize(x, 4)[0, 0, 0].tolist() == pytest.approx([0.0, 0.75, 2.25, 3.0])
    assert torch.equal(resize(x, 4), F.interpolate(x, size=(4, 4), mode="bilinear"))


def test_align_corners_reaches_feedback_and_residual_inputs() -> None:
    arch = with_feedback()  # c4 (4x4) feeds back into c1/c2 (8x8): resized
    aligned = _with(arch, **{"resize.align_corners": True})
    outs = []
    for a in (arch, aligned):
        model = build_model(a, seed=0)
        randomize_biases(model)
        with torch.no_grad():
            outs.append(model(images()).logits)
    assert not torch.allclose(outs[0], outs[1])
    # nothing resized (no feedback, residual inputs at the cell's size): no change at all
    data = tiny({"kind": "rgc", "cell_depth": 2, "out_residual": True}).to_dict()
    data["layers"][2]["stride"] = 1
    plain = arch_from_data(data)
    same = [
        build_model(a, seed=0)(images()).logits
        for a in (plain, _with(plain, **{"resize.align_corners": True}))
    ]
    assert torch.equal(same[0], same[1])
    # the residual input of a cell on a smaller map is resized: a pooled layer feeding a strided
    # one (c3 reads c2's 4x4 output at stride 2: 2x2) goes through resize
    strided = tiny({"kind": "rgc", "residual_to_out_gate": True})
    logits = [
        build_model(a, seed=0)(images()).logits
        for a in (strided, _with(strided, **{"resize.align_corners": True}))
    ]
    assert not torch.allclose(logits[0], logits[1])


# -- cropped depth-separable kernels -------------------------------------------------------------


def _search_feedback_variant() -> Arch:
    """rgc_intermediate with the search's feedback choice: entry input, 8x8 depth-separable,
    elu (convrnn.md section 4), cropped as released."""
    data = load_preset("rgc_intermediate").to_dict()
    for edge in data["feedback"]:
        edge.update(entry="input", kernel=8, depth_separable=True, activation="elu")
    data["crop_depthwise"] = True
    return arch_from_data(data)


@pytest.mark.slow
def test_rgc_intermediate_search_feedback_variant_has_the_released_parameter_count() -> None:
    arch = _search_feedback_variant()
    assert param_count(arch) == 15_569_192  # the original's count for this variant
    assert cost(arch).params == 15_569_192
    with torch.device("meta"):
        model = build_model(arch)
    assert sum(p.numel() for p in model.parameters()) == 15_569_192
    # without the crop conv9's 8x8 depthwise kernel (on a 7x7 map) keeps 512 * 15 more weights
    uncropped = _with(arch, crop_depthwise=False)
    assert param_count(uncropped) == 15_569_192 + 512 * (64 - 49)


def test_cropped_kernels_run_and_shrink() -> None:
    cell = {
        "kind": "rgc",
        "cell_depth": 3,
        "tau_filter_size": 7,
        "gate_filter_size": 5,
        "tau_depth_separable": True,
        "gate_depth_separable": True,
    }
    arch = tiny(cell, crop_depthwise=True)  # c3 runs on 2x2 maps
    model = build_model(arch, seed=0)
    tau = model.get_parameter("layers.c3.cell.out_tau.depthwise.conv.weight")
    assert tuple(tau.shape[-2:]) == (2, 2)
    assert model(images()).logits.shape == (arch.time.steps, 2, 4)
    assert sum(p.numel() for p in model.parameters()) == param_count(arch)
    assert param_count(arch) < param_count(_with(arch, crop_depthwise=False))


# -- initialisation --------------------------------------------------------------------------------


def _std(t: torch.Tensor) -> float:
    return float(t.detach().float().std())


def _old_init(module: nn.Module, layers: object, readout: nn.Module, arch: Arch) -> None:
    """The initialisation before issue 13, verbatim: Glorot over ``modules()``, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def test_xavier_default_draws_what_the_old_loop_drew(monkeypatch: pytest.MonkeyPatch) -> None:
    arch = with_feedback()
    model = build_model(arch, seed=3)
    monkeypatch.setattr(network, "init_weights", _old_init)
    reference = build_model(arch, seed=3)
    for (name, a), (_, b) in zip(
        model.named_parameters(), reference.named_parameters(), strict=True
    ):
        assert torch.equal(a, b), name
    scaled = _with(arch, init={"scheme": "xavier", "scale": 2.0})  # scale: tf scheme only
    monkeypatch.undo()
    assert torch.equal(
        build_model(scaled, seed=3).get_parameter("layers.c1.conv.conv.weight"),
        model.get_parameter("layers.c1.conv.conv.weight"),
    )


@pytest.mark.slow
def test_tf_scheme_statistics() -> None:
    arch = load_preset("gru_intermediate")
    tf = _with(arch, **{"init.scheme": "tf"})
    model = build_model(tf, seed=0)
    conv = model.get_submodule("layers.conv9.conv.conv")  # 3x3, 512 -> 512: fan-in 4608
    assert isinstance(conv, nn.Conv2d)
    fan_in = math.prod(conv.weight.shape[1:])
    assert fan_in == 4608
    assert _std(conv.weight) == pytest.approx(math.sqrt(1 / fan_in), rel=0.05)
    bound = 2 * math.sqrt(1 / fan_in) / TRUNCATED_STD
    assert float(conv.weight.detach().abs().max()) <= bound + 1e-6
    assert _std(model.get_parameter("readout.fc.weight")) == pytest.approx(0.01, rel=0.05)
    assert torch.equal(model.get_parameter("readout.fc.bias"), torch.ones(1000))
    gates_bias = model.get_parameter("layers.conv5.cell.gates.conv.bias")
    assert torch.equal(gates_bias, torch.ones_like(gates_bias))
    assert torch.equal(
        model.get_parameter("layers.conv5.cell.candidate.conv.bias"), torch.zeros(128)
    )
    # cell kernels: TF Glorot uniform, limit sqrt(6 / (fan_in + fan_out))
    cand = model.get_parameter("layers.conv5.cell.candidate.conv.weight")  # 3x3, 256 -> 128
    limit = math.sqrt(6 / (9 * 256 + 9 * 128))
    largest = float(cand.detach().abs().max())
    assert 0.95 * limit < largest <= limit


def test_cell_init_scale_is_fan_in_variance_scaling_with_tf_fans() -> None:
    arch = load_preset("rgc_intermediate")
    data = arch.to_dict()
    for layer in data["layers"]:
        if layer["cell"]["kind"] == "rgc":
            layer["cell"]["init_scale"] = 0.6393378386273998
    scaled = arch_from_data(data)
    model = build_model(scaled, seed=0)
    in_to_out = model.get_parameter("layers.conv9.cell.in_to_out.conv.weight")  # fan-in 4608
    assert _std(in_to_out) == pytest.approx(math.sqrt(0.6393 / 4608), rel=0.05)
    depthwise = model.get_submodule("layers.conv9.cell.out_tau.depthwise.conv")
    assert isinstance(depthwise, nn.Conv2d)  # TF [7, 7, 512, 1]: fan-in 7*7*512
    assert tf_fans(depthwise.weight, depthwise.groups) == (49 * 512, 49)
    assert _std(depthwise.weight) == pytest.approx(math.sqrt(0.6393 / (49 * 512)), rel=0.05)
    # the feedback projection into conv9 lives in the cell in the released code
    fb = model.get_parameter("layers.conv9.feedback.0.conv.weight")  # 1x1, 512 -> 512
    assert _std(fb) == pytest.approx(math.sqrt(0.6393 / 512), rel=0.05)


def test_init_fields_at_default_keep_the_hash() -> None:
    arch = tiny({"kind": "rgc", "cell_depth": 2})
    same = _with(arch, init={"scheme": "xavier", "scale": 1.0}, resize={"align_corners": False})
    assert same.arch_hash == arch.arch_hash
    assert _with(arch, **{"init.scheme": "tf"}).arch_hash != arch.arch_hash
    assert _with(arch, crop_depthwise=True).arch_hash != arch.arch_hash


def test_every_option_trains_a_step() -> None:
    arch = _with(
        with_feedback(),
        init={"scheme": "tf"},
        resize={"align_corners": True},
        crop_depthwise=True,
        **{"time.blank": 0.5, "time.readout": {"kind": "thresh", "temperature": "learned"}},
    )
    model = build_model(arch, seed=0)
    out = model(images())
    loss = F.cross_entropy(out.decoded, torch.tensor([0, 1]))
    loss.backward()  # type: ignore[no-untyped-call]
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert SIZE == 8


def test_tf_scheme_initialises_peepholes_with_the_cells_kernel_initialiser() -> None:
    cell = {"kind": "lstm", "depth": 5, "peepholes": True}
    xavier = build_model(tiny(cell), seed=0)
    assert not xavier.get_parameter("layers.c2.cell.peep_f").detach().any()  # zeros, as before
    scaled = {**cell, "init_scale": 2.0}
    tf = build_model(tiny(scaled, init={"scheme": "tf"}), seed=0)
    peep = tf.get_parameter("layers.c2.cell.peep_f")  # (D, H, W) = (5, 8, 8): TF fan-in H*W
    assert peep.detach().any()
    bound = 2 * math.sqrt(2.0 / 64) / TRUNCATED_STD
    assert float(peep.detach().abs().max()) <= bound


@pytest.mark.slow
def test_lstm_shallow_peepholes_and_cells_follow_the_tuned_scales() -> None:
    model = build_model(load_preset("lstm_shallow"), seed=0)
    peep = model.get_parameter("layers.conv4.cell.peep_i")  # (256, 14, 14), scale 1.8315
    assert _std(peep) == pytest.approx(math.sqrt(1.8314561102978617 / 196), rel=0.05)
    gates = model.get_parameter("layers.conv3.cell.gates.conv.weight")  # 2x2, 256+128 -> 512
    fan_in = 4 * (256 + 128)
    assert _std(gates) == pytest.approx(math.sqrt(0.7008842622125534 / fan_in), rel=0.05)


def test_lstm_bias_init_sets_the_gates_biases() -> None:
    cell = {"kind": "lstm", "depth": 5, "bias_init": -1.25}
    for scheme in ("xavier", "tf"):
        model = build_model(tiny(cell, init={"scheme": scheme}), seed=0)
        bias = model.get_parameter("layers.c3.cell.gates.conv.bias")
        assert torch.equal(bias, torch.full_like(bias, -1.25))
    plain = build_model(tiny({"kind": "lstm", "depth": 5}), seed=0)
    assert not plain.get_parameter("layers.c3.cell.gates.conv.bias").detach().any()


# -- where tau_bias / gate_bias apply (bias_placement) ------------------------------------------


def _logits(arch: Arch) -> torch.Tensor:
    model = build_model(arch, seed=0)
    randomize_biases(model)
    with torch.no_grad():
        return model(images()).logits


def _rgc(**fields: Any) -> Arch:
    return tiny({"kind": "rgc", "cell_depth": 3, **fields})


def test_released_placement_drops_biases_on_depth_separable_taus_and_gates() -> None:
    ds = {"tau_depth_separable": True, "gate_depth_separable": True}
    released = _rgc(**ds, tau_bias=4.147, gate_bias=2.777, bias_placement="released")
    unbiased = _rgc(**ds)
    assert torch.equal(_logits(released), _logits(unbiased))
    # every_path (the default) applies them: another network
    assert not torch.allclose(
        _logits(_rgc(**ds, tau_bias=4.147, gate_bias=2.777)), _logits(unbiased)
    )


def test_released_placement_on_full_convs_is_every_path() -> None:
    both = {"tau_bias": 0.7, "gate_bias": -0.4}
    assert torch.equal(_logits(_rgc(**both, bias_placement="released")), _logits(_rgc(**both)))
    # only the tau conv depth-separable: the gate bias stays, the tau bias goes
    assert torch.equal(
        _logits(_rgc(**both, tau_depth_separable=True, bias_placement="released")),
        _logits(_rgc(tau_depth_separable=True, gate_bias=-0.4)),
    )


def test_released_placement_without_memory_gates_the_output_without_bias() -> None:
    released = tiny(
        {"kind": "rgc", "tau_bias": 0.7, "gate_bias": -0.4, "bias_placement": "released"}
    )
    assert torch.equal(_logits(released), _logits(tiny({"kind": "rgc", "tau_bias": 0.7})))


def test_released_placement_adds_the_gate_bias_to_the_cell_to_out_drive() -> None:
    quirk = _rgc(cell_to_out=True, gate_bias=0.5, bias_placement="released")
    assert not torch.allclose(_logits(quirk), _logits(_rgc(cell_to_out=True, gate_bias=0.5)))
    zero = _rgc(cell_to_out=True, bias_placement="released")
    assert torch.equal(_logits(zero), _logits(_rgc(cell_to_out=True)))


@pytest.mark.slow
def test_rgc_intermediate_with_the_released_biases_is_the_preset() -> None:
    # the preset keeps tau_bias / gate_bias 0; the released config's 4.147 / 2.777 placed as
    # released (never on this cell's depth-separable tau and gate convs) give the same network
    data = load_preset("rgc_intermediate").to_dict()
    data["input"]["size"] = 64  # the same network on a small image, for speed
    preset = arch_from_data(data)
    for layer in data["layers"]:
        if layer["cell"]["kind"] == "rgc":
            layer["cell"].update(
                tau_bias=4.147336708899556, gate_bias=2.776542926439013, bias_placement="released"
            )
    released = arch_from_data(data)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = build_model(preset, seed=0)(x).logits, build_model(released, seed=0)(x).logits
    assert torch.equal(a, b)
