"""The contributions store: digits people teach the judge, append-only, durable before acknowledged, erasable by their giver.

One table, the same SQLAlchemy Core code on SQLite (the default: WAL mode, `synchronous=FULL`, a file under
the project's data folder) and on PostgreSQL (`contributions.store_url`). What a row holds: the 28x28 digit
(784 bytes, white ink on black), its label, what the judge read and with which champion version, a time,
the SHA-256 of the contributor's token (never the token itself: a leaked store cannot be used to erase
someone's digits), an optional writer id (a dataset's writer), and the image's SHA-256.

- **Durable before acknowledged.** `add` returns only after the transaction committed (SQLite: WAL with
  synchronous=FULL syncs the log on commit); a crash before that stores nothing of the request.
- **Once per contributor.** The same image from the same token is stored once (a unique key, and a check
  inside the transaction that reports it as a duplicate).
- **Rate limits.** Accepted digits per token and in all over the last hour, counted inside the same
  serialised write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so
  concurrent requests cannot both slip under a limit.
- **Erase.** `erase(token)` deletes the token's rows (or the ids given); the next snapshot no longer holds them.

Screening (oekaki/data/screening.py) happens before `add`; quarantine when the snapshot is taken
(oekaki/data/snapshot.py), so nothing here judges a digit.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oekaki.core.errors import ConfigError

IMAGE_BYTES = 28 * 28
PG_LOCK_KEY = 0x6F656B616B69  # "oekaki": the advisory lock that serialises writers on PostgreSQL
WRITE = "oekaki.write"  # a connection's info flag: its next transaction writes (SQLite: BEGIN IMMEDIATE)
_ENGINES: dict[str, object] = {}
_ENGINES_LOCK = threading.Lock()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def image_sha(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()


@dataclass(frozen=True)
class Item:
    """One digit as it comes in, screened: (28, 28) uint8, its label, the judge's reading (or None)."""

    image: np.ndarray
    label: int
    judge_label: int | None = None
    judge_confidence: float | None = None
    model_version: str | None = None
    writer: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one item: stored (its id), or refused with a status and a reason."""

    id: int | None
    status: int  # 201 stored, 409 duplicate, 429 over a rate limit
    reason: str | None = None


def _tables():
    import sqlalchemy as sa

    meta = sa.MetaData()
    table = sa.Table(
        "contributions",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_sha", sa.String(64), nullable=False, index=True),
        sa.Column("writer", sa.String(64), nullable=True),
        sa.Column("image_sha", sa.String(64), nullable=False),
        sa.Column("image", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.SmallInteger, nullable=False),
        sa.Column("judge_label", sa.SmallInteger, nullable=True),
        sa.Column("judge_confidence", sa.Float, nullable=True),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("created", sa.Float, nullable=False, index=True),  # seconds since the epoch (UTC)
        sa.UniqueConstraint("token_sha", "image_sha", name="one_image_per_token"),
    )
    return meta, table


def store_url(url: str | None, default_path: Path) -> str:
    """The SQLAlchemy URL of the store: `url`, or SQLite at `default_path`."""
    if url:
        if not url.startswith(("sqlite:", "postgresql")):
            shown = re.sub(r"//[^/@]*@", "//***@", url)  # never a password in an error message
            raise ConfigError(f"contributions.store_url = {shown!r}: expected empty (SQLite), sqlite:///... or postgresql+psycopg2://...")
        return url
    return f"sqlite:///{default_path}"


def _engine(url: str):
    import sqlalchemy as sa
    from sqlalchemy import event

    with _ENGINES_LOCK:
        if url in _ENGINES:
            return _ENGINES[url]
        if url.startswith("sqlite:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _connect(dbapi, _record):
                dbapi.isolation_level = None  # the driver leaves transactions to us: BEGIN IMMEDIATE below
                for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=60000"):
                    dbapi.execute(f"PRAGMA {pragma}")

            @event.listens_for(engine, "begin")
            def _begin(conn):  # a writer takes the write lock at its start (no upgrade deadlock); a reader never waits
                conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.pop(WRITE, False) else "BEGIN")
        else:
            engine = sa.create_engine(url, pool_pre_ping=True)
        meta, _ = _tables()
        meta.create_all(engine)
        _ENGINES[url] = engine
        return engine


class Store:
    """The contributions store at `url` (see the module's docstring)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _engine(url)
        _, self.table = _tables()

    @classmethod
    def of_project(cls, store_url_param: str | None, default_path: Path) -> Store:
        return cls(store_url(store_url_param, default_path))

    @contextlib.contextmanager
    def _writing(self):
        """A write transaction, one writer at a time (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock)."""
        with self.engine.connect() as conn:
            conn.info[WRITE] = True
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
                yield conn

    def add(self, token: str, items: Sequence[Item], per_token_hour: int, total_hour: int, now: float | None = None) -> list[Outcome]:
        """Store the items of one request in one transaction; returns an outcome per item, in order."""
        import sqlalchemy as sa

        t, now = self.table, time.time() if now is None else now
        who = token_hash(token)
        shas = [image_sha(i.image) for i in items]
        with self._writing() as conn:
            since = now - 3600.0
            mine = conn.execute(sa.select(sa.func.count()).where(t.c.token_sha == who, t.c.created > since)).scalar_one()
            everyone = conn.execute(sa.select(sa.func.count()).where(t.c.created > since)).scalar_one()
            known = set()
            for start in range(0, len(shas), 500):
                chunk = shas[start : start + 500]
                known |= set(conn.execute(sa.select(t.c.image_sha).where(t.c.token_sha == who, t.c.image_sha.in_(chunk))).scalars())
            outcomes: list[Outcome | None] = []
            rows = []
            for item, sha in zip(items, shas, strict=True):
                if sha in known:
                    outcomes.append(Outcome(None, 409, "a duplicate: this contributor already taught this very image"))
                elif mine >= per_token_hour:
                    outcomes.append(Outcome(None, 429, f"over {per_token_hour} digits from one contributor in an hour: try later"))
                elif everyone >= total_hour:
                    outcomes.append(Outcome(None, 429, f"over {total_hour} digits from everyone in an hour: try later"))
                else:
                    known.add(sha)
                    mine, everyone = mine + 1, everyone + 1
                    outcomes.append(None)
                    rows.append(
                        {
                            "token_sha": who, "writer": item.writer, "image_sha": sha,
                            "image": np.ascontiguousarray(item.image, dtype=np.uint8).tobytes(), "label": int(item.label),
                            "judge_label": item.judge_label, "judge_confidence": item.judge_confidence,
                            "model_version": item.model_version, "created": now,
                        }
                    )  # fmt: skip
            ids = []
            for row in rows:  # one statement per row: its id comes back on both dialects
                ids.append(conn.execute(t.insert().values(**row).returning(t.c.id)).scalar_one())
        it = iter(ids)
        return [o if o is not None else Outcome(next(it), 201) for o in outcomes]

    def list(self, token: str) -> list[dict]:
        """The token's contributions, oldest first (no image bytes: the id, label, reading and time)."""
        import sqlalchemy as sa

        t = self.table
        cols = (t.c.id, t.c.label, t.c.judge_label, t.c.judge_confidence, t.c.model_version, t.c.created, t.c.writer)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*cols).where(t.c.token_sha == token_hash(token)).order_by(t.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def erase(self, token: str, ids: Sequence[int] | None = None) -> int:
        """Delete the token's contributions (all, or those of `ids`); returns how many were deleted."""
        t = self.table
        where = t.c.token_sha == token_hash(token)
        if ids is not None:
            where = where & t.c.id.in_([int(i) for i in ids])
        with self._writing() as conn:
            return conn.execute(t.delete().where(where)).rowcount

    def export(self) -> dict[str, np.ndarray]:
        """Every stored contribution as arrays, in id order: one consistent read (a single SELECT)."""
        import sqlalchemy as sa

        t = self.table
        cols = (t.c.id, t.c.token_sha, t.c.writer, t.c.image, t.c.label, t.c.judge_label, t.c.judge_confidence, t.c.image_sha)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*cols).order_by(t.c.id)).all()
        n = len(rows)
        images = np.frombuffer(b"".join(r.image for r in rows), dtype=np.uint8).reshape(n, 28, 28) if n else np.zeros((0, 28, 28), np.uint8)
        return {
            "ids": np.array([r.id for r in rows], dtype=np.int64),
            "token_sha": np.array([r.token_sha for r in rows], dtype="<U64"),
            "writer": np.array([r.writer or "" for r in rows], dtype="<U64"),
            "images": images.copy(),
            "labels": np.array([r.label for r in rows], dtype=np.int64),
            "judge_label": np.array([-1 if r.judge_label is None else r.judge_label for r in rows], dtype=np.int64),
            "judge_confidence": np.array([0.0 if r.judge_confidence is None else r.judge_confidence for r in rows], dtype=np.float32),
            "image_sha": np.array([r.image_sha for r in rows], dtype="<U64"),
        }

    def count(self) -> int:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
