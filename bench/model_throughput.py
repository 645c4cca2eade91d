"""Forward+backward throughput of ConvRNN presets next to their feedforward backbone (CPU).

For each preset and input size (default 96 px, then 64 px; T as in the preset) both models
train on the same batch with the same thread count:

- ``img/s``: images per second of one training step (forward over the unroll, cross-entropy on
  the decoded logits, backward through time); the median of ``--repeats`` timed steps after a
  warm-up step (``best`` is the fastest step). ConvRNN and feedforward steps alternate so that a
  change of machine load hits both.
- ``GMAC/img``: executed analytic multiply-accumulates per image from ``space.inventory`` (every
  conv at every step, the papers' convention, minus the first-layer conv the model computes only
  once per distinct frame: image, blank).
- ``eff``: the share of those MACs that touch the map (SAME padding: a 7x7 conv on a 2x2 map
  reads 9 of its 49 taps; the rest multiply padding zeros, which the model skips).
- ``GMAC/s``: achieved MAC rate (forward MACs x img/s; backward is ~2x forward for both, so
  the ratio is unaffected); ``ratio``: ConvRNN MAC rate / feedforward MAC rate (median steps).

The feedforward baseline is the same backbone with every cell replaced by ``none``, no
feedback, one step. Default one thread: on a shared 2-core machine a 2-thread OpenMP run waits
at every op's barrier for a descheduled thread, which penalises the ConvRNN's many small ops far
more than the feedforward net's few big ones (``--threads 2`` on a quiet machine).

    .venv/bin/python bench/model_throughput.py [--sizes 96 64] [--batch 8] [--repeats 3]
        [--threads 1] [--presets ...] [--json] [--profile]
    .venv/bin/python bench/model_throughput.py --smoke --json    # every preset, a few seconds

``--json`` prints the setup and the rows as one JSON document on stdout (progress and
``--profile`` tables go to stderr). ``--smoke`` only changes the defaults (every preset at
32 px, batch 2, one timed ConvRNN step): it checks that the benchmark runs, its figures mean
nothing; explicit arguments still win. ``tests/test_bench_smoke.py`` runs it, and once with
``--presets rgc_shallow --profile``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import torch
import torch.nn.functional as F

from space.arch import Arch, arch_from_data
from space.inventory import ConvSpec, inventory
from space.nn import build_model
from space.presets import load_preset

PRESETS = ("rgc_shallow", "rgc_intermediate", "lstm_shallow", "timedecay_intermediate")
# --smoke: the least work that still times every preset and its feedforward pair. Not
# --profile: its tables take minutes to build for rgc_intermediate (tens of thousands of ops).
SMOKE = {"sizes": [32], "batch": 2, "repeats": 1}


def at_size(arch: Arch, size: int) -> Arch:
    data = arch.to_dict()
    data["input"]["size"] = size
    data.pop("meta", None)
    head = data["head"]
    if head["kind"] == "conv" and head.get("padding") == "valid":
        head["kernel"] = 1  # the released 2x2 VALID head needs a 4x4 final map (224 px)
    return arch_from_data(data)


def feedforward_backbone(arch: Arch) -> Arch:
    data = arch.to_dict()
    for layer in data["layers"]:
        layer["cell"] = {"kind": "none"}
    data["feedback"] = []
    # one feedforward pass (a biological 1-step unroll would read the last layer at t-1 = zeros)
    data["time"] = {"steps": 1, "unroll": "feedforward"}
    return arch_from_data(data)


def _taps(size: int, kernel: int, stride: int) -> int:
    """Kernel taps inside the input, summed over the output positions of one axis (SAME)."""
    in_size = size * stride
    total = max((size - 1) * stride + kernel - in_size, 0)
    before = total // 2
    return sum(
        sum(0 <= o * stride + j - before < in_size for j in range(kernel)) for o in range(size)
    )


def effective_macs(spec: ConvSpec) -> int:
    """MACs of one conv counting only the taps that land on the map (not on padding)."""
    inside = _taps(spec.size, spec.kernel, spec.stride) ** 2
    if spec.depth_separable:
        return inside * spec.in_channels + spec.size**2 * spec.in_channels * spec.out_channels
    return inside * spec.in_channels * spec.out_channels


def executed_macs(arch: Arch) -> tuple[int, int]:
    """(analytic, effective) MACs per image over the unroll, the first conv computed once per
    distinct frame."""
    steps = arch.time.steps
    frames = 1 + (steps > arch.time.image_steps)
    analytic = effective = 0
    items = inventory(arch)
    for item in items:
        for spec in item.convs:
            repeats = frames if (item is items[0] and spec.name == "conv") else steps
            analytic += repeats * spec.macs
            effective += repeats * effective_macs(spec)
    return analytic, effective


def training_step(arch: Arch, batch: int) -> Callable[[], None]:
    model = build_model(arch, seed=0)
    images = torch.randn(batch, arch.input.channels, arch.input.size, arch.input.size)
    labels = torch.randint(0, arch.classes, (batch,))

    def step() -> None:
        model.zero_grad(set_to_none=True)
        torch.autograd.backward(F.cross_entropy(model(images).decoded, labels))

    return step


def _timed(step: Callable[[], None]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def time_pair(rnn: Arch, ff: Arch, batch: int, repeats: int) -> tuple[list[float], list[float]]:
    """Step times of both models, alternating (the feedforward step is short: several of them
    per ConvRNN step, at least ``repeats``)."""
    rnn_step, ff_step = training_step(rnn, batch), training_step(ff, batch)
    rnn_step(), ff_step(), ff_step()  # warm-up: allocator, oneDNN primitive caches
    rnn_times: list[float] = []
    ff_times: list[float] = []
    for _ in range(repeats):
        rnn_times.append(_timed(rnn_step))
        for _ in range(max(3, 30 // repeats)):
            ff_times.append(_timed(ff_step))
    return rnn_times, ff_times


def row(name: str, arch: Arch, batch: int, times: list[float]) -> dict[str, Any]:
    analytic, effective = executed_macs(arch)
    ips = batch / statistics.median(times)
    return {
        "model": name,
        "size": arch.input.size,
        "T": arch.time.steps,
        "img/s": ips,
        "best img/s": batch / min(times),
        "GMAC/img": analytic / 1e9,
        "eff": effective / analytic,
        "GMAC/s": analytic * ips / 1e9,
        "steps timed": len(times),
    }


def profile(arch: Arch, batch: int, out: TextIO, rows: int = 20) -> None:
    """Forward+backward profile of one step: ops by self CPU time, then by input shape."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    step = training_step(arch, batch)
    step()
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step()
    averages = prof.key_averages()
    table = averages.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40)
    print(table, file=out)
    shapes = prof.key_averages(group_by_input_shape=True)
    table = shapes.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=30)
    print(table, file=out)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def measure(name: str, size: int, batch: int, repeats: int) -> list[dict[str, Any]]:
    arch = at_size(load_preset(name), size)
    ff = feedforward_backbone(arch)
    rnn_times, ff_times = time_pair(arch, ff, batch, repeats)
    rnn = row(name, arch, batch, rnn_times)
    base = row(f"{name} feedforward", ff, batch, ff_times)
    rnn["ratio"] = rnn["GMAC/s"] / base["GMAC/s"]
    rnn["best ratio"] = (
        rnn["best img/s"] * rnn["GMAC/img"] / (base["best img/s"] * base["GMAC/img"])
    )
    return [rnn, base]


def print_rows(rows: list[dict[str, Any]], header: bool, out: TextIO) -> None:
    if header:
        print(
            f"{'model':34} {'px':>4} {'T':>3} {'img/s':>8} {'best':>8} {'GMAC/img':>9} "
            f"{'eff':>5} {'GMAC/s':>7} {'ratio':>6} {'best':>6}",
            file=out,
        )
    for r in rows:
        ratios = f"{r['ratio']:6.2f} {r['best ratio']:6.2f}" if "ratio" in r else ""
        print(
            f"{r['model']:34} {r['size']:4d} {r['T']:3d} {r['img/s']:8.2f} {r['best img/s']:8.2f} "
            f"{r['GMAC/img']:9.3f} {r['eff']:5.2f} {r['GMAC/s']:7.2f} {ratios}",
            file=out,
            flush=True,
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 64])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="timed ConvRNN steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--profile", action="store_true", help="profile each ConvRNN once")
    parser.add_argument("--smoke", action="store_true", help=f"smallest run: defaults {SMOKE}")
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if min(args.sizes) < 32 or args.batch < 1 or args.repeats < 1 or args.threads < 1:
        parser.error("--sizes must be >= 32 px, --batch, --repeats and --threads >= 1")
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    setup = {
        "batch": args.batch,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load before": load(),
    }
    # with --json, stdout carries only the document
    out = sys.stderr if args.json else sys.stdout
    print(", ".join(f"{k} {v}" for k, v in setup.items()), file=out, flush=True)
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        for name in args.presets:
            pair = measure(name, size, args.batch, args.repeats)
            rows += pair
            print_rows(pair, header=name == args.presets[0], out=out)
            if args.profile:
                profile(at_size(load_preset(name), size), args.batch, out)
    setup["load after"] = load()
    if args.json:
        print(json.dumps({"setup": setup, "rows": rows}, indent=2))
    else:
        print(f"load after: {setup['load after']}")


if __name__ == "__main__":
    main()
