"""``convnas space validate|describe|sample|schema``: work with search-spec files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.table import Table

from api.commands.common import JsonOpt, print_json, user_errors
from api.commands.output import console as make_console
from space.budget import over_budget
from space.cost import cost
from space.describe import describe
from space.errors import Problem, SpecError
from space.sampling import RandomSampler, freeze
from space.spec import SearchSpec, load_spec, spec_json_schema

space_app = typer.Typer(
    name="space",
    help="Validate, describe and sample search specs (YAML/JSON).",
    no_args_is_help=True,
)

SpecArg = Annotated[Path, typer.Argument(help="A search spec file (YAML or JSON).")]


def _search_text(spec: SearchSpec) -> str:
    s = spec.search
    goals = ", ".join(f"{o.metric} {o.direction}" for o in spec.objectives)
    return (
        f"{s.trials} trials, {s.concurrency} at a time, {s.sampler}/{spec.scheduler}, "
        f"objective {goals}"
    )


@space_app.command("validate")
def validate(
    file: SpecArg,
    as_json: JsonOpt = False,
    data: Annotated[
        bool,
        typer.Option(
            "--data/--no-data",
            help="Check that the dataset exists and fits (--no-data: it lives only where the "
            "workers run).",
        ),
    ] = True,
) -> None:
    """Check a spec and its dataset: exit 0 with a one-line summary, or 1 with every problem."""
    from search import service as svc

    verdict = svc.validate_spec(file, source=str(file), check_data=data)
    if as_json:
        print_json(verdict)
    elif not verdict.ok:
        typer.echo(_problems_text(verdict.errors, str(file)), err=True)
    else:
        goals = ", ".join(f"{o.metric} {o.goal}" for o in verdict.objectives)
        typer.echo(
            f"ok: {file}: {verdict.summary}; {verdict.trials} trials, {verdict.concurrency} at "
            f"a time, {verdict.sampler}/{verdict.scheduler}, objective {goals}"
        )
        for warning in verdict.warnings:
            typer.echo(f"warning: {warning}", err=True)
    if not verdict.ok:
        raise typer.Exit(1)


if TYPE_CHECKING:
    from search.service import ProblemOut


def _problems_text(problems: list[ProblemOut], source: str) -> str:
    """The problems as ``FILE:LINE: path: message (got value)``, like every other command."""
    shown = []
    for p in problems:
        value = {"value": p.value} if "value" in p.model_fields_set else {}
        shown.append(Problem(p.path, p.message, line=p.line, source=source, **value))
    return SpecError(shown).render()


@space_app.command("describe")
def describe_cmd(file: SpecArg, as_json: JsonOpt = False) -> None:
    """Every searched parameter (label, domain, condition) and the number of architectures."""
    with user_errors(as_json):
        spec = load_spec(file)
        info = describe(spec)
    if as_json:
        print_json(info.to_dict())
        return
    console = make_console()
    table = Table(title=f"searched parameters of {spec.name!r}", title_justify="left")
    for column in ("label", "domain", "active when"):
        table.add_column(column)
    for param in info.params:
        table.add_row(param.label, param.domain, param.condition or "always")
    console.print(table)
    for tie in info.ties:
        when = f" (when {tie.condition})" if tie.condition else ""
        console.print(f"tie: {tie.label} {tie.rule}{when}")
    training = info.training
    training_text = "infinite (continuous)" if training.continuous else str(training.discrete)
    console.print(f"architectures: {info.count_text()}")
    console.print(f"training configurations: {training_text}")
    for note in info.notes:
        console.print(f"note: {note}")
    console.print(f"search: {_search_text(spec)}; dataset {_dataset_text(spec)}")


def _dataset_text(spec: SearchSpec) -> str:
    ref = spec.dataset.to_ref()
    name = str(ref.pop("name"))
    return name + (f" ({', '.join(f'{k} {v}' for k, v in ref.items())})" if ref else "")


def _sample_record(spec: SearchSpec, seed: int) -> dict[str, Any]:
    sampler = RandomSampler(seed)
    arch = freeze(spec, sampler)
    return {
        "over_budget": over_budget(spec, cost(arch)),
        "seed": seed,
        "arch_hash": arch.arch_hash,
        "config_hash": arch.config_hash,
        "params": sampler.params,
        "arch": arch.to_dict(),
    }


MAX_SEED = 2**32 - 1  # what every seeded library accepts; random.Random(-1) is Random(1)


def _in_range(value: int, low: int, high: int) -> int:
    """An option check whose message shows the value (typer's own range message omits it)."""
    if not low <= value <= high:
        raise typer.BadParameter(f"must be between {low} and {high} (got {value})")
    return value


@space_app.command("sample")
def sample_cmd(
    file: SpecArg,
    seed: Annotated[
        int,
        typer.Option(
            callback=lambda v: _in_range(v, 0, MAX_SEED),
            help=f"Seed of the first sample (0-{MAX_SEED}); sample k uses seed+k.",
        ),
    ] = 0,
    count: Annotated[
        int,
        typer.Option(callback=lambda v: _in_range(v, 1, 10000), help="How many samples (1-10000)."),
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Frozen architecture(s) drawn at random: YAML arch files by default (same seed, same
    output). With --json: one object (over_budget: the constraints it exceeds, seed, hashes,
    sampled params, arch), a list for --count > 1. Over-budget samples are marked.
    """
    if seed + count - 1 > MAX_SEED:
        raise typer.BadParameter(
            f"the last sample's seed {seed} + {count - 1} exceeds {MAX_SEED}", param_hint="'--seed'"
        )
    with user_errors(as_json):
        spec = load_spec(file)
        records = [_sample_record(spec, seed + k) for k in range(count)]
    if as_json:
        print_json(records[0] if count == 1 else records)
        return
    for k, record in enumerate(records):
        if k:
            typer.echo("---")
        typer.echo(
            f"# sample of {spec.name!r}, seed {record['seed']}, arch_hash {record['arch_hash']}, "
            f"config_hash {record['config_hash']}"
        )
        typer.echo(f"# sampled: {_flow(record['params'])}")
        if record["over_budget"]:
            typer.echo(
                f"# OVER BUDGET (a search would reject it): {'; '.join(record['over_budget'])}"
            )
        typer.echo(
            yaml.safe_dump(record["arch"], sort_keys=False, default_flow_style=None, width=100),
            nl=False,
        )


def _flow(params: dict[str, Any]) -> str:
    return ", ".join(f"{label}={value!r}" for label, value in params.items()) or "(nothing)"


@space_app.command("schema")
def schema_cmd(
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print it as compact JSON on one line (for programs and pipes)."
        ),
    ] = False,
) -> None:
    """The JSON Schema of the spec format (e.g. for editor completion), indented for reading."""
    schema = spec_json_schema()
    if as_json:
        sys.stdout.write(json.dumps(schema, separators=(",", ":")) + "\n")
    else:
        print_json(schema)


def register(app: typer.Typer) -> None:
    """Add the ``space`` group to the top-level app."""
    app.add_typer(space_app)
