"""Reading YAML/JSON documents within fixed bounds, with the line of every key.

Every document the project reads (search specs, arch files, exports, HTTP bodies) goes through
:func:`parse_document`. A YAML document can describe far more than its size suggests: nested
anchors expand exponentially (a 480-byte "alias bomb" stands for billions of nodes), an alias
inside its own anchor is an infinitely deep structure and deep nesting overflows recursive code.
So the composer below counts while it composes and stops at the first limit passed, before
anything downstream (construction, validation, line lookup) sees the document:

* :data:`MAX_DOCUMENT_BYTES` — the UTF-8 size, checked before parsing;
* :data:`MAX_DEPTH` — nesting of mappings and sequences;
* :data:`MAX_NODES` — nodes with every alias expanded (what a consumer walking the data visits);
  a search spec gets the tighter :data:`MAX_SPEC_NODES` (``spec=True``);
* :data:`MAX_EXPANDED_TEXT` — characters of scalar text with every alias expanded (one long
  string aliased 999 times is 999 nodes but 200 MB of text to validate, store and echo);
* :data:`MAX_ALIASES` — alias uses (``*name``); an alias inside its own anchor is always refused.

Each is a :class:`~space.errors.SpecError` whose problem names the limit, its value and the line.
JSON is read by the same loader (JSON is YAML), so it gets the same bounds.

Line numbers are recorded during composition, by path; an alias records the line where it is
used and is not walked again (a problem inside aliased content points at the ``*name``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

from space.errors import LineMap, LinePath, Problem, SpecError, dotted

# Real documents are far below each limit: specs and exports are a few kB (the largest shipped
# document is 5.8 kB; the most nodes 702, aliases 7, depth 7), yet a spec may list long explicit
# choices (tens of thousands of values), so the node and byte limits leave over 100x of room.
# The worst case within them (100,000 plain nodes) is refused in about 0.4 s of CPU, ~150 MB.
MAX_DOCUMENT_BYTES = 1024 * 1024
"""Largest document accepted, in bytes of UTF-8."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences (the root collection is level 1)."""
MAX_NODES = 100_000
"""Most nodes (scalars, sequences, mappings, keys), counting each alias as its expansion."""
# A spec's work downstream (validation, sampling, description) grows with its size: a 320 kB
# spec of 64,000 choice values took about 1 s of a server's CPU to parse and validate. 20,000
# nodes parse in about 0.15 s and leave 28x the largest shipped spec (702 nodes).
MAX_SPEC_NODES = 20_000
"""Most nodes of a search spec (``spec=True``), aliases expanded: explicit choices of up to
about 19,000 values in all (``{int: [low, high]}`` writes a range of any length)."""
MAX_EXPANDED_TEXT = 2 * 1024 * 1024
"""Most characters of scalar text (keys and values) with aliases expanded: twice what the
largest document can hold without aliases."""
MAX_ALIASES = 1_000
"""Most alias uses (``*name``) in one document; presets use at most 7."""

_DEPTH_MESSAGE = f"nesting depth over {MAX_DEPTH} levels (limit MAX_DEPTH)"


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


try:  # libyaml scans and parses ~10x faster; composition (where the bounds live) stays Python
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _Parser = _PyParser  # type: ignore[misc,assignment]


class _Refused(Exception):
    """A limit passed or an alias refused, at a line."""

    def __init__(self, path: LinePath, message: str, value: Any, line: int | None):
        super().__init__(message)
        self.problem_args = (dotted(path), message, value, line)


class _BoundedComposer:
    """PyYAML's composer, rewritten to count nodes, depth and aliases as it goes and to record
    the line of every path (the methods PyYAML's constructor and resolver call keep their
    names and signatures)."""

    # Provided by the parser and resolver bases of the concrete loader.
    check_event: Any
    get_event: Any
    peek_event: Any
    resolve: Any
    descend_resolver: Any
    ascend_resolver: Any
    spec = False  # a search spec: held to MAX_SPEC_NODES

    def _start_bounds(self) -> None:
        self.anchors: dict[str, Node] = {}
        self.sizes: dict[str, tuple[int, int]] = {}  # nodes and text of each finished anchor
        self.open_anchors: set[str] = set()
        self.path: list[str | int] = []
        self.lines: dict[LinePath, int] = {}
        self.dups: list[Problem] = []
        self.nodes = 0
        self.text = 0  # characters of scalar text, aliases expanded
        spec = self.spec
        self.node_limit = (MAX_SPEC_NODES, "MAX_SPEC_NODES") if spec else (MAX_NODES, "MAX_NODES")
        self.aliases = 0
        self.depth = 0

    def _refuse(self, message: str, value: Any, mark: Any) -> _Refused:
        return _Refused(tuple(self.path), message, value, mark.line + 1 if mark else None)

    def _count(self, nodes: int, text: int, mark: Any) -> None:
        self.nodes += nodes
        self.text += text
        limit, name = self.node_limit
        if self.nodes > limit:
            raise self._refuse(
                f"document too large: more than {limit:,} nodes with aliases expanded "
                f"(limit {name})",
                self.nodes,
                mark,
            )
        if self.text > MAX_EXPANDED_TEXT:
            raise self._refuse(
                f"document too large: more than {MAX_EXPANDED_TEXT:,} characters of text with "
                "aliases expanded (limit MAX_EXPANDED_TEXT)",
                self.text,
                mark,
            )

    def get_single_node(self) -> Node | None:
        self._start_bounds()
        self.get_event()  # STREAM-START
        document = None
        if not self.check_event(StreamEndEvent):
            self.get_event()  # DOCUMENT-START
            document = self.compose_node(None, None)
            self.get_event()  # DOCUMENT-END
        if not self.check_event(StreamEndEvent):
            event = self.get_event()
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                document.start_mark if document else None,
                "but found another document",
                event.start_mark,
            )
        self.get_event()  # STREAM-END
        return document

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            return self._alias(self.get_event(), record=parent is None or index is not None)
        event = self.peek_event()
        if parent is None or index is not None:  # not a mapping key: its value has the path
            self.lines[tuple(self.path)] = event.start_mark.line + 1
        anchor = event.anchor
        if anchor is not None:
            if anchor in self.anchors:
                raise yaml.composer.ComposerError(
                    f"found duplicate anchor {anchor!r}; first occurrence",
                    self.anchors[anchor].start_mark,
                    "second occurrence",
                    event.start_mark,
                )
            self.open_anchors.add(anchor)
        before = (self.nodes, self.text)
        self._count(1, len(event.value) if isinstance(event, ScalarEvent) else 0, event.start_mark)
        self.descend_resolver(parent, index)
        node = self._compose_kind(anchor, event)
        self.ascend_resolver()
        if anchor is not None:
            self.open_anchors.discard(anchor)
            self.sizes[anchor] = (self.nodes - before[0], self.text - before[1])
        return node

    def _compose_kind(self, anchor: str | None, event: Any) -> Node:
        if self.check_event(ScalarEvent):
            return self.compose_scalar_node(anchor)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._refuse(_DEPTH_MESSAGE, self.depth, event.start_mark)
        if self.check_event(SequenceStartEvent):
            node: Node = self.compose_sequence_node(anchor)
        else:
            node = self.compose_mapping_node(anchor)
        self.depth -= 1
        return node

    def _alias(self, event: Any, record: bool) -> Node:
        anchor = event.anchor
        if record:
            self.lines[tuple(self.path)] = event.start_mark.line + 1
        if anchor in self.open_anchors:
            raise self._refuse(
                f"recursive alias: *{anchor} is used inside its own anchor &{anchor}",
                f"*{anchor}",
                event.start_mark,
            )
        if anchor not in self.anchors:
            raise yaml.composer.ComposerError(
                None, None, f"found undefined alias {anchor!r}", event.start_mark
            )
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise self._refuse(
                f"too many aliases: more than {MAX_ALIASES:,} (limit MAX_ALIASES)",
                self.aliases,
                event.start_mark,
            )
        self._count(*self.sizes[anchor], event.start_mark)
        return self.anchors[anchor]

    def compose_scalar_node(self, anchor: str | None) -> Node:
        event = self.get_event()
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(ScalarNode, event.value, event.implicit)
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        if anchor is not None:
            self.anchors[anchor] = node
        return node

    def _start_collection(self, kind: type[CollectionNode], anchor: str | None) -> CollectionNode:
        start = self.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(kind, None, start.implicit)
        node = kind(tag, [], start.start_mark, None, flow_style=start.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        return node

    def compose_sequence_node(self, anchor: str | None) -> Node:
        node = self._start_collection(SequenceNode, anchor)
        index = 0
        while not self.check_event(SequenceEndEvent):
            self.path.append(index)
            node.value.append(self.compose_node(node, index))
            self.path.pop()
            index += 1
        node.end_mark = self.get_event().end_mark
        return node

    def compose_mapping_node(self, anchor: str | None) -> Node:
        node = self._start_collection(MappingNode, anchor)
        seen: set[str] = set()
        while not self.check_event(MappingEndEvent):
            key_node = self.compose_node(node, None)
            key = key_node.value if isinstance(key_node, ScalarNode) else str(key_node)
            self.path.append(key)
            if key in seen:
                line = key_node.start_mark.line + 1
                self.dups.append(Problem(dotted(self.path), "duplicate key", line=line))
            seen.add(key)
            node.value.append((key_node, self.compose_node(node, key_node)))
            self.path.pop()
        node.end_mark = self.get_event().end_mark
        return node


class _BoundedLoader(
    _BoundedComposer, _Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    def __init__(self, text: str, spec: bool = False) -> None:
        self.spec = spec
        _Parser.__init__(self, text)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """PyYAML's constructors fail on some values with plain Python errors (an integer of
        over 4300 digits, ``!!timestamp abc``, ``!!bool maybe``): name the value and its line."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            reason = "not a valid value of this type"
            if isinstance(exc, (ValueError, OverflowError)):
                reason = str(exc).split(";")[0]  # drop the hint on sys.set_int_max_str_digits
            shown = str(node.value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {tag} {shown!r}: {reason}", node.start_mark
            ) from None


# YAML 1.1 (PyYAML) reads ``1e-5`` and ``3E4`` as strings: a float needs a dot there. Specs
# write learning rates like that, and JSON writes them so, so floats follow YAML 1.2 / JSON: an
# exponent alone makes a float.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$")
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789")
)


def _size_problem(size: int, source: str) -> Problem:
    return Problem(
        "",
        f"document too large: {size:,} bytes (limit MAX_DOCUMENT_BYTES = "
        f"{MAX_DOCUMENT_BYTES:,} bytes)",
        size,
        source=source,
    )


def _check_size(text: str, source: str) -> None:
    # Characters never outnumber UTF-8 bytes; encode only when the count alone cannot decide.
    size = len(text)
    if size <= MAX_DOCUMENT_BYTES < 4 * size:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise SpecError([_size_problem(size, source)])


def parse_document(text: str, source: str = "<text>", *, spec: bool = False) -> tuple[Any, LineMap]:
    """Parse YAML or JSON text within the limits above; the data and the line of every path.
    ``spec``: the text is a search spec, held to :data:`MAX_SPEC_NODES`.

    Syntax errors, duplicate keys and passed limits are a :class:`SpecError` (never a
    ``RecursionError`` or a ``MemoryError``).
    """
    _check_size(text, source)
    loader = _BoundedLoader(text, spec)
    try:
        node = loader.get_single_node()
        data = None if loader.dups or node is None else loader.construct_document(node)
    except _Refused as exc:
        raise SpecError([Problem(*exc.problem_args, source=source)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([syntax_problem(exc, source)]) from None
    finally:
        loader.dispose()
    if loader.dups:
        raise SpecError([_at(p, source) for p in loader.dups])
    return data, LineMap(loader.lines)


def _at(problem: Problem, source: str) -> Problem:
    return Problem(problem.path, problem.message, line=problem.line, source=source)


def syntax_problem(exc: yaml.YAMLError, source: str) -> Problem:
    """Where the parser gave up (``problem_mark``: line and column) and, when it was inside
    something it could not close (a bracket, a quote, a block), where that began
    (``context_mark``), e.g. "line 5, column 9: expected ',' or '}' ... (the flow mapping
    opened at line 4, column 3)"."""
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or str(exc)
    line = mark.line + 1 if mark is not None else None
    if "maximum nesting depth" in reason:  # libyaml's own limit (1,000), met while reading ahead
        return Problem("", _DEPTH_MESSAGE, line=line, source=source)
    if mark is not None:
        reason = f"column {mark.column + 1}: {reason}"
    context, opened = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and opened is not None and (mark is None or opened.line != mark.line):
        reason += f" ({context} at line {opened.line + 1}, column {opened.column + 1})"
    return Problem("", f"not valid YAML/JSON: {reason}", line=line, source=source)


def read_document(path: Path, *, spec: bool = False) -> tuple[Any, LineMap]:
    """Read a YAML/JSON file within the limits (``spec``: see :func:`parse_document`); a
    missing, unreadable or oversized file is a :class:`SpecError` naming it (an oversized file
    is refused before it is read)."""
    source = str(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_DOCUMENT_BYTES + 1)
            if len(raw) > MAX_DOCUMENT_BYTES:
                size = max(path.stat().st_size, len(raw))
                raise SpecError([_size_problem(size, source)])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise SpecError([Problem("", "file not found", value=source)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem("", f"cannot read file: {exc}", value=source)]) from None
    return parse_document(text, source, spec=spec)
