"""Does recurrence pay on pathfinder? RGC vs LSTM vs feedforward, equal budget, several seeds.

    nice -n 10 .venv/bin/python bench/recurrence.py [--json] > /tmp/recurrence.json
    .venv/bin/python bench/recurrence.py --smoke --json    # every model and difficulty, seconds

The papers' finding to check (Nayebi et al. 2018, 2022): gated recurrence (the RGC) beats the
feedforward network of the same backbone at equal parameters, and the LSTM at equal training
budget. On the built-in ``pathfinder`` task at ``medium`` and ``hard`` (``easy`` gives the
answer away by the dots' distance; from generator version 4, medium and hard match it between
the classes), for each seed, three models on one small backbone (conv1 -> conv2 -> conv3, GAP +
fc head):

* ``rgc``   RGC cells in conv2 and conv3 (the cells apply the ELU), ``T`` steps;
* ``lstm``  LSTM cells in the same places, same ``T``;
* ``ff``    no cells, conv2/conv3 widened until its parameter count is closest to the RGC's,
            unrolled only until the image reaches the readout (``len(layers) + 1`` steps).

Every model trains on the same images (dataset seed 0) for the same number of optimizer steps,
batch, optimizer and schedule; only the model seed changes. Reported: each run's final
validation accuracy at the readout (the last step) and at every time step, and per difficulty and
model the mean and standard deviation over seeds. A gap smaller than that spread is no gap.

Defaults (1,000 steps of 32, 4,000 images, T 6, width 16): about 23 minutes per difficulty on a
loaded shared 2-core machine with one torch thread; there medium and hard stayed at chance for all
three models, while ``--pathfinder length=0.4,distractors=1`` (easy's geometry, distance matched)
was learnt (see the README section). Run one process per difficulty with
``--out`` and join them with ``--combine``.

Everything the comparison depends on is pinned here (readout ``last``, image on at every step,
blank 0.0, biological unroll, Xavier init, fc head), so defaults changing elsewhere do not
change the experiment.

``--smoke`` changes the defaults only (40 images, 2 steps, 1 seed, T 4; see SMOKE): it checks
that the benchmark runs, its figures mean nothing. Progress goes to stderr; ``--json`` prints
one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from space.arch import Arch, arch_from_data
from space.nn import build_model
from workers.config import TrainConfig
from workers.data import load_dataset
from workers.loop import train

MODELS = ("rgc", "lstm", "ff")
CELLS: dict[str, dict[str, Any]] = {
    "rgc": {
        "kind": "rgc",
        "cell_depth": 16,
        "gate_filter_size": 3,
        "tau_filter_size": 3,
        "out_residual": True,
    },
    "lstm": {"kind": "lstm"},
}
# --smoke: the least work that still trains every model at every difficulty and seed
SMOKE = {
    "size": 32,
    "time_steps": 4,
    "steps": 2,
    "samples": 40,
    "seeds": [0],
    "threads": 1,
}


def make_arch(model: str, args: argparse.Namespace, width: int | None = None) -> Arch:
    """The backbone with ``model``'s cells; ``width``: conv2/conv3 channels (default ``args``)."""
    recurrent = model != "ff"
    width = width or args.width
    act = "identity" if recurrent else "elu"  # the cells apply the nonlinearity (as in the papers)
    cell: dict[str, Any] = CELLS[model] if recurrent else {"kind": "none"}
    layers = [
        {"name": "conv1", "channels": args.width // 2, "kernel": 5, "stride": 2},
        {
            "name": "conv2",
            "channels": width,
            "kernel": 3,
            "pool": 2,
            "activation": act,
            "cell": cell,
        },
        {"name": "conv3", "channels": width, "kernel": 3, "activation": act, "cell": cell},
    ]
    steps = args.time_steps if recurrent else len(layers) + 1
    return arch_from_data(
        {
            "input": {"size": args.size, "channels": 1},
            "classes": 2,
            "layers": layers,
            "head": {"kind": "fc"},
            "init": {"scheme": "xavier"},
            "time": {
                "steps": steps,
                "readout": "last",
                "unroll": "biological",
                "blank": 0.0,
            },
            "training": {
                "optimizer": "adam",
                "lr": args.lr,
                "batch_size": args.batch,
                "lr_schedule": "cosine",
                "weight_decay": 0.0,
                "grad_clip": 1.0,
            },
        }
    )


def count_params(arch: Arch) -> int:
    return int(sum(p.numel() for p in build_model(arch).parameters()))


def matched_ff_width(args: argparse.Namespace, target: int) -> int:
    """The conv2/conv3 width whose feedforward net's parameter count is closest to ``target``."""
    start: int = args.width
    best, best_gap = start, abs(count_params(make_arch("ff", args)) - target)
    for width in range(start + 1, 8 * start):
        count = count_params(make_arch("ff", args, width))
        if abs(count - target) < best_gap:
            best, best_gap = width, abs(count - target)
        elif count > target:
            break  # counts grow with the width: past the target, only further away
    return best


def run_one(arch: Arch, ref: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    data = load_dataset(ref, arch.input.size, 1, 2, seed=0)  # the same images for every run
    epochs = -(-args.steps * args.batch // len(data.y_train))
    overrides = {"max_steps": args.steps, "epochs": epochs, "seed": seed, "threads": args.threads}
    cfg = TrainConfig.for_arch(arch, {**overrides, "device": "cpu"})
    result = train(arch, data, cfg, lambda m: _progress(m, ref, seed))
    last = result.final or {}
    return {
        "status": str(result.status),
        "reason": result.reason,
        "val_acc": last.get("val_acc"),
        "best_val_acc": result.best_val_acc,
        "val_acc_per_step": last.get("val_acc_per_step"),
        "train_acc": last.get("train_acc"),
        "seconds": result.train_seconds,
        "steps": result.steps,
        "params": result.params,
    }


def _progress(metrics: dict[str, Any], ref: str, seed: int) -> None:
    acc = metrics.get("val_acc")
    print(f"  {ref} seed {seed} epoch {metrics.get('epoch')}: val acc {acc}", file=sys.stderr)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    accs = [r["val_acc"] for r in runs if r["val_acc"] is not None]
    curves = [r["val_acc_per_step"] for r in runs if r["val_acc_per_step"]]
    mean_curve = [round(statistics.fmean(c), 4) for c in zip(*curves, strict=True)]
    return {
        "val_acc_mean": round(statistics.fmean(accs), 4) if accs else None,
        "val_acc_std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
        "val_acc_per_seed": accs,
        "val_acc_per_step_mean": mean_curve,
        "seconds": round(sum(r["seconds"] for r in runs), 1),
    }


def verdicts(summary: dict[str, dict[str, Any]]) -> dict[str, str]:
    """'rgc > ff' style statements per difficulty: a gap counts only beyond both stds' sum."""
    out: dict[str, str] = {}
    for difficulty, models in summary.items():
        for a, b in (("rgc", "ff"), ("rgc", "lstm"), ("lstm", "ff")):
            if a not in models or b not in models:
                continue
            ma, mb = models[a]["val_acc_mean"], models[b]["val_acc_mean"]
            if ma is None or mb is None:
                continue
            if min(len(models[m]["val_acc_per_seed"]) for m in (a, b)) < 2:
                out[f"{difficulty}: {a} vs {b}"] = "one seed: no spread to judge a gap by"
                continue
            spread = models[a]["val_acc_std"] + models[b]["val_acc_std"]
            gap = ma - mb
            word = "no difference" if abs(gap) <= spread else (">" if gap > 0 else "<")
            out[f"{difficulty}: {a} vs {b}"] = f"{word} (gap {gap:+.3f}, stds sum {spread:.3f})"
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="image side (hard needs 32)")
    parser.add_argument("--time-steps", type=int, default=6, help="T of the recurrent models")
    parser.add_argument("--width", type=int, default=16, help="conv2/conv3 channels (conv1 half)")
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps, every run")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--samples", type=int, default=4000, help="pathfinder images (20%% val)")
    parser.add_argument("--difficulties", nargs="+", default=["medium", "hard"])
    parser.add_argument(
        "--pathfinder",
        default="",
        metavar="OPTS",
        help="more pathfinder options, e.g. length=0.4,distractors=1 (an easier matched task)",
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    # 1: on the shared 2-core machine, two intra-op threads of these tiny convs ran over 5x
    # slower per step than one (each waits for the other at every op)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--out", help="also write the document here after every run")
    parser.add_argument(
        "--combine", nargs="+", metavar="FILE", help="print one document from --out files"
    )
    parser.add_argument("--smoke", action="store_true", help=f"smallest run: defaults {SMOKE}")
    if parser.parse_known_args(argv)[0].smoke:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    for name in ("size", "time_steps", "width", "steps", "batch", "samples"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
            )
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    rgc_params = count_params(make_arch("rgc", args))
    ff_width = matched_ff_width(args, rgc_params)
    archs = {m: make_arch(m, args, ff_width if m == "ff" else None) for m in args.models}
    params = {m: count_params(a) for m, a in archs.items()}
    meta = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "out")},
        "params": params,
        "ff_width": ff_width,
        "time_steps": {m: a.time.steps for m, a in archs.items()},
    }
    print(f"params {params} (ff width {ff_width})", file=sys.stderr, flush=True)
    runs: list[dict[str, Any]] = []
    start = time.perf_counter()
    # seed-major: a run cut short still holds every model for the seeds it finished
    for seed in args.seeds:
        for difficulty in args.difficulties:
            ref = f"pathfinder:samples={args.samples},difficulty={difficulty}"
            ref += f",{args.pathfinder}" if args.pathfinder else ""
            for model, arch in archs.items():
                row = {"difficulty": difficulty, "model": model, "seed": seed}
                row |= run_one(arch, ref, seed, args)
                runs.append(row)
                print(
                    f"{difficulty} {model} seed {seed}: val acc {row['val_acc']} "
                    f"({row['seconds']:.0f} s, {time.perf_counter() - start:.0f} s in all)",
                    file=sys.stderr,
                    flush=True,
                )
                if args.out:
                    _write(args.out, build_doc(meta, runs))
    return build_doc(meta, runs)


def build_doc(meta: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The document: ``meta``, the runs, and per difficulty and model their summary."""
    summary: dict[str, dict[str, Any]] = {}
    for row in runs:
        summary.setdefault(row["difficulty"], {}).setdefault(row["model"], {})
    for difficulty, models in summary.items():
        for model in models:
            mine = [r for r in runs if r["difficulty"] == difficulty and r["model"] == model]
            models[model] = {"params": mine[0]["params"], **summarise(mine)}
    return {**meta, "summary": summary, "verdicts": verdicts(summary), "runs": runs}


def combine(paths: list[str]) -> dict[str, Any]:
    """One document from several runs' ``--out`` files (e.g. one process per difficulty)."""
    docs = [json.loads(Path(p).read_text()) for p in paths]
    meta = {k: docs[0][k] for k in ("settings", "params", "ff_width", "time_steps")}
    meta["settings"] = {**meta["settings"], "difficulties": []}
    for doc in docs:
        if doc["params"] != meta["params"]:
            raise SystemExit(f"{paths}: the runs used different models ({doc['params']})")
        meta["settings"]["difficulties"] += doc["settings"]["difficulties"]
    return build_doc(meta, [r for doc in docs for r in doc["runs"]])


def _write(path: str, doc: dict[str, Any]) -> None:
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def print_table(doc: dict[str, Any]) -> None:
    s = doc["settings"]
    print(
        f"pathfinder {s['size']} px, {s['samples']} images, {s['steps']} steps of {s['batch']}, "
        f"seeds {s['seeds']}"
    )
    print(f"{'difficulty':>10} {'model':>5} {'params':>7} {'val acc':>15}  per-step mean")
    for difficulty, models in doc["summary"].items():
        for model, m in models.items():
            acc = "-" if m["val_acc_mean"] is None else f"{m['val_acc_mean']:.3f}"
            curve = " ".join(f"{a:.2f}" for a in m["val_acc_per_step_mean"])
            print(
                f"{difficulty:>10} {model:>5} {m['params']:>7} "
                f"{acc:>7} +- {m['val_acc_std']:.3f}  {curve}"
            )
    for key, text in doc["verdicts"].items():
        print(f"{key}: {text}")


def main() -> None:
    args = parse_args()
    doc = combine(args.combine) if args.combine else run(args)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_table(doc)


if __name__ == "__main__":
    main()
