"""``convnas train``: train one architecture outside any search, with a progress bar.

torch and the workers are imported inside the command, so ``convnas --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.commands.common import print_json, user_errors
from api.commands.output import console as make_console
from space.arch import Arch, arch_from_data
from space.errors import ConvnasError, Problem, SpecError
from space.status import RunStatus

if TYPE_CHECKING:
    from workers.data import Dataset
    from workers.loop import TrainResult

ArchArg = Annotated[
    str, typer.Argument(help="An arch file (YAML/JSON, exported files too) or a preset name.")
]
DatasetOpt = Annotated[
    str,
    typer.Option(
        "--dataset",
        "-d",
        help="digits | shapes | pathfinder | imagefolder:PATH | npz:PATH; built-in kinds take "
        "options as NAME:key=value,... (e.g. pathfinder:difficulty=hard,samples=2000). "
        "File datasets are checked from headers first: images over 4096x4096 pixels "
        "(workers.data.files.MAX_IMAGE_PIXELS) and labels outside 0..classes-1 are refused.",
    ),
]


MAX_SEED = 2**63 - 1  # torch.manual_seed's and numpy's common range


def _check_flags(
    seed: int, input_size: int | None, channels: int | None, classes: int | None
) -> None:
    """Nonsense numbers are refused by flag name (the arch checks the upper bounds)."""
    lowest = {
        "--input-size": (input_size, 1),
        "--channels": (channels, 1),
        "--classes": (classes, 2),
    }
    problems = [
        Problem(flag, f"must be at least {low}", value)
        for flag, (value, low) in lowest.items()
        if value is not None and value < low
    ]
    if not 0 <= seed <= MAX_SEED:
        problems.append(Problem("--seed", f"must lie in 0..{MAX_SEED}", seed))
    if problems:
        raise SpecError(problems)


def _retarget(
    arch: Arch, input_size: int | None, channels: int | None, classes: int | None
) -> Arch:
    """The arch with another input size, channel count or class count (re-validated)."""
    if input_size is None and channels is None and classes is None:
        return arch
    data = arch.to_dict()
    data["input"] = {
        "size": arch.input.size if input_size is None else input_size,
        "channels": arch.input.channels if channels is None else channels,
    }
    data["classes"] = arch.classes if classes is None else classes
    return arch_from_data(data, "arch (with command-line overrides)")


def _shrink_note(arch: Arch) -> str | None:
    """A warning when the input is so small that the maps collapse to 1x1 before the readout."""
    from space.graph import layer_shapes

    for shape in layer_shapes(arch)[:-1]:
        if shape.out_size == 1:
            return (
                f"note: at input size {arch.input.size} the feature map is 1x1 from "
                f"{shape.name} on; later layers see no spatial structure"
            )
    return None


def _channels_note(data: Dataset, arch: Arch) -> str | None:
    """A visible note when the images were converted to the arch's channel count (legitimate,
    e.g. RGB to gray, but easy to miss: the arch may be meant for the other count)."""
    from workers.data.raw import channel_conversion

    source = int(data.info.get("source_channels", arch.input.channels))
    if source == arch.input.channels:
        return None
    return (
        f"note: the dataset's images have {source} channel(s) but the arch takes "
        f"{arch.input.channels}: converting ({channel_conversion(source, arch.input.channels)}); "
        f"pass --channels {source} to train on the images as they are"
    )


def _overrides(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _epoch_line(m: dict[str, Any]) -> str:
    steps = " ".join(f"{a:.2f}" for a in m["val_acc_per_step"])
    return (
        f"epoch {m['epoch']}: train loss {m['train_loss']:.4f}  val loss {m['val_loss']:.4f}  "
        f"val_acc {m['val_acc']:.4f}  {m['images_per_sec']:.3g} img/s  [{m['elapsed']:.1f}s]\n"
        f"  val_acc per step: {steps}"
    )


def _summary_table(result: TrainResult, arch: Arch, data: Dataset) -> Table:
    table = Table(title="result", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [
        ("status", f"{result.status}" + (f" ({result.reason})" if result.reason else "")),
        ("arch", f"{arch.arch_hash}  {human_int(result.params)} params"),
        ("dataset", f"{data.name}: {len(data.y_train)} train / {len(data.y_val)} val"),
        # val_acc = the best epoch's validation accuracy, as in `leaderboard` and `searches`.
        ("val_acc", _best(result)),
        ("last_val_acc", "-" if not result.final else f"{result.final['val_acc']:.4f}"),
        ("steps", str(result.steps)),
        ("train seconds", f"{result.train_seconds:.1f}"),
        ("device", f"{result.device}" + (f", {result.threads} threads" if result.threads else "")),
    ]
    if result.final:
        per_step = " ".join(f"{a:.2f}" for a in result.final["val_acc_per_step"])
        rows.insert(5, ("val_acc per step", per_step))
    for key, value in rows:
        table.add_row(key, value)
    return table


def _best(result: TrainResult) -> str:
    if result.best_val_acc is None:
        return "-"
    return f"{result.best_val_acc:.4f} (epoch {result.best_epoch})"


def human_int(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def _run(arch: Arch, data: Dataset, overrides: dict[str, Any], console: Console) -> TrainResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workers.config import TrainConfig
    from workers.loop import TrainRun

    cfg = TrainConfig.for_arch(arch, overrides)
    per_epoch = -(-len(data.y_train) // cfg.batch_size)
    total = cfg.epochs * per_epoch
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[loss]}"),
        console=console,
    )
    task = progress.add_task("training", total=total, loss="")

    def advance(epoch: int, batch: int, loss: float) -> None:
        text = f"epoch {epoch}/{cfg.epochs}"
        progress.update(task, advance=1, description=text, loss=f"loss {loss:.4f}")

    try:
        run_ = TrainRun(arch, data, cfg, on_step=advance)
    except ConvnasError:
        raise
    except Exception as exc:  # the model could not be built for this arch
        raise ConvnasError(f"arch: cannot build the model: {type(exc).__name__}: {exc}") from None
    with progress:
        for metrics in run_:
            progress.console.print(_epoch_line(metrics))
    return run_.result


def train(
    arch_ref: ArchArg,
    dataset: DatasetOpt,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs (default: the arch's training).")
    ] = None,
    input_size: Annotated[
        int | None, typer.Option("--input-size", help="Override the arch's input size.")
    ] = None,
    classes: Annotated[
        int | None, typer.Option(help="Override the arch's class count (retargets the head).")
    ] = None,
    channels: Annotated[int | None, typer.Option(help="Override the input channels.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of weights, data order and split.")] = 0,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="sgd | adam | adamw.")] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after N steps.")
    ] = None,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="Stop after S seconds of wall clock.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: usable CPUs).")] = None,
    save: Annotated[
        Path | None,
        typer.Option(help="Folder for the best checkpoint (weights.pt, arch.yaml, metrics.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train one architecture (arch file or preset) on a dataset and print its metrics."""
    console = make_console(stderr=True)
    with user_errors(as_json):
        from space.presets import resolve_arch
        from workers.data import load_dataset

        _check_flags(seed, input_size, channels, classes)
        arch = _retarget(resolve_arch(arch_ref), input_size, channels, classes)
        note = _shrink_note(arch)
        if note:
            console.print(note, style="yellow")
        overrides = _overrides(
            epochs=epochs,
            seed=seed,
            lr=lr,
            batch_size=batch_size,
            optimizer=optimizer,
            max_steps=max_steps,
            max_seconds=max_seconds,
            device=device,
            threads=threads,
            checkpoint_dir=None if save is None else str(save),
        )
        data = load_dataset(dataset, arch.input.size, arch.input.channels, arch.classes, seed)
        note = _channels_note(data, arch)
        if note:
            console.print(note, style="yellow")
        console.print(
            f"training {arch_ref} ({arch.arch_hash}) on {data.name}: "
            f"{len(data.y_train)} train / {len(data.y_val)} val, "
            f"{arch.input.channels}x{arch.input.size}x{arch.input.size}, {arch.classes} classes"
        )
        result = _run(arch, data, overrides, console)
    outcome = result.to_dict()
    best = outcome.pop("best_val_acc")
    payload = {
        "ok": result.status == RunStatus.COMPLETED,
        "arch": arch_ref,
        "arch_hash": arch.arch_hash,
        "dataset": data.describe(),
        # One name scheme with the search commands: val_acc = the best epoch's validation
        # accuracy (best_epoch says which), last_val_acc = the final epoch's.
        "val_acc": best,
        "last_val_acc": result.final["val_acc"] if result.final else None,
        **outcome,
    }
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        (save / "result.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if as_json:
        print_json(payload)
    else:
        make_console().print(_summary_table(result, arch, data))
        if save is not None and result.best_epoch is not None:
            typer.echo(f"best checkpoint (epoch {result.best_epoch}) in {save}")
    if result.status != RunStatus.COMPLETED:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``convnas train``."""
    app.command("train")(train)
