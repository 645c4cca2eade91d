"""GPU smoke benchmark: a few training steps of presets on CUDA, in fp32 and mixed precision.

    .venv/bin/python bench/gpu_smoke.py [--presets ff_shallow rgc_shallow rgc_intermediate]
                                        [--batch 64] [--steps 20] [--compile] [--json]
    .venv/bin/python bench/gpu_smoke.py --smoke --json     # batch 8, 3 timed steps

For each preset (224 px, 1000 classes, random images), each precision (``off``: float32;
``auto``: bf16 autocast where the GPU has it natively, else fp16 with loss scaling) and each
memory layout (channels_last, a trial's default, and NCHW: ``search.resources.amp`` and
``channels_last`` choose them for a search) it trains ``--warmup`` + ``--steps`` optimizer steps
through the real loop (``workers.loop.train``: the same optimizer and clipping as a trial) and
prints

* training images/s over the timed steps (the loop syncs every step: it reads the loss);
* the allocated peak (``torch.cuda.max_memory_allocated``) and the reserved one
  (``max_memory_reserved``: what the per-trial allocator cap limits, caching and fragmentation
  included) against the analytic estimate packing uses (``space.packing``:
  ``memory_estimate``), the reserved peak's ratio to it, and the GPU share ``gpu: auto`` would
  ask for on this GPU with the default settings. The first GPU run settles the estimate's
  factors: ``reserved/est`` above ``safety_factor`` (1.5) means shares are too small;
* the mixed-precision and channels-last speed-ups (images/s of ``auto`` over ``off``, of
  channels_last over NCHW under ``auto``).

Without a CUDA device it says so and exits 0 (``--json``: ``{"cuda": false, ...}``): there is
nothing to measure. ``tests/test_bench_smoke.py`` runs ``--smoke --json``. Not a test: the
figures depend on the GPU and what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import torch

from space.arch import Arch
from space.cost import cost
from space.packing import DEFAULT_GPU_OVERHEAD, gpu_share
from space.presets import load_preset
from space.spec import Resources
from workers.config import TrainConfig, memory_estimate
from workers.loop import autocast_for, train

PRESETS = ["ff_shallow", "rgc_shallow", "rgc_intermediate"]
SMOKE = {"batch": 8, "steps": 3, "warmup": 1}
MiB = 2**20


def random_data(arch: Arch, images: int, seed: int = 0) -> Any:
    """Random uint8 images of the arch's shape (the throughput does not care what they show)."""
    from workers.data import Dataset

    g = torch.Generator().manual_seed(seed)
    shape = (arch.input.channels, arch.input.size, arch.input.size)
    val = 8
    return Dataset(
        name="random",
        x_train=torch.randint(0, 256, (images, *shape), generator=g, dtype=torch.uint8),
        y_train=torch.randint(0, arch.classes, (images,), generator=g),
        x_val=torch.randint(0, 256, (val, *shape), generator=g, dtype=torch.uint8),
        y_val=torch.randint(0, arch.classes, (val,), generator=g),
        class_names=tuple(str(i) for i in range(arch.classes)),
        mean=(0.5,) * shape[0],
        std=(0.25,) * shape[0],
    )


def run_one(
    arch: Arch,
    amp: str,
    args: argparse.Namespace,
    device: str = "cuda",
    gpu_memory: int = 0,
    channels_last: bool = True,
) -> dict[str, Any]:
    """One preset at one precision and layout. ``device``/``gpu_memory``: for the tests, which
    run the same code on the CPU (no peak there; the share for a GPU of ``gpu_memory`` bytes)."""
    total = args.warmup + args.steps
    overrides = {
        "batch_size": args.batch,
        "epochs": 1,
        "max_steps": total,
        "device": device,
        "amp": amp,
        "channels_last": channels_last,
        "compile": args.compile,
        "eval_batch_size": 8,
    }
    cfg = TrainConfig.for_arch(arch, overrides)
    data = random_data(arch, args.batch * total)
    stamps: list[float] = []
    if device == "cuda":
        torch.cuda.empty_cache()
    result = train(arch, data, cfg, on_step=lambda e, b, loss: stamps.append(time.perf_counter()))
    timed = stamps[args.warmup - 1 :] if args.warmup > 0 else stamps
    seconds = timed[-1] - timed[0] if len(timed) > 1 else 0.0
    images_s = args.batch * (len(timed) - 1) / seconds if seconds > 0 else None
    estimate = memory_estimate(arch, cfg, cuda=device == "cuda").total
    memory = gpu_memory or torch.cuda.get_device_properties(0).total_memory
    defaults = Resources()
    share = gpu_share(
        estimate,
        memory,
        safety_factor=defaults.safety_factor,
        overhead=DEFAULT_GPU_OVERHEAD,
        floor=defaults.min_gpu_share,
    )
    _, dtype = autocast_for(torch.device(device), amp)
    peak, reserved = result.peak_memory, result.peak_reserved
    return {
        "status": str(result.status),
        "reason": result.reason,
        "precision": str(dtype).removeprefix("torch.") if dtype else "float32",
        "layout": "channels_last" if channels_last else "nchw",
        "steps_timed": len(timed) - 1,
        "images_per_s": images_s,
        "peak_memory": peak,
        "peak_reserved": reserved,
        "memory_estimate": estimate,
        "peak_over_estimate": peak / estimate if peak and estimate else None,
        "reserved_over_estimate": reserved / estimate if reserved and estimate else None,
        "gpu_share": share.share,
    }


# (key, amp, channels_last): a trial's default first.
VARIANTS = (
    ("fp32", "off", True),
    ("amp", "auto", True),
    ("fp32_nchw", "off", False),
    ("amp_nchw", "auto", False),
)


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    arch = load_preset(name)
    runs = {key: run_one(arch, amp, args, channels_last=cl) for key, amp, cl in VARIANTS}
    speed = {key: run["images_per_s"] for key, run in runs.items()}
    return {
        "preset": name,
        "params": cost(arch).params,
        "T": arch.time.steps,
        **runs,
        "amp_speedup": _ratio(speed["amp"], speed["fp32"]),
        "channels_last_speedup": _ratio(speed["amp"], speed["amp_nchw"]),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=PRESETS)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--smoke", action="store_true", help=f"smallest run: defaults {SMOKE}")
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--batch and --steps must be at least 1, --warmup at least 0")
    return args


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(device: str, rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"{device}: batch {args.batch}, {args.steps} timed steps after {args.warmup}")
    head = ("preset", "precision", "layout", "img/s", "peak MiB", "reserved MiB", "est. MiB",
            "reserved/est", "share")  # fmt: skip
    print(f"{head[0]:<18} {head[1]:>9} {head[2]:>13} {head[3]:>8} {head[4]:>9} {head[5]:>12} "
          f"{head[6]:>9} {head[7]:>12} {head[8]:>6}")  # fmt: skip
    for row in rows:
        for key, _, _ in VARIANTS:
            r = row[key]
            where = f"{row['preset']:<18} {r['precision']:>9} {r['layout']:>13}"
            if r["status"] != "completed":
                print(f"{where} {r['status']}: {r['reason']}")
                continue
            peak = r["peak_memory"] / MiB if r["peak_memory"] else None
            held = r["peak_reserved"] / MiB if r["peak_reserved"] else None
            print(
                f"{where} {_fmt(r['images_per_s'], '.0f'):>8} {_fmt(peak, '.0f'):>9} "
                f"{_fmt(held, '.0f'):>12} {r['memory_estimate'] / MiB:>9.0f} "
                f"{_fmt(r['reserved_over_estimate'], '.2f'):>12} {r['gpu_share']:>6.4g}"
            )
        print(
            f"{row['preset']:<18} speed-up: mixed precision {_fmt(row['amp_speedup'], '.2f')}x, "
            f"channels_last {_fmt(row['channels_last_speedup'], '.2f')}x"
        )


def main() -> int:
    args = parse_args()
    if not torch.cuda.is_available():
        message = "no CUDA device on this machine: nothing to measure (gpu_smoke needs a GPU)"
        if args.json:
            print(json.dumps({"cuda": False, "message": message, "settings": vars(args)}))
        else:
            print(message)
        return 0
    device = torch.cuda.get_device_name(0)
    rows: list[dict[str, Any]] = []
    for name in args.presets:
        rows.append(measure(name, args))
        print(f"done {name}", file=sys.stderr, flush=True)
    if args.json:
        memory = torch.cuda.get_device_properties(0).total_memory
        doc = {
            "cuda": True,
            "device": device,
            "gpu_memory": memory,
            "settings": vars(args),
            "rows": rows,
        }
        print(json.dumps(doc, indent=2))
    else:
        print_table(device, rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
