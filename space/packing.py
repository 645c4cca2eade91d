"""Cost-aware packing: how much of a GPU one trial needs, from the analytic cost model alone.

With ``search.resources.gpu: auto`` every candidate asks Ray for the share of a GPU that its
estimated training memory takes, so small candidates pack several to a GPU and large ones get a
whole one. The estimate is known before anything runs (it needs the arch and the batch size);
the trial reports it as ``memory_estimate`` next to the measured ``peak_memory``
(``torch.cuda.max_memory_allocated``) so users can see how good it is.

The estimate (:func:`estimate_memory`, bytes, what PyTorch's allocator holds at the peak):

* ``weights``     4 bytes a parameter (float32 master weights);
* ``gradients``   4 bytes a parameter;
* ``optimizer``   4 bytes a parameter per optimizer state: SGD with momentum 1, plain SGD 0,
                  Adam/AdamW 2 (the first and second moments);
* ``amp_weights`` 2 bytes a parameter under mixed precision (autocast caches a half-precision
                  copy of every weight it casts for the step);
* ``activations`` the larger of training (``batch_size`` times the cost model's
                  ``activation_bytes``, what backprop through time keeps per image at 4 bytes
                  an element, times :data:`AUTOGRAD_FACTOR`) and evaluation (no graph: about
                  two time steps of one image, times the evaluation batch).

The cost model counts the tensors an architecture *defines* (conv outputs, gates, states);
autograd saves more (each op's inputs as well as outputs, pooling indices, the pre-activation of
every nonlinearity). Counted with ``torch.autograd.graph.saved_tensors_hooks`` over the presets
and the test archs (unique storages, parameters excluded), autograd kept 0.94x (LSTM) to 2.2x
(the feedforward presets) the cost model's figure; :data:`AUTOGRAD_FACTOR` is the top of that
range, and ``tests/space/test_packing.py`` holds the estimate above the measured count.

Mixed precision is *not* assumed to halve the activations: autocast runs the convs in 16 bits,
but the cells' gates meet float32 parameters (time constants, peepholes, norm gains) and come
out in float32, so the cost model's 4 bytes an element stays the honest upper figure.

The share (:func:`gpu_share`) adds a safety factor (allocator rounding, cuDNN workspaces, the
temporaries autograd frees, which the cost model ignores) and a fixed per-process overhead (the
CUDA context and kernels each trial's process loads, which ``max_memory_allocated`` does not
count), divides by one GPU's memory, never goes below a floor and is rounded *up* to Ray's
resource grid (Ray keeps fractional resources to 0.0001). A share of 1 or more is a whole GPU:
the training loop uses one device, so a trial never asks for more than one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from space.cost import ArchCost

# Ray stores fractional resources as integers of 1/10000 (ray._raylet.RESOURCE_UNIT_SCALING);
# a finer request is an error ("cannot go beyond 0.0001").
RAY_GRID = 10_000
PARAM_BYTES = 4  # float32 weights, gradients and optimizer states
AMP_PARAM_BYTES = 2  # the half-precision weight copies autocast caches
# The CUDA context and kernels of one trial's process (outside PyTorch's allocator); the
# default of search.resources.gpu_overhead.
DEFAULT_GPU_OVERHEAD = 512 * 2**20
# What autograd saves per element the cost model counts (measured, see the module doc).
AUTOGRAD_FACTOR = 2.25
# Evaluation keeps no graph: the live tensors are about one step's states and the next's.
EVAL_STEPS_LIVE = 2

Optimizer = Literal["sgd", "adam", "adamw"]


@dataclass(frozen=True)
class MemoryEstimate:
    """The parts of a trial's estimated peak GPU memory, in bytes (see the module doc)."""

    weights: int
    gradients: int
    optimizer: int
    amp_weights: int
    train_activations: int
    eval_activations: int

    @property
    def activations(self) -> int:
        return max(self.train_activations, self.eval_activations)

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.amp_weights + self.activations

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def optimizer_states(optimizer: Optimizer, momentum: float) -> int:
    """Tensors the size of the parameters that the optimizer keeps."""
    if optimizer == "sgd":
        return 1 if momentum > 0 else 0
    return 2  # Adam and AdamW: exp_avg and exp_avg_sq


def estimate_memory(
    arch_cost: ArchCost,
    *,
    batch_size: int,
    eval_batch_size: int,
    optimizer: Optimizer = "sgd",
    momentum: float = 0.9,
    amp: bool = False,
) -> MemoryEstimate:
    """Estimated peak allocator memory of training ``arch_cost``'s arch (module doc)."""
    params = arch_cost.params
    per_step = (arch_cost.activation_bytes / max(arch_cost.steps, 1)) * EVAL_STEPS_LIVE
    return MemoryEstimate(
        weights=PARAM_BYTES * params,
        gradients=PARAM_BYTES * params,
        optimizer=PARAM_BYTES * params * optimizer_states(optimizer, momentum),
        amp_weights=AMP_PARAM_BYTES * params if amp else 0,
        train_activations=math.ceil(batch_size * arch_cost.activation_bytes * AUTOGRAD_FACTOR),
        eval_activations=math.ceil(eval_batch_size * per_step),
    )


def round_up_share(share: float) -> float:
    """``share`` rounded up to Ray's 0.0001 grid (a share that would round down may not fit)."""
    # The small tolerance keeps an exact grid value (0.25) from moving up by float noise.
    return math.ceil(share * RAY_GRID - 1e-6) / RAY_GRID


@dataclass(frozen=True)
class Share:
    """A trial's GPU share and how it came about."""

    share: float  # what to ask Ray for: in [floor, 1], on Ray's grid
    needed: float  # the unrounded, unfloored, uncapped fraction of one GPU
    fits: bool  # False when even a whole GPU is less than the estimate with its margin


def gpu_share(
    estimate: int,
    gpu_memory: int,
    *,
    safety_factor: float,
    overhead: int,
    floor: float,
) -> Share:
    """The GPU fraction for a trial estimated to need ``estimate`` bytes (module doc)."""
    if gpu_memory <= 0:
        raise ValueError(f"gpu_memory must be positive, got {gpu_memory}")
    if not 0 < floor <= 1:
        raise ValueError(f"the floor must be in (0, 1], got {floor}")
    needed = (estimate * safety_factor + overhead) / gpu_memory
    share = min(1.0, max(floor, needed))
    share = 1.0 if share >= 1.0 else min(1.0, round_up_share(share))
    return Share(share=share, needed=needed, fits=needed <= 1.0)


def trials_per_gpu(share: float) -> int:
    """How many trials of this share Ray fits on one GPU (its integer arithmetic)."""
    units = round(share * RAY_GRID)
    return RAY_GRID // units if units > 0 else 0


__all__ = [
    "AUTOGRAD_FACTOR",
    "DEFAULT_GPU_OVERHEAD",
    "MemoryEstimate",
    "Share",
    "estimate_memory",
    "gpu_share",
    "optimizer_states",
    "round_up_share",
    "trials_per_gpu",
]
