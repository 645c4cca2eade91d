"""Timing semantics of the unroll: latency, bypass, feedback delay, determinism, decoders."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from space.arch import Arch, LastReadout, MaxConfReadout, MeanReadout, ThreshReadout, arch_from_data
from space.graph import first_signal_steps, layer_shapes
from space.nn import ModelOutput, build_model
from space.nn.decoders import decode
from tests.nn.nn_archs import CELL_VARIANTS, images, randomize_biases, tiny, with_feedback


def _run(arch: Arch, seed: int, x: torch.Tensor) -> ModelOutput:
    model = build_model(arch, seed=seed)
    randomize_biases(model, seed)
    with torch.no_grad():
        return model(x, return_features=True)


@pytest.mark.parametrize("variant", ["lstm_peep_ln", "rgc_every_switch", "gru", "timedecay"])
def test_logits_before_the_image_arrives_do_not_depend_on_it(variant: str) -> None:
    arch = tiny(CELL_VARIANTS[variant])
    arrive = first_signal_steps(arch)["readout"]
    assert arrive == 3
    a, b = _run(arch, 0, images(seed=1)), _run(arch, 0, images(seed=2))
    assert torch.equal(a.logits[:arrive], b.logits[:arrive])
    assert not torch.allclose(a.logits[arrive], b.logits[arrive])


def test_latency_with_feedback_and_features() -> None:
    arch = with_feedback()
    first = first_signal_steps(arch)
    a, b = _run(arch, 0, images(seed=1)), _run(arch, 0, images(seed=2))
    assert a.features is not None and b.features is not None
    for name, step in first.items():
        if name == "readout":
            assert torch.equal(a.logits[:step], b.logits[:step])
            assert not torch.allclose(a.logits[step], b.logits[step])
            continue
        assert a.features[name].shape[0] == arch.time.steps
        assert torch.equal(a.features[name][:step], b.features[name][:step]), name
        assert not torch.allclose(a.features[name][step], b.features[name][step]), name


def test_feedforward_unroll_sees_the_image_at_once() -> None:
    data = tiny(CELL_VARIANTS["rgc_memory"]).to_dict()
    data["time"]["unroll"] = "feedforward"
    arch = arch_from_data(data)
    a, b = _run(arch, 0, images(seed=1)), _run(arch, 0, images(seed=2))
    assert not torch.allclose(a.logits[0], b.logits[0])
    # the bias-free 'none' network: step 0 equals one plain feedforward pass
    ff = arch_from_data(
        {**data, "layers": [{**la, "cell": {"kind": "none"}} for la in data["layers"]]}
    )
    model = build_model(ff, seed=0)
    out = model(images())
    assert torch.allclose(out.logits[0], out.logits[1])


def test_rgc_bypass_at_first_signal() -> None:
    """Zero state at the first step with signal: h = a_h((a_g + b_g.phi_gate(gate_bias)) . x)."""
    cell = {"kind": "rgc", "cell_depth": 4, "gate_bias": 0.4, "gate_nonlinearity": "tanh"}
    arch = tiny(cell)
    model = build_model(arch, seed=0)  # zero biases: every layer outputs zeros before its signal
    with torch.no_grad():
        out = model(images(), return_features=True)
    assert out.features is not None
    first = first_signal_steps(arch)
    t = first["c2"]
    assert not out.features["c2"][:t].any()  # zero state up to the first signal
    layer = model.layers["c2"]
    with torch.no_grad():
        x = F.elu(layer.conv(out.features["c1"][t - 1]))
        gate = 1.0 - torch.tanh(torch.tensor(0.4))
        expected = F.max_pool2d(F.elu(gate * x), 2, 2, ceil_mode=True)
    assert torch.allclose(out.features["c2"][t], expected, atol=1e-6)


def _without_edge(arch: Arch, index: int) -> Arch:
    data = arch.to_dict()
    data["feedback"] = [e for i, e in enumerate(data["feedback"]) if i != index]
    return arch_from_data(data)


def _copy_weights(full: torch.nn.Module, cut: torch.nn.Module, arch: Arch, cut_arch: Arch) -> None:
    """Give ``cut`` every weight of ``full``; feedback projections keep the input channels of
    the sources they still have (groups are matched by their key, not their index)."""
    shared = {k: v for k, v in full.state_dict().items() if ".feedback." not in k}
    cut.load_state_dict(shared, strict=False)
    key = lambda g: (g.entry, g.kernel, g.depth_separable, g.activation)  # noqa: E731
    out_ch = {s.name: s.out_channels for s in layer_shapes(arch)}
    full_groups = {
        s.name: {key(g): (i, g) for i, g in enumerate(s.feedback)} for s in layer_shapes(arch)
    }
    for shape in layer_shapes(cut_arch):
        for i, group in enumerate(shape.feedback):
            j, old = full_groups[shape.name][key(group)]
            offsets, start = {}, 0
            for src in old.sources:
                offsets[src] = range(start, start + out_ch[src])
                start += out_ch[src]
            cols = torch.tensor([c for src in group.sources for c in offsets[src]])
            src_mod = full.get_submodule(f"layers.{shape.name}.feedback.{j}")
            dst_mod = cut.get_submodule(f"layers.{shape.name}.feedback.{i}")
            with torch.no_grad():
                for (name, p_dst), (_, p_src) in zip(
                    dst_mod.named_parameters(), src_mod.named_parameters(), strict=True
                ):
                    if name.startswith("depthwise"):
                        p_dst.copy_(p_src[cols])
                    elif name.endswith("weight"):
                        p_dst.copy_(p_src[:, cols])
                    else:
                        p_dst.copy_(p_src)


@pytest.mark.parametrize("edge", range(5))
def test_feedback_acts_one_step_after_its_source_first_fires(edge: int) -> None:
    arch = with_feedback()
    cut = _without_edge(arch, edge)
    source, target = arch.feedback[edge].source, arch.feedback[edge].target
    fires = first_signal_steps(arch)[source]
    x = images(seed=1)
    # Default init (zero biases): a layer outputs exactly zero until its first signal, so an
    # edge carries nothing before its source fires. (With non-zero biases the silent source
    # still sends a constant, which shifts the target's operating point: no equality then.)
    full_model, cut_model = build_model(arch, seed=0), build_model(cut, seed=1)
    _copy_weights(full_model, cut_model, arch, cut)
    with torch.no_grad():
        a = full_model(x, return_features=True).features
        b = cut_model(x, return_features=True).features
    assert a is not None and b is not None
    for name in a:
        assert torch.equal(a[name][: fires + 1], b[name][: fires + 1]), name
    # entry 'cell' reaches the memory at fires + 1, the output reads c_{t-1}: one step later
    acts = fires + (2 if arch.feedback[edge].entry == "cell" else 1)
    assert torch.equal(a[target][:acts], b[target][:acts])
    assert not torch.allclose(a[target][acts], b[target][acts])


def test_seed_gives_identical_weights_and_outputs() -> None:
    arch = with_feedback()
    state = torch.get_rng_state()
    m1, m2 = build_model(arch, seed=3), build_model(arch, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    for (k1, v1), (k2, v2) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)
    x = images()
    assert torch.equal(m1(x).logits, m2(x).logits)
    m3 = build_model(arch, seed=4)
    assert not torch.equal(m1(x).logits, m3(x).logits)


def test_wrong_input_shape_is_a_clear_error() -> None:
    model = build_model(tiny({"kind": "none"}), seed=0)
    with pytest.raises(ValueError, match=r"\[B, 3, 8, 8\]"):
        model(torch.zeros(1, 3, 9, 9))


def test_decoders() -> None:
    logits = torch.tensor(
        [
            [[0.0, 0.0], [5.0, 0.0]],
            [[3.0, 0.0], [0.0, 1.0]],
            [[0.0, 1.0], [0.0, 9.0]],
        ]
    )  # [T=3, B=2, K=2]
    assert torch.equal(decode(logits, LastReadout()), logits[-1])
    assert torch.allclose(decode(logits, MeanReadout(start=1)), logits[1:].mean(0))
    assert torch.allclose(decode(logits, MeanReadout(start=0, end=2)), logits[:2].mean(0))
    every = (0, 3)
    max_conf = decode(logits, MaxConfReadout(), every)
    assert torch.equal(max_conf, torch.stack([logits[1, 0], logits[2, 1]]))
    # sample 0: p(step1)=0.95 passes 0.9 first; sample 1: step 0 (0.993) passes first
    thresh = decode(logits, ThreshReadout(threshold=0.9), every)
    assert torch.equal(thresh, torch.stack([logits[1, 0], logits[0, 1]]))
    # nothing passes 0.9999 for sample 0 -> its most confident step
    high = decode(logits, ThreshReadout(threshold=0.9999), every)
    assert torch.equal(high[0], logits[1, 0])
    # the window excludes step 0: sample 1 passes 0.9 first at step 2
    late = decode(logits, ThreshReadout(threshold=0.9, start=1), (1, 3))
    assert torch.equal(late, torch.stack([logits[1, 0], logits[2, 1]]))
    # an 'auto' start needs the arch to resolve it
    with pytest.raises(ValueError, match="auto"):
        decode(logits, MaxConfReadout())


def test_decoder_temperature_changes_the_confident_step() -> None:
    # step 0 logits (1, 0, 0), step 1 (3, 2.2, 0): max softmax 0.576 vs 0.667 at temperature 1,
    # 0.99995 vs 0.9997 at temperature 0.1 (sharper softmax favours the larger margin)
    logits = torch.tensor([[[1.0, 0.0, 0.0]], [[3.0, 2.2, 0.0]]])  # [T=2, B=1, K=3]
    assert torch.equal(decode(logits, MaxConfReadout(), (0, 2)), logits[1])
    assert torch.equal(decode(logits, MaxConfReadout(temperature=0.1), (0, 2)), logits[0])
    beta = torch.tensor([10.0])  # a learned inverse temperature, as a tensor
    assert torch.equal(decode(logits, MaxConfReadout(), (0, 2), beta=beta), logits[0])


def test_decoded_follows_the_arch_readout() -> None:
    data = tiny({"kind": "gru"}).to_dict()
    data["time"]["readout"] = {"kind": "mean", "start": 4}
    out = build_model(arch_from_data(data), seed=0)(images())
    assert torch.allclose(out.decoded, out.logits[4:].mean(0))


@pytest.mark.slow
def test_compile_flag_matches_eager() -> None:
    arch = tiny(CELL_VARIANTS["rgc_memory"])
    eager, compiled = build_model(arch, seed=0), build_model(arch, seed=0, compile=True)
    x = images()
    assert torch.allclose(eager(x).logits, compiled(x).logits, atol=1e-5)
