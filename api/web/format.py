"""How values look on the pages (Jinja2 filters): numbers, durations, times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

from space.cost import human_bytes, human_count

# Notes are written by anyone with a token and read by everyone: raw HTML stays text (html
# off; markdown-it refuses javascript: and the like in links itself), and images are off so
# that a note never makes a page load anything, from elsewhere or not.
_MARKDOWN = MarkdownIt("js-default", {"html": False}).disable("image")
# A note sits under the page's h2 "Note": its own headings start one level below.
_HEADING_SHIFT = 2


def number(value: Any) -> str:
    """1234567 -> 1.23M (as every table of the CLI writes it); None -> an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return human_count(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def size(value: int | None) -> str:
    """Bytes in binary units, as the CLI shows them: 346112 -> 338 KiB."""
    return "—" if value is None else human_bytes(value)


def accuracy(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def duration(seconds: float | None) -> str:
    """Seconds as 2h 03m, 4m 05s or 12.3s."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    if whole >= 60:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{seconds:.1f}s"


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from start to end (now when still running)."""
    if start is None:
        return None
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    stop = end or datetime.now(UTC)
    stop = stop if stop.tzinfo else stop.replace(tzinfo=UTC)
    return max((stop - start).total_seconds(), 0.0)


def markdown(text: str | None) -> Markup:
    """A note's markdown as safe HTML (its headings from h3 down)."""
    tokens = _MARKDOWN.parse(text or "")
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + _HEADING_SHIFT, 6)}"
    return Markup(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))  # noqa: S704


FILTERS = {
    "number": number,
    "size": size,
    "accuracy": accuracy,
    "duration": duration,
    "when": when,
    "markdown": markdown,
}
