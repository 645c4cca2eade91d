"""``convnas fit``: one architecture's neural fit (issue 14), outside any search; and
``convnas neural synth``: synthetic neural data with known truth.

torch, scikit-learn and the workers are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from api.commands.arch_cmd import ArchArg, JsonOpt
from api.commands.common import print_json, user_errors
from api.commands.output import console as make_console
from space.errors import ConvnasError, Problem, SpecError

if TYPE_CHECKING:
    from torch import nn

    from space.arch import Arch
    from space.spec import NeuralFitSettings
    from workers.neural import NeuralData, NeuralScores

neural_app = typer.Typer(
    name="neural",
    help="Neural data sets for the neural fit (synthetic data).",
    no_args_is_help=True,
)


def _settings(values: dict[str, Any]) -> NeuralFitSettings:
    """The settings from the flags; a problem names the flag."""
    from space.spec import NeuralFitSettings

    try:
        return NeuralFitSettings.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        flag = {"data": "--neural"}
        problems = []
        for err in exc.errors(include_url=False):
            field = str(err["loc"][0]) if err["loc"] else ""
            name = flag.get(field, "--" + field.replace("_", "-"))
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(Problem(name, message, err.get("input")))
        raise SpecError(problems) from None


def _layers(text: str | None) -> str | list[str] | None:
    if text is None or text in ("cells", "all"):
        return text
    return [part.strip() for part in text.split(",") if part.strip()]


def _retarget(arch: Arch, input_size: int | None) -> Arch:
    from space.arch import arch_from_data

    if input_size is None or input_size == arch.input.size:
        return arch
    if input_size < 1:
        raise SpecError([Problem("--input-size", "must be at least 1", input_size)])
    data = arch.to_dict()
    data["input"] = {"size": input_size, "channels": arch.input.channels}
    return arch_from_data(data, "arch (with --input-size)")


def _load_weights(model: nn.Module, weights: Path) -> tuple[dict[str, Any] | None, str]:
    """Load ``weights`` (a ``weights.pt`` state dict or a checkpoint folder holding one) into
    ``model``; the preprocessing record saved beside it, if any, and the file used."""
    import json

    import torch

    file = weights / "weights.pt" if weights.is_dir() else weights
    if not file.is_file():
        raise SpecError(
            [Problem("--weights", "no such file (or folder with weights.pt)", str(weights))]
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle with code, a truncated or foreign file
        raise SpecError(
            [Problem("--weights", f"not a readable weights file: {type(exc).__name__}", str(file))]
        ) from None
    if not isinstance(state, dict):
        raise SpecError([Problem("--weights", "is not a state dict", str(file))])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise SpecError(
            [Problem("--weights", f"do not fit the arch: {first[:300]}", str(file))]
        ) from None
    prep_file = file.parent / "preprocessing.json"
    prep = None
    if prep_file.is_file():
        try:
            prep = json.loads(prep_file.read_text())
        except ValueError as exc:
            raise ConvnasError(f"{prep_file}: not JSON: {exc}") from None
    return prep, str(file)


def _run_fit(
    model: nn.Module,
    arch: Arch,
    data: NeuralData,
    settings: NeuralFitSettings,
    preprocessing: dict[str, Any] | None,
    device: str,
    console: Console,
) -> NeuralScores:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workers.loop import resolve_device
    from workers.neural.features import select_layers
    from workers.neural.score import score_model

    target = resolve_device(device)
    model.to(target)
    layers = select_layers(arch, settings)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    images = progress.add_task("features: stimuli through the model", total=data.n_images)
    task = progress.add_task("fit", total=len(layers), visible=False)

    def batch(done: int, total: int) -> None:
        progress.update(images, completed=done)

    def step(layer: str) -> None:  # called as each layer's fit starts
        progress.update(task, description=f"fitting {layer}", completed=layers.index(layer))
        progress.update(task, visible=True)

    with progress:
        scores = score_model(
            model,
            arch,
            data,
            settings,
            preprocessing,
            device=str(target),
            progress=step,
            on_batch=batch,
        )
        progress.update(task, completed=len(layers), description="fitted")
    return scores


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _tables(scores: NeuralScores) -> list[Table]:
    out = []
    bins = sorted({r.bin for r in scores.rows})
    ceil = {(c["region"], c["bin"]): c for c in scores.ceiling}
    for region in dict.fromkeys(r.region for r in scores.rows):
        table = Table(
            title=f"{region}: ceiling-normalised fit (raw median r in brackets)",
            title_justify="left",
        )
        table.add_column("layer")
        rows = [r for r in scores.rows if r.region == region]
        for b in bins:
            ms = next(r.bin_ms for r in rows if r.bin == b)
            table.add_column(f"bin {b}" + ("" if ms is None else f"\n{ms:g} ms"), justify="right")
        for layer in dict.fromkeys(r.layer for r in rows):
            cells = {r.bin: r for r in rows if r.layer == layer}
            table.add_row(
                layer, *(f"{_fmt(cells[b].normalized)} ({cells[b].raw:.2f})" for b in bins)
            )
        table.add_row(
            "ceiling",
            *(
                _fmt(ceil[(region, b)]["value"])
                + ("" if ceil[(region, b)]["usable"] else " <floor")
                for b in bins
            ),
            style="dim",
        )
        out.append(table)
    return out


def fit(
    arch_ref: ArchArg,
    neural: Annotated[
        str, typer.Option("--neural", help="The neural data set: neural:PATH or PATH (.npz).")
    ],
    weights: Annotated[
        Path | None,
        typer.Option(
            help="Trained weights: weights.pt or a checkpoint folder (convnas train --save); "
            "without it the model is untrained (randomly initialised with --seed)."
        ),
    ] = None,
    layers: Annotated[
        str | None, typer.Option(help="cells (default) | all | a comma list, e.g. conv3,conv4.")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="The region whose best fit is reported (e.g. IT).")
    ] = None,
    steps_per_bin: Annotated[
        int | None, typer.Option("--steps-per-bin", help="Model steps per response bin (1).")
    ] = None,
    offset: Annotated[int | None, typer.Option(help="Model step of the first bin (0).")] = None,
    folds: Annotated[int | None, typer.Option(help="Cross-validation folds (5).")] = None,
    components: Annotated[int | None, typer.Option(help="PLS components (25).")] = None,
    max_features: Annotated[
        int | None, typer.Option("--max-features", help="Features per layer and step (1000).")
    ] = None,
    ceiling: Annotated[
        float | None,
        typer.Option(help="A given ceiling (required when the responses have no repetitions)."),
    ] = None,
    input_size: Annotated[
        int | None, typer.Option("--input-size", help="Override the arch's input size.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the folds, splits and untrained weights.")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")] = "auto",
    threads: Annotated[
        int | None,
        typer.Option(
            help="CPU threads for the model (default: torch's; 1 is fastest for small "
            "models on a busy machine)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit an architecture's layers and time steps to recorded neurons (cross-validated PLS,
    held-out Pearson r, ceiling-normalised): one row per layer, region and time bin."""
    console = make_console(stderr=True)
    with user_errors(as_json):
        from space.nn import build_model
        from space.presets import resolve_arch
        from workers.neural import load_neural

        settings = _settings(
            {
                "data": neural,
                "region": region,
                "layers": _layers(layers),
                "steps_per_bin": steps_per_bin,
                "offset": offset,
                "folds": folds,
                "components": components,
                "max_features": max_features,
                "seed": seed,
                "ceiling": ceiling,
            }
        )
        if threads is not None:
            if threads < 1:
                raise SpecError([Problem("--threads", "must be at least 1", threads)])
            import torch

            torch.set_num_threads(threads)
        arch = _retarget(resolve_arch(arch_ref), input_size)
        data = load_neural(settings.path, ceiling=settings.ceiling, folds=settings.folds)
        model = build_model(arch, seed=seed)
        preprocessing, weights_file = (None, None)
        if weights is not None:
            preprocessing, weights_file = _load_weights(model, weights)
        state = (
            f"weights {weights_file}" if weights_file else f"untrained (random init, seed {seed})"
        )
        console.print(
            f"fitting {arch_ref} ({arch.arch_hash}, {state}) to {settings.data}: "
            f"{data.n_images} images, {data.neurons} neurons, {data.bins} bins, "
            f"{'reps ' + str(data.reps) if data.repeated else 'no repetitions'}"
        )
        scores = _run_fit(model, arch, data, settings, preprocessing, device, console)
    payload = {
        "ok": True,
        "arch": arch_ref,
        "arch_hash": arch.arch_hash,
        "weights": weights_file,
        "trained": weights_file is not None,
        **scores.to_json(),
    }
    if as_json:
        print_json(payload)
        return
    out = make_console()
    for table in _tables(scores):
        out.print(table)
    best = scores.best
    if best is None:
        out.print(
            f"best: none: no bin of {scores.region} has a ceiling above the floor "
            "(no reliable signal to fit)"
        )
    else:
        ms = "" if best["bin_ms"] is None else f" ({best['bin_ms']:g} ms)"
        out.print(
            f"best cell for {best['region']}: {best['layer']}, bin {best['bin']}{ms}: "
            f"normalised {best['normalized']:.3f}, raw {best['raw']:.3f} (the maximum: optimistic)"
        )
        out.print(_nested_line(scores.selection["nested"]))
    timing = scores.timing
    out.print(
        f"{scores.seconds:.1f} s (features {timing['features']:.1f} s, fit {timing['fit']:.1f} s)"
    )


def synth(
    out: Annotated[Path, typer.Argument(help="The .npz file to write.")],
    kind: Annotated[
        str,
        typer.Option(
            help="model (one bin of a hidden model's units) | realistic (nonlinear, spread "
            "over bins, realistic ceilings: examples/neural_synthetic.yaml) | noise."
        ),
    ] = "model",
    arch: Annotated[
        str | None,
        typer.Option(
            help="The hidden model: a preset name or arch file (default: rgc_shallow; "
            "realistic: a member of examples/neural_synthetic.yaml's space)."
        ),
    ] = None,
    input_size: Annotated[
        int | None,
        typer.Option("--input-size", help="Override the hidden arch's input size (model: 128)."),
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option(help="The hidden model's layer the neurons read (conv4; realistic: conv3)."),
    ] = None,
    bin: Annotated[
        int | None,
        typer.Option("--bin", help="The bin (model step) of the response, or its peak (5; 6)."),
    ] = None,
    bins: Annotated[int, typer.Option(help="Response bins.")] = 8,
    noise: Annotated[
        float | None,
        typer.Option(help="Noise sd per repetition (signal sd is 1; model and noise: 1.0)."),
    ] = None,
    reps: Annotated[int, typer.Option(help="Repetitions per image.")] = 4,
    images: Annotated[int | None, typer.Option(help="Images (200; realistic: 400).")] = None,
    neurons: Annotated[int, typer.Option(help="Neurons.")] = 40,
    region: Annotated[str, typer.Option(help="The neurons' region name.")] = "IT",
    seed: Annotated[
        int, typer.Option(help="Seed of images, readout, noise and the hidden init.")
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Write synthetic neural data whose true ceiling, layer and bin are known."""
    console = make_console(stderr=True)
    with user_errors(as_json):
        from workers.neural.synthetic import default_input_size, make_synthetic

        if kind not in ("model", "noise", "realistic"):
            raise SpecError([Problem("--kind", "must be model, realistic or noise", kind)])
        console.print(f"generating {kind} responses ...")
        try:
            truth = make_synthetic(
                out,
                kind="model" if kind == "model" else "noise" if kind == "noise" else "realistic",
                arch=arch,
                input_size=default_input_size(kind, input_size),
                layer=layer,
                bin=bin,
                bins=bins,
                noise=noise,
                reps=reps,
                n_images=images,
                neurons=neurons,
                region=region,
                seed=seed,
                model_seed=seed,
            )
        except ValueError as exc:
            if isinstance(exc, ConvnasError):
                raise
            raise ConvnasError(str(exc)) from None
        hidden = _save_hidden(out, truth)
    if as_json:
        print_json({"ok": True, **truth})
        return
    _print_truth(out, truth, hidden, region, seed)


def _save_hidden(out: Path, truth: dict[str, Any]) -> Path | None:
    """The realistic kind's built-in hidden arch, saved beside the data so it can be fit."""
    from space.arch import arch_from_data, save_arch

    if "hidden_arch" not in truth:
        return None
    path = out.with_name(out.stem + ".hidden.yaml")
    save_arch(arch_from_data(truth.pop("hidden_arch"), "hidden arch"), path)
    truth["hidden_arch_file"] = str(path)
    return path


def _print_truth(
    out: Path, truth: dict[str, Any], hidden: Path | None, region: str, seed: int
) -> None:
    typer.echo(f"wrote {out}")
    keys = ("kind", "arch", "input_size", "layer", "bin", "reps", "noise", "ceiling")
    more = ("reliability_at_peak", "best_raw", "best_normalized", "hidden_arch_file")
    for key in (*keys, *more):
        if key in truth:
            typer.echo(f"  {key}: {truth[key]}")
    if truth["kind"] == "noise":
        return
    arch = str(hidden) if hidden is not None else truth["arch"]
    size = f" --input-size {truth['input_size']}" if hidden is None else " --layers all"
    typer.echo(f"fit it: convnas fit {arch} --neural {out}{size} --region {region} --seed {seed}")


def register(app: typer.Typer) -> None:
    """Add ``convnas fit`` and ``convnas neural synth``."""
    app.command("fit")(fit)
    neural_app.command("synth")(synth)
    app.add_typer(neural_app)


def _nested_line(nested: dict[str, Any]) -> str:
    """The nested objective: each half's chosen cell and its score on the other half."""
    if nested["objective"] is None:
        return "nested: none (too few images to split in halves, or no usable bin)"
    chosen = "; ".join(
        f"{h['layer']} bin {h['bin']} -> {h['normalized']:.3f}" for h in nested["halves"]
    )
    return f"nested (chosen on one half, scored on the other): {nested['objective']:.3f} ({chosen})"
