"""The leaderboard's cell-kind filter (and its migration backfill) and the CSV stream, both
backends: the stream holds exactly the leaderboard's rows, read a chunk at a time."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event

from search import service as svc
from search.records.db import Search, Trial, create_db_engine, read_scope, session_scope, utcnow
from search.records.leaderboard import leaderboard
from search.records.lifecycle import create_search
from search.records.migrations import head_revision, upgrade
from search.records.trial_rows import trial_row
from search.service.schemas import CSV_COLUMNS
from search.service.trials import csv_text, trials_csv
from space.arch import Arch
from space.cost import cost
from tests.search.search_helpers import tiny_spec


def arch_with(*kinds: str, channels: int = 4) -> Arch:
    """A small arch whose layers have these cell kinds, in order."""
    layers = [
        {"name": f"conv{i}", "channels": channels, "cell": {"kind": kind}}
        for i, kind in enumerate(kinds, start=1)
    ]
    return Arch.model_validate(
        {"input": {"size": 8, "channels": 1}, "classes": 10, "time": {"steps": 6}, "layers": layers}
    )


# (cell kinds of the layers, status, val_acc) of trials 0.. of the populated search.
CASES: list[tuple[tuple[str, ...], str, float | None]] = [
    (("none", "rgc"), "completed", 0.7),
    (("lstm", "rgc"), "completed", 0.9),
    (("none", "none"), "completed", 0.5),
    (("lstm",), "failed", None),
    (("timedecay", "lstm", "lstm"), "completed", 0.9),  # tied with trial 1
    (("rgc",), "pruned", 0.3),
]


def populate(engine: Engine, cases: list[tuple[tuple[str, ...], str, float | None]]) -> int:
    """A search whose trials are recorded through the ledger's own row constructor."""
    search_id = create_search(engine, tiny_spec(name="cells", trials=len(cases)))
    with session_scope(engine) as s:
        for number, (kinds, status, acc) in enumerate(cases):
            arch = arch_with(*kinds, channels=4 + number % 3)
            row = trial_row(search_id, number, {"lr": 0.1}, arch, cost(arch), status)
            row.best_val_acc = row.last_val_acc = acc
            row.error = None if acc is not None else 'RuntimeError: boom, "quoted"\nsecond line'
            row.pareto = acc == 0.9
            s.add(row)
    return search_id


def numbers(engine: Engine, search_id: int, **query: Any) -> list[int]:
    page = svc.trials(engine, search_id, svc.TrialQuery(**query))
    assert page.total == len(page.items)
    return [item.trial for item in page.items]


def test_cell_kind_filters_the_leaderboard_and_rows_name_their_cells(engine: Engine) -> None:
    sid = populate(engine, CASES)
    assert numbers(engine, sid, cell_kind="lstm") == [1, 4]
    assert numbers(engine, sid, cell_kind="lstm", status="all") == [1, 4, 3]
    assert numbers(engine, sid, cell_kind="rgc", status="all", sort="+number") == [0, 1, 5]
    assert numbers(engine, sid, cell_kind="none") == [2]  # no recurrent cell at all
    assert numbers(engine, sid, cell_kind="gru", status="all") == []
    assert numbers(engine, sid, cell_kind="timedecay", pareto=True) == [4]
    page = svc.trials(engine, sid, svc.TrialQuery(status="all", sort="+number"))
    assert [item.cells for item in page.items] == [
        ["rgc"],
        ["lstm", "rgc"],
        [],
        ["lstm"],
        ["timedecay", "lstm"],
        ["rgc"],
    ]
    assert svc.trial(engine, sid, 4).cells == ["timedecay", "lstm"]


@pytest.mark.parametrize("bad", ["transformer", "RGC", "", "rgc,lstm", "%"])
def test_an_unknown_cell_kind_is_refused_naming_the_field(engine: Engine, bad: str) -> None:
    sid = populate(engine, CASES[:1])
    with pytest.raises(svc.InvalidRequest) as info:
        svc.trials(engine, sid, svc.TrialQuery(cell_kind=bad))
    problem = info.value.problems[0]
    assert problem.path == "cell_kind" and problem.value == bad
    assert "rgc" in problem.message and "lstm" in problem.message


def _old_trial(search_id: int, number: int, arch: dict[str, Any]) -> dict[str, Any]:
    return {
        "search_id": search_id,
        "number": number,
        "status": "completed",
        "arch": arch,
        "arch_hash": f"{number:016x}",
        "config_hash": f"{number:016x}",
        "params": {},
        "epochs": 1,
        "pareto": False,
        "best_val_acc": number / 2000,
        "created_at": utcnow(),
    }


def test_migration_0003_backfills_cell_kinds_of_existing_trials(db_url: str) -> None:
    engine = create_db_engine(db_url, migrate=False)
    try:
        upgrade(engine, "0002")
        old = sa.Table("convnas_trials", sa.MetaData(), autoload_with=engine)
        assert "cell_kinds" not in old.c
        sid = create_search(engine, tiny_spec(name="old"))
        shapes = [
            arch_with("rgc", "lstm").to_dict(),
            arch_with("none").to_dict(),
            {},  # a candidate that could not be sampled: no arch recorded
            {"layers": [{"name": "conv1", "channels": 4}]},  # an older document without cells
        ]
        # More rows than the migration reads per batch, so its paging is exercised.
        rows = [_old_trial(sid, n, shapes[n % len(shapes)]) for n in range(1003)]
        with engine.begin() as conn:
            conn.execute(old.insert(), rows)
        upgrade(engine)
        assert svc.get_search(engine, sid).finished == 1003
        with session_scope(engine) as s:
            stored = dict(s.execute(sa.select(Trial.number, Trial.cell_kinds)).all())
        expected = [",rgc,lstm,", "", None, ""]
        assert all(stored[n] == expected[n % len(shapes)] for n in range(1003))
        lstm = svc.trials(engine, sid, svc.TrialQuery(cell_kind="lstm", limit=3))
        assert lstm.total == 251 and [t.trial for t in lstm.items] == [1000, 996, 992]
        assert lstm.items[0].cells == ["rgc", "lstm"]
        assert svc.trials(engine, sid, svc.TrialQuery(cell_kind="none")).total == 501
    finally:
        engine.dispose()


def test_a_new_database_is_at_the_head_revision(engine: Engine) -> None:
    assert head_revision() == "0010"
    with session_scope(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Trial)) == 0
        assert Trial.__table__.c.cell_kinds.nullable


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def expected_csv(engine: Engine, search_id: int, query: svc.TrialQuery) -> str:
    """What the leaderboard's rows give, every one of them, through ``csv.writer``."""
    page = svc.trials(engine, search_id, replace(query, limit=None, offset=0))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in page.items:
        data = item.model_dump(mode="json")
        data["cells"] = ";".join(data["cells"])
        writer.writerow([data[column] for column in CSV_COLUMNS])
    text = out.getvalue()
    assert csv_text(page.items) == text  # the CLI's --csv writes the same
    return text


def many_cases(count: int) -> list[tuple[tuple[str, ...], str, float | None]]:
    """Trials with ties, missing metrics and every status the leaderboard sorts apart."""
    kinds = [("rgc",), ("lstm", "rgc"), ("none",), ("timedecay",)]
    statuses = ["completed", "completed", "failed", "pruned", "completed"]
    cases: list[tuple[tuple[str, ...], str, float | None]] = []
    for n in range(count):
        status = statuses[n % len(statuses)]
        acc = None if status == "failed" else round((n * 37 % 11) / 10, 1)
        cases.append((kinds[n % len(kinds)], status, acc))
    return cases


@pytest.mark.parametrize("sort", ["-val_acc", "+val_acc", "params"])
def test_pages_slice_one_order_across_the_trials_without_the_metric(
    engine: Engine, sort: str
) -> None:
    cases = many_cases(23)
    sid = populate(engine, cases)
    sign = -1 if sort == "-val_acc" else 1
    if sort == "params":
        whole = numbers(engine, sid, status="all", sort=sort)
    else:  # ranked by val_acc (ties by number), then the trials without one, by number
        ranked = sorted((sign * acc, n) for n, (_, _, acc) in enumerate(cases) if acc is not None)
        unranked = [n for n, (_, _, acc) in enumerate(cases) if acc is None]
        whole = [n for _, n in ranked] + unranked
        assert numbers(engine, sid, status="all", sort=sort) == whole
    for offset in range(0, 26, 3):
        for limit in (1, 4, 50):
            query = svc.TrialQuery(status="all", sort=sort, offset=offset, limit=limit)
            page = svc.trials(engine, sid, query)
            assert [t.trial for t in page.items] == whole[offset : offset + limit], (offset, limit)
            assert page.total == 23
            assert [t.rank for t in page.items] == list(
                range(offset + 1, offset + 1 + len(page.items))
            )


QUERIES = [
    svc.TrialQuery(),
    svc.TrialQuery(status="all"),
    svc.TrialQuery(status="all", sort="+val_acc", limit=2, offset=3),  # limit/offset ignored
    svc.TrialQuery(status="failed,pruned", sort="-params"),
    svc.TrialQuery(status="all", sort="flops", cell_kind="rgc"),
    svc.TrialQuery(sort="epochs", pareto=True),
    svc.TrialQuery(status="all", sort="+number", params_max=10**9, cell_kind="none"),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: repr(q)[10:60])
def test_csv_stream_is_the_leaderboard_every_row_at_any_chunk_size(
    engine: Engine, query: svc.TrialQuery
) -> None:
    sid = populate(engine, many_cases(23))
    want = expected_csv(engine, sid, query)
    assert want.count("\r\n") > 1 or query.pareto
    for chunk in (1, 4, 7, 1000):
        assert "".join(trials_csv(engine, sid, query, chunk=chunk)) == want, chunk
    rows = list(csv.DictReader(io.StringIO(want)))
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert {r["cells"] for r in rows} <= {"rgc", "lstm;rgc", "", "timedecay"}


def test_csv_of_a_search_without_matches_is_the_header(engine: Engine) -> None:
    sid = populate(engine, CASES)
    text = "".join(trials_csv(engine, sid, svc.TrialQuery(cell_kind="gru")))
    assert text == ",".join(CSV_COLUMNS) + "\r\n"


def test_csv_refuses_bad_requests_before_streaming(engine: Engine) -> None:
    sid = populate(engine, CASES[:1])
    with pytest.raises(svc.NotFound):
        trials_csv(engine, "no-such-search")
    for field, query in (
        ("cell_kind", svc.TrialQuery(cell_kind="nope")),
        ("sort", svc.TrialQuery(sort="nope")),
        ("status", svc.TrialQuery(status="nope")),
    ):
        with pytest.raises(svc.InvalidRequest) as info:
            trials_csv(engine, sid, query)  # no iteration: refused at the call
        assert info.value.problems[0].path == field


class Statements:
    """Counts the SELECTs on the trials table and the rows each returned."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.sql: list[str] = []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "convnas_trials" in statement:
            self.sql.append(statement)


def lines_of(pieces: Iterator[str]) -> Iterator[int]:
    for piece in pieces:
        yield len(list(csv.reader(io.StringIO(piece))))


def test_csv_reads_a_bounded_chunk_per_query_and_only_as_it_is_consumed(engine: Engine) -> None:
    sid = populate(engine, many_cases(23))
    query = svc.TrialQuery(status="all")
    with Statements(engine) as seen:
        stream = trials_csv(engine, sid, query, chunk=5)
        before = len(seen.sql)
        sizes = lines_of(stream)
        assert next(sizes) == 1  # the header, before any row is read
        assert len(seen.sql) == before
        assert next(sizes) == 5
        assert len(seen.sql) == before + 1  # one chunk read, not the whole search
        rest = list(sizes)
    assert rest == [5, 5, 5, 3]
    chunks = seen.sql[before:]
    # 18 rows with val_acc, then 5 without: the fourth chunk takes the last 3 ranked rows and
    # the first 2 unranked ones (two reads); a short fifth chunk ends the stream.
    assert len(chunks) == 6 and all("LIMIT" in sql.upper() for sql in chunks)
    assert not any(re.search(r"\.arch\b", sql.split("FROM")[0]) for sql in chunks)


def test_postgres_sessions_plan_every_query_for_its_values(engine: Engine) -> None:
    """A prepared leaderboard query on a generic plan (blind to the offset and the filter) was
    half as fast again at 100k trials: every connection asks for custom plans."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"


def test_leaderboard_rows_are_whole_after_their_session(engine: Engine) -> None:
    """Callers (export, the driver's summary) read a row's arch and preprocessing after the
    query's session closed: nothing on a page may be left to load lazily."""
    sid = populate(engine, CASES)
    with session_scope(engine) as s:
        rows, total, _ = leaderboard(s, s.get_one(Search, sid), svc.TrialQuery(limit=2))
    assert total == 4 and [r.number for r in rows] == [1, 4]
    assert rows[0].arch["layers"][0]["cell"]["kind"] == "lstm" and rows[1].preprocessing is None


def test_sqlite_reads_neither_wait_for_nor_take_the_write_lock(engine: Engine) -> None:
    """A page or a CSV read while the driver holds the write lock answers from the last
    commit at once; a write may start while a read is open."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL readers never take a write lock")
    sid = populate(engine, CASES)
    writer = sqlite3.connect(str(engine.url.database), timeout=0.1, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE convnas_trials SET node = 'uncommitted'")
    try:
        read: list[str] = []
        thread = threading.Thread(
            target=lambda: read.append("".join(trials_csv(engine, sid, svc.TrialQuery())))
        )
        thread.start()
        thread.join(5)  # with the write lock taken to read, this waited for the busy timeout
        assert read and read[0].count("\r\n") == 5 and "uncommitted" not in read[0]
    finally:
        writer.execute("ROLLBACK")
    with read_scope(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Trial)) == len(CASES)
        writer.execute("BEGIN IMMEDIATE")  # "database is locked" if the read held the lock
        writer.execute("ROLLBACK")
    writer.close()
