"""Analytic cost: every expected figure below is worked out by hand in the comments."""

from __future__ import annotations

from typing import Any

import pytest

from space.arch import Arch, arch_from_data
from space.cost import ArchCost, cost, human_bytes, human_count
from space.graph import first_signal_steps
from space.inventory import param_count

# One layer: r = 3 channels at 8x8 -> conv 3x3 -> x = 4 channels at 8x8 -> cell -> fc to 10.
# conv: 3*4*9 + 4 = 112 params, 3*4*9*64 = 6912 MACs a step.
CONV_PARAMS, CONV_MACS, AREA = 112, 6912, 64


def one_layer(cell: dict[str, Any], steps: int = 1) -> Arch:
    return arch_from_data(
        {
            "input": {"size": 8, "channels": 3},
            "classes": 10,
            "layers": [{"name": "conv1", "channels": 4, "kernel": 3, "cell": cell}],
            "time": {"steps": steps},
        }
    )


def fc(width: int) -> tuple[int, int]:
    """(params, MACs) of the fc readout from ``width`` channels to 10 classes."""
    return width * 10 + 10, width * 10


CASES = {
    # kind: (cell, cell params, cell MACs per step, output width)
    "none": ({"kind": "none"}, 0, 0, 4),
    # one scalar tau, no conv
    "timedecay": ({"kind": "timedecay"}, 1, 0, 4),
    # input conv 4->5 (180 + 5), state conv 5->5 (225 + 5), layer norm 2*5
    "simplernn": (
        {"kind": "simplernn", "depth": 5, "layer_norm": True},
        185 + 230 + 10,
        (180 + 225) * AREA,
        5,
    ),
    # gates [x, h] 8 -> 8 (576 + 8), candidate 8 -> 4 (288 + 4)
    "gru": ({"kind": "gru"}, 584 + 292, (576 + 288) * AREA, 4),
    # gates 8 -> 16 (1152 + 16), peepholes 3 * (4 x 8 x 8), five norms of 4 channels
    "lstm": (
        {"kind": "lstm", "peepholes": True, "layer_norm": True},
        1168 + 3 * 256 + 5 * 8,
        1152 * AREA,
        4,
    ),
    # gates 8 -> 8
    "ugrnn": ({"kind": "ugrnn"}, 584, 576 * AREA, 4),
    # gates [x, h] 8 -> 16, 2x2 filter: 8*16*4 + 16
    "intersectionrnn": ({"kind": "intersectionrnn", "filter_size": 2}, 528, 512 * AREA, 4),
    # no memory (cell_depth 0): only the out tau conv 4 -> 4 3x3
    "rgc_plain": ({"kind": "rgc"}, 148, 144 * AREA, 4),
    # memory of 2 channels, ff 1x1, depth-separable tau, input_to_out 3x3, out residual
    # (r = 3 != x = 4: bias-free 1x1 projection 3 -> 4):
    #   in_to_cell 4->2 1x1: 8 + 2           MACs 8
    #   cell_tau 2->2 7x7 ds: 98 + 4 + 2     MACs 98 + 4
    #   out_to_cell 4->2 3x3: 72 + 2         MACs 72
    #   out_tau 4->4 7x7 ds: 196 + 16 + 4    MACs 196 + 16
    #   cell_to_out 2->4 3x3: 72 + 4         MACs 72
    #   in_to_out 4->4 3x3: 144 + 4          MACs 144
    #   res_to_out 3->4 1x1: 12              MACs 12
    "rgc_memory": (
        {
            "kind": "rgc",
            "cell_depth": 2,
            "ff_filter_size": 1,
            "tau_filter_size": 7,
            "tau_depth_separable": True,
            "input_to_out": True,
            "out_residual": True,
        },
        10 + 104 + 74 + 216 + 76 + 148 + 12,
        (8 + 102 + 72 + 212 + 72 + 144 + 12) * AREA,
        4,
    ),
    # rgc_shallow style: no biases, the out gate also reads r (3 -> 4, 3x3, bias-free)
    #   in_to_cell 4->4 3x3: 144, cell_tau 144, out_to_cell 144, out_tau 144, cell_to_out 144,
    #   res_to_out_gate 3->4 3x3: 108
    "rgc_nobias": (
        {"kind": "rgc", "cell_depth": 4, "residual_to_out_gate": True, "bias": False},
        5 * 144 + 108,
        (5 * 144 + 108) * AREA,
        4,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_layer_params_and_macs_by_hand(name: str) -> None:
    cell, cell_params, cell_macs, width = CASES[name]
    arch = one_layer(cell, steps=3)
    result = cost(arch)
    fc_params, fc_macs = fc(width)
    assert result.params == CONV_PARAMS + cell_params + fc_params
    assert result.params == param_count(arch)
    assert result.layers[0].params == CONV_PARAMS + cell_params
    assert result.layers[0].macs_per_step == CONV_MACS + cell_macs
    assert result.readout.macs_per_step == fc_macs
    assert result.macs_per_step == CONV_MACS + cell_macs + fc_macs
    assert result.flops == 3 * result.macs_per_step


def plain_net(**extra: Any) -> Arch:
    data: dict[str, Any] = {
        "input": {"size": 16, "channels": 3},
        "classes": 10,
        "layers": [
            {"name": "conv1", "channels": 8, "kernel": 3, "stride": 2, "pool": 2},
            {"name": "conv2", "channels": 16, "kernel": 3},
        ],
        "time": {"steps": 3},
    }
    data.update(extra)
    return arch_from_data(data)


def test_plain_conv_net_flops_params_memory() -> None:
    result = cost(plain_net())
    # conv1: 3->8 3x3 stride 2 at 8x8 out: 216*64 = 13824 MACs, 216 + 8 params
    # conv2: 8->16 3x3 at 4x4 (after pool): 1152*16 = 18432 MACs, 1152 + 16 params
    # fc: 16 -> 10: 160 MACs, 170 params
    assert [layer.macs_per_step for layer in result.layers] == [13824, 18432]
    assert result.macs_per_step == 13824 + 18432 + 160
    assert result.flops == 3 * 32416
    assert result.params == 224 + 1168 + 170
    assert [(layer.size, layer.out_size) for layer in result.layers] == [(8, 4), (4, 4)]
    # memory: input 3*16*16 = 768 once; a step: conv1 out 8*64 + pooled 8*16, conv2 out 16*16,
    # head: logits 10 + pooled features 16
    per_step = 512 + 128 + 256 + 26
    assert result.activation_bytes == 4 * (768 + 3 * per_step)


def test_conv_head_is_counted_at_every_position() -> None:
    result = cost(plain_net(head={"kind": "conv", "kernel": 2}))
    # 2x2 conv 16 -> 10 on the 4x4 map: 640 + 10 params, 640 * 16 MACs a step
    assert result.readout.params == 650
    assert result.readout.macs_per_step == 10240
    assert result.flops == 3 * (13824 + 18432 + 10240)


def test_feedback_projection_cost() -> None:
    arch = plain_net(feedback=[{"source": "conv2", "target": "conv1"}])
    result = cost(arch)
    # one 1x1 projection 16 -> 8 at conv1's 8x8: 128 + 8 params, 128*64 MACs
    assert result.layers[0].params == 224 + 136
    assert result.layers[0].macs_per_step == 13824 + 8192
    assert result.layers[0].feedback_from == ("conv2",)
    assert result.feedback_edges == 1
    # memory grows by the projection output and the concat input (16 + 8 channels at 8x8)
    assert result.activation_bytes - cost(plain_net()).activation_bytes == 4 * 3 * 24 * 64


def test_grouped_feedback_shares_one_projection() -> None:
    layers = [{"name": f"c{i}", "channels": 4 * i} for i in (1, 2, 3)]
    base = {
        "input": {"size": 8, "channels": 1},
        "classes": 2,
        "layers": layers,
        "time": {"steps": 4},
    }
    grouped = arch_from_data(
        {**base, "feedback": [{"source": "c3", "target": "c1"}, {"source": "c2", "target": "c1"}]}
    )
    split = arch_from_data(
        {
            **base,
            "feedback": [
                {"source": "c3", "target": "c1"},
                {"source": "c2", "target": "c1", "activation": "elu"},
            ],
        }
    )
    # grouped: one 1x1 (12 + 8) -> 4 with one bias: 80 + 4; split: (48 + 4) + (32 + 4)
    base_params = cost(arch_from_data(base)).layers[0].params
    assert cost(grouped).layers[0].params - base_params == 84
    assert cost(split).layers[0].params - base_params == 88
    assert cost(grouped).layers[0].feedback_from == ("c2", "c3")


def chain(n: int, feedback: list[dict[str, str]] | None = None, unroll: str = "biological") -> Arch:
    return arch_from_data(
        {
            "input": {"size": 8, "channels": 1},
            "classes": 2,
            "layers": [{"name": f"c{i}", "channels": 2} for i in range(1, n + 1)],
            "feedback": feedback or [],
            "time": {"steps": 8, "unroll": unroll},
        }
    )


def test_first_signal_steps() -> None:
    plain = cost(chain(4))
    assert [layer.first_signal for layer in plain.layers] == [0, 1, 2, 3]
    assert plain.readout_first_step == 4
    # feedback c4 -> c2 cannot make c2 see the image earlier than its feedforward path
    with_fb = cost(chain(4, [{"source": "c4", "target": "c2"}]))
    assert [layer.first_signal for layer in with_fb.layers] == [0, 1, 2, 3]
    assert with_fb.readout_first_step == 4
    assert first_signal_steps(chain(4))["readout"] == 4
    flat = cost(chain(4, [{"source": "c4", "target": "c2"}], unroll="feedforward"))
    assert [layer.first_signal for layer in flat.layers] == [0, 0, 0, 0]
    assert flat.readout_first_step == 0


def test_unroll_mode_does_not_change_flops() -> None:
    assert cost(chain(3)).flops == cost(chain(3, unroll="feedforward")).flops


def test_to_dict_is_json_ready() -> None:
    import json

    result: ArchCost = cost(plain_net(feedback=[{"source": "conv2", "target": "conv1"}]))
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["params"] == result.params
    assert data["layers"][0]["feedback_from"] == ["conv2"]
    assert data["gflops"] == pytest.approx(result.flops / 1e9)
    assert data["readout"]["classes"] == 10


def test_human_units() -> None:
    assert human_count(999) == "999"
    assert human_count(15_445_800) == "15.4M"
    assert human_count(71_546_903_936) == "71.5G"
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**3) == "3 GiB"


def test_human_units_take_any_int() -> None:
    # a float holds up to about 1.8e308: a 401-digit count once raised OverflowError (a 500)
    assert human_count(10**400) == "1.00e+400"
    assert human_count(-(10**400)) == "-1.00e+400"
    assert human_count(10**300) == "1e+288T"  # still a float
    assert human_bytes(10**400).endswith(" GiB")


def test_cropped_depth_separable_kernels_by_hand() -> None:
    # rgc on a 2x2 map (8x8 input, conv stride 4), tau 7x7 depth-separable, no memory:
    # out_tau = depthwise 7x7 on 4 channels (196) + pointwise 4->4 (16) + bias 4 = 216;
    # cropped as released, the depthwise is 2x2: 16 + 16 + 4 = 36, and MACs follow
    cell = {"kind": "rgc", "tau_filter_size": 7, "tau_depth_separable": True, "gate_filter_size": 0}
    data = {
        "input": {"size": 8, "channels": 3},
        "classes": 10,
        "layers": [{"name": "conv1", "channels": 4, "kernel": 3, "stride": 4, "cell": cell}],
        "time": {"steps": 2},
    }
    full, cropped = arch_from_data(data), arch_from_data({**data, "crop_depthwise": True})
    assert cost(full).params - cost(cropped).params == 216 - 36
    assert cost(full).macs_per_step - cost(cropped).macs_per_step == (49 - 4) * 4 * 4
    assert param_count(cropped) == cost(cropped).params


def test_rgc_intermediate_search_feedback_variant_count() -> None:
    # the released median model with the search's feedback choice (entry input, 8x8
    # depth-separable, elu): 15,569,192 parameters in the original, whose 8x8 kernel into conv9
    # (a 7x7 map) is cropped to 7x7
    from space.presets import load_preset

    data = load_preset("rgc_intermediate").to_dict()
    for edge in data["feedback"]:
        edge.update(entry="input", kernel=8, depth_separable=True, activation="elu")
    assert cost(arch_from_data(data)).params == 15_569_192
    data["crop_depthwise"] = False
    assert cost(arch_from_data(data)).params == 15_569_192 + 512 * (64 - 49)


def test_learned_decoder_temperature_is_one_parameter() -> None:
    plain = one_layer({"kind": "gru"}, steps=3)
    data = plain.to_dict()
    data["time"]["readout"] = {"kind": "thresh", "temperature": "learned"}
    assert cost(arch_from_data(data)).params == cost(plain).params + 1
