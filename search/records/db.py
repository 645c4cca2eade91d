"""SQL records of searches, trials and per-epoch metrics; the engine and the session scope.

Table names carry a ``convnas_`` prefix because the Optuna study lives in the same database and
Optuna's own schema already owns ``trials`` (and ``alembic_version``): the prefix lets both share
one SQLite file or one PostgreSQL database without a clash. Our Alembic history uses its own version
table for the same reason.

SQLite gets WAL (readers never block the driver's writes), a busy timeout and ``BEGIN IMMEDIATE``
transactions (a deferred transaction that reads then writes fails at once with "database is locked"
when another connection wrote in between; an immediate one waits for the lock instead); only
:func:`read_scope`, which never writes, begins deferred.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.pool import StaticPool

from search.settings import database_url
from space.errors import ConvnasError
from space.status import SearchStatus, TrialStatus
from space.trial_fields import RANGE_FILTERS, SORTABLE, field

SQLITE_BUSY_TIMEOUT_MS = 30_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite hands back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


JSONType = JSON().with_variant(JSONB(), "postgresql")


def clean_json(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None (PostgreSQL's JSON rejects NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    return value


def finite(value: Any) -> float | None:
    """A float column value: None for missing, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def arch_cell_kinds(arch: Mapping[str, Any]) -> list[str]:
    """The recurrent cell kinds an arch document's layers use, in layer order, each once
    (``[]``: a feedforward arch)."""
    kinds: list[str] = []
    for layer in arch.get("layers") or ():
        cell = layer.get("cell") if isinstance(layer, Mapping) else None
        kind = str(cell.get("kind", "none")) if isinstance(cell, Mapping) else "none"
        if kind != "none" and kind not in kinds:
            kinds.append(kind)
    return kinds


def encode_cells(kinds: Sequence[str]) -> str:
    """``["rgc", "lstm"]`` -> ``",rgc,lstm,"``, so that one kind is matched as ``%,kind,%``;
    ``[]`` -> ``""`` (feedforward: what the filter ``none`` matches). A trial without an arch
    (a candidate that could not be sampled) keeps NULL."""
    return "," + ",".join(kinds) + "," if kinds else ""


def decode_cells(text: str | None) -> list[str]:
    return [kind for kind in (text or "").split(",") if kind]


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType, datetime: UTCDateTime}


class Search(Base):
    __tablename__ = "convnas_searches"
    # AUTOINCREMENT: SQLite would give a new search a deleted one's id (and its old links).
    __table_args__ = (
        UniqueConstraint("study_name", name="uq_convnas_searches_study_name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True, default=SearchStatus.QUEUED)
    requested_trials: Mapped[int] = mapped_column(Integer)
    study_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The runner that drives the search refreshes this; a stale heartbeat on a "running" search
    # means its driver died (kill -9, power loss) and the search can be resumed.
    heartbeat_at: Mapped[datetime | None]
    runner: Mapped[str | None] = mapped_column(String(200))
    ray_address: Mapped[str | None] = mapped_column(String(500))
    run_dir: Mapped[str | None] = mapped_column(String(1000))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    # The resolved folders a search submitted to a server may read files from (its workers
    # confine every open to them: space.paths); NULL for a local search, which is unconfined.
    # Deferred (only the driver reads it), so a database a revision behind still answers the
    # other queries, as the health check needs to report it behind.
    data_roots: Mapped[list[Any] | None] = mapped_column(deferred=True)
    # Each time its driver lost the Ray cluster and it went back to the queue, to be resumed
    # (search.records.lifecycle.recover): [{at, reason}], oldest first. Deferred as data_roots.
    recoveries: Mapped[list[Any] | None] = mapped_column(deferred=True)
    # A researcher's markdown note (search.service.notes; NULL: none). Deferred as data_roots;
    # evaluates_none: an INSERT that does not set it leaves it out, as it does the JSON
    # columns, so that recording a search names no column a database a revision behind lacks.
    note: Mapped[str | None] = mapped_column(Text().evaluates_none(), deferred=True)

    trials: Mapped[list[Trial]] = relationship(
        back_populates="search", cascade="all, delete-orphan", passive_deletes=True
    )


class Trial(Base):
    __tablename__ = "convnas_trials"
    __table_args__ = (
        UniqueConstraint("search_id", "number", name="uq_convnas_trials_search_number"),
        # Trials of one status with every sort key and filter: counts a leaderboard's matches
        # (and best values, ranks) from the index alone. The sort indexes follow the class.
        Index(
            "ix_convnas_trials_search_status_acc",
            *("search_id", "status", "best_val_acc", "number", "cell_kinds", "n_params", "flops"),
            *("last_val_acc", "activation_memory", "train_seconds", "epochs"),
        ),
        Index("ix_convnas_trials_search_pareto", "search_id", "pareto"),
        # Duplicate check before every proposal is trained.
        Index("ix_convnas_trials_search_config", "search_id", "config_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("convnas_searches.id", ondelete="CASCADE"))
    # The Optuna trial number in the search's study: unique per search, stable across resumes.
    number: Mapped[int] = mapped_column(Integer)
    optuna_trial_id: Mapped[int | None] = mapped_column(Integer)
    tune_trial_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default=TrialStatus.RUNNING)
    arch: Mapped[dict[str, Any]]
    arch_hash: Mapped[str] = mapped_column(String(32), index=True)
    config_hash: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Objective values in the spec's objective order, as told to Optuna.
    values: Mapped[list[Any] | None]
    n_params: Mapped[int | None] = mapped_column(BigInteger)
    flops: Mapped[int | None] = mapped_column(BigInteger)
    activation_memory: Mapped[int | None] = mapped_column(BigInteger)
    best_val_acc: Mapped[float | None] = mapped_column(Float)
    last_val_acc: Mapped[float | None] = mapped_column(Float)
    epochs: Mapped[int] = mapped_column(Integer, default=0)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    node: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Refreshed with every reported epoch: the lease a restarted runner checks.
    heartbeat_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    pareto: Mapped[bool] = mapped_column(Boolean, default=False)
    checkpoint: Mapped[str | None] = mapped_column(String(1000))
    # How inputs were prepared for this trial (workers.data.Dataset.preprocessing()): without it
    # exported weights cannot be used on new images.
    preprocessing: Mapped[dict[str, Any] | None]
    # The recurrent cell kinds of the arch's layers as ",rgc,lstm," (see encode_cells): the
    # leaderboard's cell-kind filter reads this column instead of parsing every arch document.
    cell_kinds: Mapped[str | None] = mapped_column(String(200))
    # Where and how the trial ran (issue 12): the GPU fraction Ray gave it (0 on CPU), the
    # analytic memory estimate its share was packed by and the measured peak (CUDA only), so
    # that the estimate can be checked against reality.
    gpu_share: Mapped[float | None] = mapped_column(Float)
    memory_estimate: Mapped[int | None] = mapped_column(BigInteger)
    peak_memory: Mapped[int | None] = mapped_column(BigInteger)
    # torch.cuda.max_memory_reserved (issue 20): what the share's allocator cap limits.
    peak_reserved: Mapped[int | None] = mapped_column(BigInteger)
    # The neural fit objective (issue 14): the ceiling-normalised median fit (a leaderboard
    # sort key, see BOARD_INDEXES) and the full layer x time bin x region table.
    neural_fit: Mapped[float | None] = mapped_column(Float)
    neural: Mapped[dict[str, Any] | None]
    # Each time Ray Tune started it (search.retries runs it again after its worker died), oldest
    # first: {attempt, node, started_at, ended_at, epochs, outcome, error}; see trial_rows.
    attempts: Mapped[list[Any] | None]
    # A researcher's markdown note, as on Search (deferred: only a trial's own page reads it,
    # never a leaderboard's rows).
    note: Mapped[str | None] = mapped_column(Text().evaluates_none(), deferred=True)

    search: Mapped[Search] = relationship(back_populates="trials")
    metrics: Mapped[list[TrialMetric]] = relationship(
        back_populates="trial",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="TrialMetric.epoch",
    )


# Leaderboards: one index per sort key (SORT_COLUMNS of search.records.leaderboard), holding a
# search's trials in the key's natural order then by number (the leaderboard's order), followed by
# every column a leaderboard filters on. A page, the count of its matches and a filtered count then
# read the index alone, and a deep page (a large offset) walks index entries, not table rows: at
# 100k trials each of these was 100-200 ms when the filter or the tie-break read the rows.
BOARD_FILTERS = ("status", "cell_kinds", *(field(n).stored for n in RANGE_FILTERS))


def _board_index(name: str, column: str, goal: str) -> Index:
    table = Trial.__table__
    key = table.c[column].desc() if goal == "max" else table.c[column]
    tie = [table.c.number] if column != "number" else []
    others = [table.c[c] for c in BOARD_FILTERS if c != column]
    return Index(f"ix_convnas_trials_search_{name}", table.c.search_id, key, *tie, *others)


# Named by the field's index suffix, or its sort key ("acc" for val_acc predates the table).
BOARD_INDEXES = [
    _board_index(f.index or key, f.stored, f.goal) for key, f in SORTABLE.items() if f.goal
]


class RunnerRecord(Base):
    """A ``convnas runner`` process and what it is doing: /health and /metrics show it, so a
    runner that waits for its Ray cluster is seen waiting rather than taken for idle."""

    __tablename__ = "convnas_runners"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid
    state: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    searches: Mapped[list[Any] | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class TrialMetric(Base):
    __tablename__ = "convnas_trial_metrics"
    __table_args__ = (
        UniqueConstraint("trial_id", "epoch", name="uq_convnas_trial_metrics_trial_epoch"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("convnas_trials.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_acc: Mapped[float | None] = mapped_column(Float)
    val_acc_per_step: Mapped[list[Any] | None]
    images_per_sec: Mapped[float | None] = mapped_column(Float)
    elapsed: Mapped[float | None] = mapped_column(Float)
    # Every other reported metric (learning rate, step counts, ...), so nothing reported is lost.
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    trial: Mapped[Trial] = relationship(back_populates="metrics")


# --------------------------------------------------------------------------------------------
# Engine and sessions
# --------------------------------------------------------------------------------------------

_ENGINES: dict[str, Engine] = {}


def sqlite_settings(dbapi_connection: Any) -> None:
    """WAL, a busy timeout and ``synchronous=NORMAL`` on one SQLite connection.

    In WAL mode NORMAL syncs at checkpoints instead of at every commit: a committed transaction
    survives the driver being killed (``kill -9``: the data is in the WAL file, the OS writes it);
    only a power loss or OS crash can drop the last commits, and never corrupts the database.
    FULL would fsync on every commit, which dominated the driver's bookkeeping time.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def postgres_settings(dbapi_connection: Any) -> None:
    """``synchronous_commit=off`` for this session, PostgreSQL's counterpart of SQLite's NORMAL,
    and custom query plans.

    A commit returns once it is in the server's WAL buffers rather than flushed to disk. Killing
    the driver (even ``kill -9``) loses nothing committed, since the server holds it; a crash of
    the database server itself can drop the last fraction of a second of commits, as a prefix-
    consistent cut (never a torn transaction), which ``resume`` reconciles like any other stop.
    The flush per commit was about half of the driver's time per trial on PostgreSQL.

    ``plan_cache_mode=force_custom_plan``: psycopg prepares a statement on its 5th execution and
    PostgreSQL then settles on a generic plan, blind to the values (a page's offset, a filter's
    pattern); a leaderboard page at 100k trials went from 18 to 28 ms once it did. Planning
    these small queries anew costs a fraction of a millisecond.
    """
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
        cursor.execute("SET plan_cache_mode TO force_custom_plan")
    dbapi_connection.commit()


def connection_settings(engine: Engine) -> None:
    """Apply :func:`sqlite_settings` or :func:`postgres_settings` to every new connection of
    ``engine`` (Optuna's storage engine too; see ``search.records.studies.rdb_storage``)."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda conn, _record: sqlite_settings(conn))
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", lambda conn, _record: postgres_settings(conn))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that "begin" below decides the lock mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class DatabaseError(ConvnasError):
    """A database URL that is malformed, unsupported, missing or unreachable (the message says)."""


class NoDatabase(DatabaseError):
    """A read-only request for a SQLite file that does not exist (nothing recorded there)."""


SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_URL_HELP = "e.g. sqlite:///convnas.db, ./runs/convnas.db or postgresql://user@host:5432/db"


def shown_url(url: str) -> str:
    """``url`` with any password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def check_url(url: str, *, must_exist: bool = False) -> URL:
    """Parse and vet a resolved database URL before any engine touches it.

    ``must_exist``: the caller only reads (``searches``, ``leaderboard``, ``export``, ``resume``,
    ``cancel``): a SQLite file that is not there is a mistake (a typo, the wrong folder), and
    silently creating an empty database would hide it.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"{url!r} is not a database URL ({_URL_HELP})") from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise DatabaseError(
            f"cannot connect to {shown_url(url)} (unsupported database "
            f"{parsed.get_backend_name()!r}; convnas stores its records in SQLite or PostgreSQL: "
            f"{_URL_HELP})"
        )
    _check_driver(parsed, url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if must_exist and not path.is_file():
            raise NoDatabase(
                f"no convnas database at {path} (nothing has been recorded there yet; check "
                "the database URL)"
            )
        if not path.parent.is_dir():
            raise DatabaseError(
                f"cannot connect to {shown_url(url)} (folder {path.parent} does not exist)"
            )
    return parsed


def _check_driver(parsed: URL, url: str) -> None:
    """The URL's Python driver must be importable (``postgresql+psycopg2://`` names one that is
    not installed: said here, naming the URL, rather than as an ImportError at connect time)."""
    try:
        parsed.get_dialect().import_dbapi()
    except (ImportError, NoSuchModuleError) as exc:
        use = (
            "postgresql://... (psycopg 3, which convnas ships)"
            if parsed.get_backend_name() == "postgresql"
            else "sqlite:///PATH"
        )
        raise DatabaseError(
            f"cannot connect to {shown_url(url)} (its driver {parsed.drivername!r} is not "
            f"available: {exc}; use {use})"
        ) from None


def _reason(exc: BaseException) -> str:
    """The driver's own one-line message (psycopg, sqlite3), without SQLAlchemy's wrapping."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return "; ".join(lines[:2]) or type(orig).__name__


PROBE_ATTEMPTS = 40  # 10 s of retries on a locked fresh SQLite file


def _probe(engine: Engine, url: str) -> None:
    """Open one connection now, so an unreachable server is one clear line, not a traceback."""
    for attempt in range(PROBE_ATTEMPTS):
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "sqlite":
                    conn.exec_driver_sql("PRAGMA schema_version")  # "file is not a database"
            return
        except (DBAPIError, OSError) as exc:
            engine.dispose()
            # A fresh SQLite file another process is switching to WAL answers "locked" without
            # waiting on the busy timeout: wait a little, as that process soon lets go.
            if "database is locked" in str(exc) and attempt + 1 < PROBE_ATTEMPTS:
                time.sleep(0.25)
                continue
            raise DatabaseError(f"cannot connect to {shown_url(url)} ({_reason(exc)})") from None


def create_db_engine(
    url: str | None = None, *, migrate: bool = True, must_exist: bool = False
) -> Engine:
    """A new engine for ``url`` (resolved like ``--db``), with the schema upgraded to head.

    Raises :class:`DatabaseError` for a malformed, unsupported or unreachable URL (and, with
    ``must_exist``, for a SQLite file that does not exist yet).
    """
    resolved = database_url(url)
    check_url(resolved, must_exist=must_exist)
    if resolved.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        if resolved in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
            kwargs["connect_args"]["check_same_thread"] = False
        engine = create_engine(resolved, **kwargs)
        _configure_sqlite(engine)
    else:
        engine = create_engine(resolved, pool_pre_ping=True)
    connection_settings(engine)
    _probe(engine, resolved)
    if migrate:
        from search.records.migrations import upgrade
        from search.records.schema_lock import schema_lock

        try:
            with schema_lock(resolved):
                upgrade(engine)
        except ConvnasError:
            engine.dispose()
            raise
        except DBAPIError as exc:  # e.g. a read-only file or a role without CREATE rights
            engine.dispose()
            raise DatabaseError(
                f"cannot prepare the convnas tables in {shown_url(resolved)} ({_reason(exc)})"
            ) from None
    return engine


def check_writable(engine: Engine) -> None:
    """Refuse a database this process cannot write (a read-only SQLite file or folder, a
    read-only PostgreSQL role or replica) before a search records anything.

    The probe is a write that changes nothing, rolled back: opening a read-only SQLite file
    succeeds and only the first write fails.
    """
    from search.records.migrations import VERSION_TABLE

    try:
        with engine.connect() as conn, conn.begin() as transaction:
            conn.exec_driver_sql(f"DELETE FROM {VERSION_TABLE} WHERE 1 = 0")  # noqa: S608
            transaction.rollback()
    except (DBAPIError, OSError) as exc:
        url = engine.url.render_as_string(hide_password=False)
        raise DatabaseError(
            f"cannot write to {shown_url(url)} ({_reason(exc)}): a search records every trial "
            "there; use a writable database"
        ) from None


def get_engine(url: str | None = None, *, must_exist: bool = False) -> Engine:
    """The process-wide engine for ``url`` (created and migrated on first use)."""
    resolved = database_url(url)
    if resolved not in _ENGINES:
        _ENGINES[resolved] = create_db_engine(resolved, must_exist=must_exist)
    return _ENGINES[resolved]


def dispose_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


# Execution option of read_scope's connections.
READ_ONLY = "convnas_read_only"


@contextmanager
def read_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work that only reads (a leaderboard, a trial, a CSV chunk).

    On SQLite its transaction is deferred, a WAL snapshot: it neither waits for the write lock
    nor holds it. With ``BEGIN IMMEDIATE`` every read took the write lock, so API requests
    queued behind each other and behind the driver's writes (and the driver behind them), in
    SQLite's busy handler, which sleeps up to 100 ms at a time: 4 clients reading 100k-trial
    pages at once waited up to 650-810 ms for one page; deferred, 140-330 ms (2 shared cores).
    A write in this scope fails ("database is locked") instead of waiting: use session_scope.
    """
    with session_scope(engine.execution_options(**{READ_ONLY: True})) as session:
        yield session


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
