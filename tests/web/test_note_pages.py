"""The note on the search and trial pages (issue 23): the markdown rendered on the server with
raw HTML kept as text, and the form that edits it (both backends)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from search import service
from search.records.db import Search, session_scope
from tests.api.api_helpers import make_client
from tests.search.service_helpers import populate

HOSTILE = (
    "# Findings\n\n**Feedback** helps; see [the paper](https://example.org/convrnn).\n\n"
    '<script>alert("x")</script> <img src=x onerror=alert(1)> '
    "[click](javascript:alert(1)) ![pixel](https://tracker.example/p.png)\n"
)


@pytest.fixture
def seeded(db_url: str, engine: Engine) -> Iterator[tuple[TestClient, Engine, int]]:
    search_id = populate(engine)
    with make_client(db_url) as client:
        yield client, engine, search_id


def _note(html: str) -> str:
    found = re.search(r'<section id="note".*?</section>', html, re.S)
    assert found is not None, "no note section"
    return found.group(0)


def _body(html: str) -> str:
    found = re.search(r'<div class="note-body" id="note-body">(.*?)</div>', html, re.S)
    assert found is not None, "no rendered note"
    return found.group(1)


@pytest.mark.parametrize("where", ["search", "trial"])
def test_the_note_is_rendered_and_its_html_stays_text(seeded, where: str) -> None:
    client, engine, sid = seeded
    if where == "search":
        service.set_search_note(engine, sid, HOSTILE)
        page = client.get(f"/searches/{sid}")
    else:
        service.set_trial_note(engine, sid, 1, HOSTILE)
        page = client.get(f"/searches/{sid}/trials/1")
    assert page.status_code == 200
    body = _body(page.text)
    assert "<h3>Findings</h3>" in body  # below the section's own h2
    assert "<strong>Feedback</strong>" in body
    assert '<a href="https://example.org/convrnn">the paper</a>' in body
    # Raw HTML, a javascript: link and an image are all text: nothing runs or loads.
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "<script" not in body and "<img" not in body and "javascript:" not in _hrefs(body)
    assert "tracker.example" not in " ".join(re.findall(r'src="([^"]*)"', page.text))
    # The editor holds the markdown as written (escaped once, as a textarea's text).
    textarea = re.search(r'<textarea id="note-text"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert textarea is not None and unescape(textarea.group(1)) == HOSTILE


def _hrefs(html: str) -> str:
    return " ".join(re.findall(r'href="([^"]*)"', html))


def test_the_form_saves_to_the_page_s_own_note(seeded) -> None:
    client, engine, sid = seeded
    search = _note(client.get(f"/searches/{sid}").text)
    assert f'data-url="/api/v1/searches/{sid}/note"' in search
    assert "No note yet" in search and "Write a note" in search
    assert 'id="note-clear"' not in search  # nothing to clear
    assert '<script src="/static/note.js" defer></script>' in search
    service.set_trial_note(engine, sid, 2, "noted")
    trial = _note(client.get(f"/searches/{sid}/trials/2").text)
    assert f'data-url="/api/v1/searches/{sid}/trials/2/note"' in trial
    assert "Edit the note" in trial and 'id="note-clear"' in trial
    assert client.get("/static/note.js").status_code == 200


def test_why_a_search_ended_is_not_its_note(seeded) -> None:
    client, engine, sid = seeded
    with session_scope(engine) as s:
        s.execute(update(Search).where(Search.id == sid).values(status="failed", error="boom"))
    page = client.get(f"/searches/{sid}").text
    assert "<dt>Reason</dt><dd>boom</dd>" in page
    assert "No note yet" in _note(page)
    assert service.get_search(engine, sid).model_dump()["reason"] == "boom"
