"""The table of convnas's environment variables in docs/operations.md, made from the code.

    python docs/settings_table.py           print the Markdown table
    python docs/settings_table.py --write   replace the table in docs/operations.md
    python docs/settings_table.py --check   exit 1 when docs/operations.md's table is not this one

Two sources, both read from the code rather than listed here: the fields of the
pydantic-settings classes (``search.settings.Settings``, ``api.settings.ApiSettings``: their env
names, defaults and descriptions), and the ``CONVNAS_*`` names the packages read with
``os.environ`` directly (every string constant that is exactly such a name). ``NOTES`` adds the
words an operator needs where a field has no description; a variable without either is an error,
so a new setting cannot go undocumented.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("space", "search", "workers", "api")
GUIDE = ROOT / "docs" / "operations.md"
BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"
NAME = re.compile(r"^CONVNAS_[A-Z0-9_]+$")

# What each variable does, for operators; first choice over a field's own description.
NOTES: dict[str, str] = {
    "CONVNAS_DATABASE_URL": "Where searches, trials and the Optuna studies live: "
    "`postgresql://USER:PASSWORD@HOST:5432/DB` for more than one process or machine, else a "
    "SQLite file. `--db` overrides it.",
    "CONVNAS_RAY_ADDRESS": "The Ray cluster to run trials on (`HOST:6379`); unset: each search "
    "starts a private local Ray. `--address` overrides it.",
    "CONVNAS_RUNS_DIR": "Ray Tune's run files and the trials' checkpoints (Tune's storage "
    "path). On a cluster every node must reach it at this same path (a shared volume).",
    "CONVNAS_API_TOKEN": "Server: a bearer token accepted on changes (submit, cancel, delete), "
    "taken literally (a `#` is part of it); set but empty refuses to start. CLI with "
    "`--server`: the token it sends.",
    "CONVNAS_API_TOKENS_FILE": "Server: a file of accepted tokens, one a line (`#` comments); "
    "unreadable or holding no token refuses to start, never an open server.",
    "CONVNAS_API_READ": "`open`: anyone who reaches the server may read; `token`: reads "
    "need a token too (and the web pages are off); `token` without a token refuses to start.",
    "CONVNAS_DATA_ROOTS": "Folders a spec submitted over HTTP may name a file in "
    "(`:`- or comma-separated, each an existing folder); unset: file datasets are refused over "
    "HTTP.",
    "CONVNAS_MAX_BODY_BYTES": "Largest request body the server reads.",
    "CONVNAS_MAX_TRIALS": "Most trials a submitted search may ask for.",
    "CONVNAS_MAX_LAYERS": "Most layers a submitted space may have.",
    "CONVNAS_MAX_INPUT_SIZE": "Largest input image side a submitted spec may use.",
    "CONVNAS_MAX_PARAMS": "A submitted space's smallest architecture must have at most this "
    "many parameters.",
    "CONVNAS_MAX_FLOPS": "... and at most this many multiply-adds per image.",
    "CONVNAS_MAX_ACTIVATION_MEMORY": "... and at most this many bytes of activations per image.",
    "CONVNAS_MAX_DATASET_PIXELS": "Most pixels (images x side x side x channels, at the larger "
    "of the generated and the input size) a submitted spec's dataset may hold, where its image "
    "count is known before reading a file: the built-in kinds, an image folder with "
    "`max_per_class`.",
    "CONVNAS_SERVER": "The server to talk to instead of a database (`--server`).",
    "CONVNAS_DEBUG": "`1`: print tracebacks of unexpected errors (`--debug`).",
    "CONVNAS_THREADS": "Torch threads per trial; unset: the CPUs Ray gave the trial, at most 16.",
    "CONVNAS_DATA_DIR": "The cache of generated datasets.",
    "CONVNAS_FAULT_OOM_AT_STEP": "Tests only, never in production: every trial raises a CUDA "
    "out-of-memory error at this optimizer step (1 = the first), to exercise the "
    "`out_of_memory` path without a GPU.",
    "CONVNAS_FAULT_OOM_BELOW_SHARE": "Tests only: with the above, only trials whose GPU share is "
    "below this fail.",
}
# Defaults of the variables read with os.environ (the settings classes carry their own).
PLAIN_DEFAULTS: dict[str, str] = {
    "CONVNAS_SERVER": "(none: the database)",
    "CONVNAS_DEBUG": "(off)",
    "CONVNAS_THREADS": "(Ray's CPUs, at most 16)",
    "CONVNAS_DATA_DIR": "`~/.cache/convnas/data`",
    "CONVNAS_FAULT_OOM_AT_STEP": "(off)",
    "CONVNAS_FAULT_OOM_BELOW_SHARE": "(any share)",
}


@dataclass
class Variable:
    name: str
    default: str
    description: str
    read_by: list[str] = field(default_factory=list)


def settings_classes() -> list[tuple[type[BaseSettings], str]]:
    """The pydantic-settings classes and which processes read them."""
    from api.settings import ApiSettings
    from search.settings import Settings

    return [(Settings, "all"), (ApiSettings, "API")]


def env_name(model: type[BaseSettings], name: str, info: FieldInfo) -> str:
    alias = info.validation_alias or info.alias
    if isinstance(alias, str):
        return alias.upper()
    return (str(model.model_config.get("env_prefix", "")) + name).upper()


def show_default(info: FieldInfo) -> str:
    value: Any = info.get_default(call_default_factory=True)
    if value is None or value == []:
        return "(none)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def plain_names() -> dict[str, list[str]]:
    """Every ``CONVNAS_*`` name the packages spell out as a whole string, and the modules."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                value = node.value if isinstance(node, ast.Constant) else None
                if isinstance(value, str) and NAME.match(value):
                    found.setdefault(value, []).append(module)
    return found


def where(modules: list[str]) -> str:
    if any(m.startswith("workers") for m in modules):
        return "Ray workers"
    if any(m.startswith("api") for m in modules):
        return "CLI"
    return "all"


def variables() -> list[Variable]:
    """Every environment variable convnas reads, settings classes first, in field order."""
    table: dict[str, Variable] = {}
    for model, readers in settings_classes():
        for name, info in model.model_fields.items():
            key = env_name(model, name, info)
            if key in table:
                table[key].read_by.append(readers)
                continue
            text = NOTES.get(key) or info.description
            if not text:
                raise SystemExit(f"{key} ({model.__name__}.{name}) has no description: add one")
            table[key] = Variable(key, show_default(info), text, [readers])
    for key, modules in plain_names().items():
        if key in table:
            table[key].read_by.append(where(modules))
            continue
        if key not in NOTES or key not in PLAIN_DEFAULTS:
            raise SystemExit(f"{key} (read in {', '.join(modules)}) is not described: add it")
        table[key] = Variable(key, PLAIN_DEFAULTS[key], NOTES[key], [where(modules)])
    return list(table.values())


def markdown() -> str:
    lines = ["| Variable | Default | Read by | What it does |", "| --- | --- | --- | --- |"]
    for v in variables():
        readers = "all" if "all" in v.read_by else ", ".join(dict.fromkeys(v.read_by))
        lines.append(f"| `{v.name}` | {v.default} | {readers} | {v.description} |")
    return "\n".join(lines)


def split_guide(text: str) -> tuple[str, str, str]:
    if BEGIN not in text or END not in text.partition(BEGIN)[2]:
        raise SystemExit(f"{GUIDE}: the markers {BEGIN} ... {END} are missing")
    head, _, rest = text.partition(BEGIN)
    table, _, tail = rest.partition(END)
    return head, table, tail


def main(argv: list[str]) -> int:
    table = markdown()
    if len(argv) < 2:
        print(table)
        return 0
    head, current, tail = split_guide(GUIDE.read_text(encoding="utf-8"))
    if argv[1] == "--check":
        if current.strip() != table:
            print(f"{GUIDE}: the settings table is out of date; run {argv[0]} --write")
            return 1
        return 0
    if argv[1] == "--write":
        GUIDE.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
