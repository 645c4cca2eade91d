"""Per-cell weight decay (issue 13): a cell's ``weight_decay`` reaches the optimizer as its own
parameter group, for the cell's kernels and the feedback projections into its layer."""

from __future__ import annotations

import torch

from space.arch import Arch, arch_from_data
from space.nn import build_model
from tests.nn.nn_archs import with_feedback
from workers.config import TrainConfig
from workers.loop import make_optimizer

CELL_DECAY = 2e-4
DEFAULT_DECAY = 1e-3


def _arch_with_cell_decay() -> Arch:
    data = with_feedback().to_dict()
    data["layers"][1]["cell"]["weight_decay"] = CELL_DECAY  # c2: rgc with feedback into it
    return arch_from_data(data)


def _decay_of(opt: torch.optim.Optimizer) -> dict[int, float]:
    return {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}


def test_cell_kernels_and_their_feedback_get_the_cells_decay() -> None:
    arch = _arch_with_cell_decay()
    model = build_model(arch, seed=0)
    cfg = TrainConfig(weight_decay=DEFAULT_DECAY, optimizer="sgd")
    decay = _decay_of(make_optimizer(model, cfg))
    params = dict(model.named_parameters())
    assert len(decay) == len(params)  # every parameter in exactly one group
    for name, p in params.items():
        if p.dim() < 2:
            expected = 0.0
        elif name.startswith(("layers.c2.cell.", "layers.c2.feedback.")):
            expected = CELL_DECAY
        else:
            expected = DEFAULT_DECAY
        assert decay[id(p)] == expected, name
    assert any(n.startswith("layers.c2.feedback.") and p.dim() >= 2 for n, p in params.items())


def test_the_cells_decay_is_what_sgd_applies() -> None:
    arch = _arch_with_cell_decay()
    model = build_model(arch, seed=0)
    cfg = TrainConfig(weight_decay=DEFAULT_DECAY, optimizer="sgd", lr=1.0, momentum=0.0)
    opt = make_optimizer(model, cfg)
    cell_w = model.get_parameter("layers.c2.cell.out_tau.conv.weight")
    conv_w = model.get_parameter("layers.c2.conv.conv.weight")
    before = {"cell": cell_w.detach().clone(), "conv": conv_w.detach().clone()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()  # a zero gradient: the step is the decay alone, w -= lr * decay * w
    assert torch.allclose(cell_w.detach(), before["cell"] * (1 - CELL_DECAY))
    assert torch.allclose(conv_w.detach(), before["conv"] * (1 - DEFAULT_DECAY))


def test_without_cell_decay_the_groups_are_unchanged() -> None:
    model = build_model(with_feedback(), seed=0)
    opt = make_optimizer(model, TrainConfig(weight_decay=DEFAULT_DECAY))
    assert [g["weight_decay"] for g in opt.param_groups] == [DEFAULT_DECAY, 0.0]
