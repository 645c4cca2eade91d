"""Training throughput and a fixed-budget pathfinder accuracy for three small ConvRNNs.

    .venv/bin/python bench/train_throughput.py [--steps 800] [--difficulty easy] [--json]
    .venv/bin/python bench/train_throughput.py --smoke --json    # every model, a few seconds

For a small RGC, a small LSTM and the feedforward baseline (same 3-layer backbone): training
images/s on ``digits`` and ``pathfinder`` (timed over ``--timing-steps`` steps after a warm-up
step), and the validation accuracy each reaches on ``pathfinder`` after ``--steps`` optimizer
steps (same data, seed and optimizer for all). It tells whether the built-in task rewards
recurrence. Not a test: numbers depend on the machine and its load.

The budget matters: with these models' global-average-pool heads, 300 steps on ``easy`` leave
every model at chance (the feedforward one reaches about 0.94 only after 1500 steps, 57 s on
2 CPU threads), so the default is 800 steps. Before pathfinder generator version 3 the dots were
barely visible at 32 px and no budget helped.

``--json`` prints the settings and the rows as one JSON document on stdout (progress goes to
stderr). ``--smoke`` only changes the defaults (16 px, T 4, 64 pathfinder images, 2 timed
and 2 budget steps, one thread): every model, dataset and figure, in seconds; it checks that
the benchmark runs, its figures mean nothing. Explicit arguments still win.
``tests/test_bench_smoke.py`` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from space.arch import Arch, arch_from_data
from workers.config import TrainConfig
from workers.data import load_dataset
from workers.loop import train

CELLS: dict[str, dict[str, Any]] = {
    "rgc": {
        "kind": "rgc",
        "cell_depth": 16,
        "gate_filter_size": 3,
        "tau_filter_size": 3,
        "out_residual": True,
    },
    "lstm": {"kind": "lstm"},
    "ff": {"kind": "none"},
}
# --smoke: the least work that still trains every model on both datasets; 16 px is
# pathfinder's smallest size, 4 steps the least that shows the 3-layer readout the image.
SMOKE = {
    "size": 16,
    "time_steps": 4,
    "timing_steps": 2,
    "steps": 2,
    "samples": 64,
    "threads": 1,
}


def make_arch(cell: str, size: int, classes: int, steps: int) -> Arch:
    recurrent = cell != "ff"
    act = "identity" if recurrent else "elu"  # the cells apply the nonlinearity (as in the papers)
    layers = [
        {"name": "conv1", "channels": 16, "kernel": 5, "pool": 2},
        {
            "name": "conv2",
            "channels": 32,
            "kernel": 3,
            "pool": 2,
            "activation": act,
            "cell": CELLS[cell],
        },
        {"name": "conv3", "channels": 32, "kernel": 3, "activation": act, "cell": CELLS[cell]},
    ]
    return arch_from_data(
        {
            "input": {"size": size, "channels": 1},
            "classes": classes,
            "layers": layers,
            # feedforward: just enough steps for the image to reach the readout
            "time": {"steps": steps if recurrent else len(layers) + 1, "readout": "last"},
            "training": {
                "optimizer": "adam",
                "lr": 0.002,
                "batch_size": 64,
                "lr_schedule": "cosine",
            },
        }
    )


def pathfinder_ref(args: argparse.Namespace) -> str:
    return f"pathfinder:samples={args.samples},difficulty={args.difficulty}"


def throughput(arch: Arch, dataset: str, steps: int, threads: int | None) -> float:
    data = load_dataset(dataset, arch.input.size, 1, arch.classes, seed=0)
    cfg = TrainConfig.for_arch(arch, {"max_steps": steps + 1, "threads": threads, "epochs": 100})
    times: list[float] = []
    train(arch, data, cfg, on_step=lambda e, b, loss: times.append(time.perf_counter()))
    # steps 2..N+1 (the first includes one-off allocation), minus the evaluation in between
    return 64 * (len(times) - 1) / (times[-1] - times[0])


def accuracy(arch: Arch, steps: int, ref: str, threads: int | None) -> dict[str, Any]:
    data = load_dataset(ref, arch.input.size, 1, 2, seed=0)
    epochs = -(-steps * 64 // len(data.y_train))
    cfg = TrainConfig.for_arch(arch, {"max_steps": steps, "epochs": epochs, "threads": threads})
    result = train(arch, data, cfg)
    last = result.final or {}
    return {
        "status": result.status,
        "val_acc": last.get("val_acc"),
        "best_val_acc": result.best_val_acc,
        "val_acc_per_step": last.get("val_acc_per_step"),
        "seconds": result.train_seconds,
        "params": result.params,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="input size (pathfinder images too)")
    parser.add_argument("--time-steps", type=int, default=8, help="T of the recurrent models")
    parser.add_argument("--timing-steps", type=int, default=20)
    parser.add_argument("--steps", type=int, default=800, help="pathfinder training budget")
    parser.add_argument("--samples", type=int, default=4000, help="pathfinder images")
    parser.add_argument(
        "--difficulty", default="medium", help="pathfinder difficulty (easy, medium, hard)"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--smoke", action="store_true", help=f"smallest run: defaults {SMOKE}")
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE)
    return parser.parse_args(argv)


def measure(cell: str, args: argparse.Namespace) -> dict[str, Any]:
    digits_arch = make_arch(cell, args.size, 10, args.time_steps)
    path_arch = make_arch(cell, args.size, 2, args.time_steps)
    return {
        "model": cell,
        "T": digits_arch.time.steps,
        "digits_img_s": throughput(digits_arch, "digits", args.timing_steps, args.threads),
        "pathfinder_img_s": throughput(
            path_arch, pathfinder_ref(args), args.timing_steps, args.threads
        ),
        "pathfinder": accuracy(path_arch, args.steps, pathfinder_ref(args), args.threads),
    }


def print_table(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    print(
        f"input {args.size}px, batch 64, pathfinder ({args.difficulty}): {args.steps} steps, "
        f"{args.samples} images"
    )
    head = ("model", "T", "params", "digits img/s", "pathf img/s", "pathf val acc", "best", "secs")
    widths = (6, 3, 8, 13, 12, 14, 6, 6)
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    for r in rows:
        p = r["pathfinder"]
        cells = (
            r["model"],
            r["T"],
            p["params"],
            f"{r['digits_img_s']:.0f}",
            f"{r['pathfinder_img_s']:.0f}",
            _acc(p["val_acc"]),
            _acc(p["best_val_acc"]),
            f"{p['seconds']:.1f}",
        )
        print(" ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"  # None: the run ended before an evaluation


def main() -> None:
    args = parse_args()
    rows: list[dict[str, Any]] = []
    for cell in CELLS:
        rows.append(measure(cell, args))
        print(f"done {cell}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"settings": vars(args), "rows": rows}, indent=2))
    else:
        print_table(args, rows)


if __name__ == "__main__":
    main()
