"""Bounded parsing: hostile documents are refused quickly with a named limit; real ones parse as
before (issue 9). Specs are held to tighter bounds, and values no database stores alike (a NUL,
an integer past 64 bits) are refused by name at validation (issue 18)."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
import yaml

from space import document
from space.document import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_EXPANDED_TEXT,
    MAX_NODES,
    MAX_SPEC_NODES,
    parse_document,
    read_document,
)
from space.errors import SpecError
from space.spec import load_spec, spec_from_text

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "hostile" / "documents"

# Every file of the corpus and a fragment of the message refusing it.
EXPECTED = {
    "alias_bomb.yaml": "limit MAX_NODES",
    "recursive_alias.yaml": "recursive alias: *a is used inside its own anchor",
    "recursive_alias_mapping.yaml": "recursive alias: *l",
    "deep_nesting.yaml": "limit MAX_DEPTH",
    "deep_nesting.json": "limit MAX_DEPTH",
    "many_aliases.yaml": "limit MAX_ALIASES",
    "huge_integer.yaml": "4300 digits",
    "alias_amplification.yaml": "limit MAX_EXPANDED_TEXT",
}
# Files every reader parses, refused when validated as a spec.
SPEC_EXPECTED = {
    "nul_in_description.yaml": "description: must not contain a NUL character",
    "huge_integer_channels.yaml": "layers.0.channels: integer out of range",
}
# A valid spec that only a server's policy refuses (tests/api/test_api_hostile.py).
SERVER_EXPECTED = {"huge_dataset.yaml": "max_dataset_pixels"}


def refused(read: object, *args: object) -> SpecError:
    # The bound on work is shown by where the refusal stops (the node, alias or byte that passed
    # a limit), not by a stopwatch: CPU time on a shared CI core varied tenfold between runs.
    with pytest.raises(SpecError) as info:
        read(*args)  # type: ignore[operator]
    return info.value


def test_every_corpus_file_has_an_expectation() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.suffix in (".yaml", ".json")}
    assert files == set(EXPECTED) | set(SPEC_EXPECTED) | set(SERVER_EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_document_is_refused_quickly_with_a_named_problem(name: str) -> None:
    error = refused(read_document, CORPUS / name)
    (problem,) = error.problems
    assert EXPECTED[name] in problem.message
    assert problem.source == str(CORPUS / name)


def test_alias_bomb_names_the_limit_value_and_line() -> None:
    error = refused(read_document, CORPUS / "alias_bomb.yaml")
    (problem,) = error.problems
    assert f"more than {MAX_NODES:,} nodes" in problem.message
    assert problem.line == 7  # the alias use that passes the limit (level f)
    assert problem.path.startswith("f.")


def test_depth_limit_is_exact() -> None:
    parse_document("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    error = refused(parse_document, "x: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert f"nesting depth over {MAX_DEPTH} levels" in error.problems[0].message
    assert error.problems[0].value == MAX_DEPTH + 1


def test_alias_limit_is_exact() -> None:
    def text(n: int) -> str:
        return "x: &x 1\nxs: [" + ", ".join(["*x"] * n) + "]\n"

    data, _ = parse_document(text(MAX_ALIASES))
    assert len(data["xs"]) == MAX_ALIASES
    error = refused(parse_document, text(MAX_ALIASES + 1))
    assert error.problems[0].path == f"xs.{MAX_ALIASES}"


def test_node_limit_counts_a_flat_list_too() -> None:
    error = refused(parse_document, "[" + "0," * 150_000 + "]", "big.json")
    (problem,) = error.problems
    assert "limit MAX_NODES" in problem.message
    # Composition stops at the node that passes the limit: the root and MAX_NODES - 1 items are
    # all it built of the 150,001 nodes written (about 0.4 s of CPU: see space/document.py).
    assert problem.path == str(MAX_NODES - 1) and problem.value == MAX_NODES + 1


@pytest.mark.parametrize("name", sorted(SPEC_EXPECTED))
def test_hostile_spec_is_refused_by_name_at_validation(name: str) -> None:
    read_document(CORPUS / name)  # any reader parses it
    error = refused(load_spec, CORPUS / name)
    (problem,) = error.problems
    assert SPEC_EXPECTED[name] in str(problem)
    assert problem.line is not None


def test_expanded_text_limit_is_exact() -> None:
    chunk = MAX_EXPANDED_TEXT // 512  # the anchored string; "x" and "xs" add 3 characters

    def text(aliases: int) -> str:
        return f"x: &x '{'a' * chunk}'\nxs: [" + ", ".join(["*x"] * aliases) + "]\n"

    data, _ = parse_document(text(510))  # 3 + 511 chunks: within the limit
    assert len(data["xs"]) == 510
    error = refused(parse_document, text(511))  # 3 + 512 chunks: 3 over
    (problem,) = error.problems
    assert f"more than {MAX_EXPANDED_TEXT:,} characters" in problem.message
    assert problem.value == MAX_EXPANDED_TEXT + 3
    assert problem.path == "xs.510" and problem.line == 2


def test_a_spec_is_held_to_the_spec_node_limit() -> None:
    values = ", ".join(str(i) for i in range(MAX_SPEC_NODES))
    text = f"layers: [{{name: a, channels: {{choice: [{values}]}}}}]\n"
    assert len(parse_document(text)[0]["layers"][0]["channels"]["choice"]) == MAX_SPEC_NODES
    error = refused(spec_from_text, text)
    (problem,) = error.problems
    assert f"more than {MAX_SPEC_NODES:,} nodes" in problem.message
    assert "limit MAX_SPEC_NODES" in problem.message
    # Refused while parsing, at the node past the limit (ten nodes lead to the first value),
    # before the space is validated.
    assert problem.path == f"layers.0.channels.choice.{MAX_SPEC_NODES - 10}"


def test_a_long_explicit_choice_still_parses() -> None:
    data, _ = parse_document("{choice: [" + ", ".join(str(i) for i in range(30_000)) + "]}")
    assert len(data["choice"]) == 30_000


def test_million_unknown_keys_are_refused_by_size_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"k{i}: 0\n" for i in range(1_500_000)))
    error = refused(read_document, path)
    (problem,) = error.problems
    assert "limit MAX_DOCUMENT_BYTES" in problem.message
    assert problem.value == path.stat().st_size and problem.line is None  # nothing was parsed


def test_size_limit_counts_utf8_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document, "MAX_DOCUMENT_BYTES", 100)
    parse_document("a: " + "x" * 90)
    error = refused(parse_document, "a: " + "é" * 90)  # 90 characters, 180 bytes
    assert error.problems[0].value == 183


def shipped_documents() -> list[Path]:
    presets = (ROOT / "space" / "presets").glob("*.yaml")
    return sorted([*(ROOT / "examples").glob("*.yaml"), *presets])


@pytest.mark.parametrize("path", shipped_documents(), ids=lambda p: p.name)
def test_shipped_documents_parse_as_the_safe_loader_reads_them(path: Path) -> None:
    data, _ = read_document(path)
    assert data == yaml.safe_load(path.read_text())


def test_lines_point_at_keys_and_alias_uses() -> None:
    text = "cells:\n  c: &c {kind: gru}\nlayers:\n  - name: a\n    cell: *c\n  - {name: b}\n"
    _, lines = parse_document(text)
    assert lines.line_of(("cells", "c", "kind")) == 2
    assert lines.line_of(("layers", 0, "cell")) == 5  # the alias use, not the anchor
    assert lines.line_of(("layers", 0, "cell", "kind")) == 5
    assert lines.line_of(("layers", 1, "name")) == 6
    assert lines.line_of(("layers", 1, "missing")) == 6


def test_duplicate_keys_are_all_reported_with_lines() -> None:
    error = refused(parse_document, "a: 1\nb: {x: 1, x: 2}\na: 3\n", "d.yaml")
    assert [(p.path, p.line) for p in error.problems] == [("b.x", 2), ("a", 3)]


def test_syntax_errors_and_several_documents_are_named() -> None:
    error = refused(parse_document, "a: [1\n")
    assert "not valid YAML/JSON" in error.problems[0].message
    error = refused(parse_document, "a: 1\n---\nb: 2\n")
    assert "another document" in error.problems[0].message


def test_unsafe_tags_are_refused() -> None:
    error = refused(parse_document, "a: !!python/object/apply:os.system [echo hi]\n")
    assert "not valid YAML/JSON" in error.problems[0].message


def test_empty_document_is_none() -> None:
    assert parse_document("")[0] is None
    assert parse_document("# only a comment\n")[0] is None


@pytest.mark.parametrize(
    "text",
    ["a: !!timestamp abc", "a: 2020-13-45", "a: !!int abc", "a: !!float x", "a: !!bool maybe"],
)
def test_values_the_constructor_cannot_read_are_named_with_their_line(text: str) -> None:
    error = refused(parse_document, "ok: 1\n" + text)
    (problem,) = error.problems
    assert problem.message.startswith("not valid YAML/JSON: column 4: cannot read ")
    assert problem.line == 2


def test_mutated_shipped_documents_give_only_named_errors() -> None:
    """A small fuzz: random edits of the shipped documents parse or raise SpecError only."""
    rng = random.Random(9)
    docs = [p.read_text() for p in shipped_documents()]
    pieces = [*"[]{}:,-&*!|>?'\"#%@`\t\n ab01.", "\x00", "<<: *", "!!binary ", "!!timestamp "]
    for _ in range(300):
        chars = list(rng.choice(docs))
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(chars))
            chars[pos : pos + rng.randint(0, 1)] = [rng.choice(pieces)]
        with contextlib.suppress(SpecError):
            parse_document("".join(chars))
