"""The table of convnas's environment variables in docs/operations.md, made from the code.

    python docs/settings_table.py           print the Markdown table
    python docs/settings_table.py --write   replace the table in docs/operations.md
    python docs/settings_table.py --check   exit 1 when docs/operations.md's table is not this one

Every variable is a field of :class:`space.settings.Settings`; the table lists its sections in
order (``space.settings.SECTIONS``, each section's ``readers`` in the "Read by" column) with each
field's name, default and description. A field without a description is an error, so a new
setting cannot go undocumented.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from space.settings import SECTIONS, env_name, own_fields

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "operations.md"
BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"


@dataclass
class Variable:
    name: str
    default: str
    description: str
    read_by: str


def show_default(info: FieldInfo) -> str:
    value: Any = info.get_default(call_default_factory=True)
    if value is None or value == []:
        return "(none)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def variables() -> list[Variable]:
    """Every environment variable convnas reads, section by section, in field order."""
    table = []
    for section in SECTIONS:
        for name in own_fields(section):
            info = section.model_fields[name]
            if not info.description:
                raise SystemExit(f"{section.__name__}.{name} has no description: add one")
            default = show_default(info)
            table.append(Variable(env_name(name), default, info.description, section.readers))
    return table


def markdown() -> str:
    lines = ["| Variable | Default | Read by | What it does |", "| --- | --- | --- | --- |"]
    for v in variables():
        lines.append(f"| `{v.name}` | {v.default} | {v.read_by} | {v.description} |")
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
