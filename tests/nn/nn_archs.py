"""Hand-written tiny architectures covering every switch of every cell family (shared by tests)."""

from __future__ import annotations

from typing import Any

import torch

from space.arch import Arch, arch_from_data

SIZE = 8
CLASSES = 4

RGC_VARIANTS: dict[str, dict[str, Any]] = {
    "rgc_default": {"kind": "rgc"},
    "rgc_memory": {"kind": "rgc", "cell_depth": 4},
    "rgc_every_switch": {
        "kind": "rgc",
        "cell_depth": 5,
        "tau_filter_size": 3,
        "cell_tau_filter_size": 1,
        "gate_filter_size": 2,
        "ff_filter_size": 2,
        "in_out_filter_size": 1,
        "tau_depth_separable": True,
        "gate_depth_separable": True,
        "ff_depth_separable": True,
        "in_out_depth_separable": True,
        "input_to_cell": True,
        "cell_residual": True,
        "input_to_out": True,
        "cell_to_out": True,
        "out_residual": True,
        "input_to_tau": True,
        "input_to_gate": True,
        "residual_to_cell_tau": True,
        "residual_to_cell_gate": True,
        "residual_to_out_tau": True,
        "residual_to_out_gate": True,
        "tau_nonlinearity": "tanh",
        "gate_nonlinearity": "tanh",
        "tau_offset": 0.9,
        "tau_multiplier": -0.9,
        "gate_offset": 0.7,
        "gate_multiplier": -0.7,
        "tau_bias": 0.3,
        "gate_bias": -0.2,
        "input_activation": "elu",
        "cell_activation": "tanh",
        "out_activation": "relu",
        "layer_norm": True,
    },
    "rgc_full_convs_no_bias": {
        "kind": "rgc",
        "cell_depth": 6,
        "cell_residual": True,
        "input_to_cell": False,
        "residual_to_out_gate": True,
        "residual_to_cell_gate": True,
        "out_residual": True,
        "bias": False,
    },
    "rgc_no_memory_switches": {
        "kind": "rgc",
        "gate_filter_size": 0,
        "input_to_out": True,
        "input_to_gate": True,
        "input_to_tau": True,
        "residual_to_out_tau": True,
        "residual_to_out_gate": True,
        "out_residual": True,
        "layer_norm": True,
    },
}

STANDARD_VARIANTS: dict[str, dict[str, Any]] = {
    "none": {"kind": "none"},
    "timedecay": {"kind": "timedecay", "tau_init": 0.2},
    "simplernn": {"kind": "simplernn"},
    "simplernn_depth_ln": {"kind": "simplernn", "depth": 5, "layer_norm": True},
    "gru": {"kind": "gru"},
    "gru_depth_ln": {"kind": "gru", "depth": 6, "layer_norm": True, "filter_size": 2},
    "lstm": {"kind": "lstm"},
    "lstm_peep_ln": {"kind": "lstm", "depth": 5, "peepholes": True, "layer_norm": True},
    "ugrnn": {"kind": "ugrnn", "depth": 7},
    "ugrnn_ln": {"kind": "ugrnn", "layer_norm": True, "bias": False},
    "intersectionrnn": {"kind": "intersectionrnn"},
    "intersectionrnn_ln": {"kind": "intersectionrnn", "layer_norm": True, "filter_size": 4},
}

CELL_VARIANTS = {**STANDARD_VARIANTS, **RGC_VARIANTS}


def tiny(cell: dict[str, Any], **extra: Any) -> Arch:
    """Three layers (the cell in the middle two; the last one changes channels and strides)."""
    data: dict[str, Any] = {
        "input": {"size": SIZE, "channels": 3},
        "classes": CLASSES,
        "layers": [
            {"name": "c1", "channels": 6, "kernel": 3},
            {"name": "c2", "channels": 6, "kernel": 3, "cell": cell, "pool": 2},
            {"name": "c3", "channels": 8, "kernel": 2, "stride": 2, "cell": cell},
        ],
        "time": {"steps": 7, "image_off": 5},
    }
    data.update(extra)
    return arch_from_data(data)


def with_feedback() -> Arch:
    """Every feedback entry, a depth-separable group, a two-source group and a block layer."""
    rgc = {"kind": "rgc", "cell_depth": 4, "input_to_out": True, "out_residual": True}
    return arch_from_data(
        {
            "input": {"size": SIZE, "channels": 3},
            "classes": CLASSES,
            "layers": [
                {"name": "c1", "channels": 6},
                {"name": "c2", "channels": 6, "cell": rgc},
                {
                    "name": "c3",
                    "channels": 8,
                    "cell": {"kind": "gru"},
                    "post_kernel": 3,
                    "residual": True,
                    "post_activation": "elu",
                    "pool": 2,
                },
                {"name": "c4", "channels": 8, "cell": rgc},
            ],
            "feedback": [
                {"source": "c4", "target": "c2", "entry": "out"},
                {"source": "c3", "target": "c2", "entry": "out"},
                {"source": "c4", "target": "c2", "entry": "cell", "kernel": 3},
                {
                    "source": "c4",
                    "target": "c1",
                    "entry": "input",
                    "kernel": 3,
                    "depth_separable": True,
                    "activation": "elu",
                },
                {"source": "c4", "target": "c3", "entry": "out", "activation": "tanh"},
            ],
            "time": {"steps": 9, "image_off": 6},
        }
    )


def randomize_biases(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-zero biases and norm shifts, so that 'zero stays zero' cannot hide a leak."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def images(batch: int = 2, seed: int = 0, size: int = SIZE) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
