"""Engine creation and schema upgrades.

SQLite gets WAL and a busy timeout so the scheduler and event handlers can
write while a reader holds a snapshot. The schema is always brought to the
Alembic head, never created ad hoc, so a team upgrading keeps its history.
Alembic itself (about 10 MB resident, with Mako) is imported only when the
database is behind: an ordinary restart compares the stored revision with the
heads read from the migration files and goes on.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revisions(versions: Path = MIGRATIONS_DIR / "versions") -> frozenset[str]:
    """The heads of the migration graph, read from each file's `revision` and
    `down_revision` assignments (what Alembic reads too) without importing Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            # `revision = "0001"` or, in Alembic's newer template, `revision: str = "0001"`.
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target = node.target
            else:
                continue
            name = target.id if isinstance(target, ast.Name) else ""
            if name not in ("revision", "down_revision") or node.value is None:
                continue
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return frozenset()  # not a plain literal: let Alembic decide
            values = value if isinstance(value, tuple | list) else (value,)
            (revisions if name == "revision" else parents).update(str(v) for v in values if v)
    return frozenset(revisions - parents)


def at_head(engine: Engine) -> bool:
    """True when the database's alembic_version names exactly the migration heads."""
    heads = head_revisions()
    if not heads:
        return False
    try:
        with engine.connect() as conn:
            stored = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except SQLAlchemyError:
        return False  # a new database (no alembic_version yet)
    return stored == heads


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    if at_head(engine):
        return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
