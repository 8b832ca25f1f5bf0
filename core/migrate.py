"""Alembic, driven from code: `houqin db upgrade` and the test fixtures run the same migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


# Search index objects made by migration 0004 in raw SQL, outside the models: autogenerate and the
# model-vs-database test must leave them alone.
UNMODELLED_TABLES = ("feedback_fts",)
UNMODELLED_COLUMNS = {("feedback", "search_vector")}
UNMODELLED_INDEXES = {"ix_feedback_search_vector"}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's include_object hook: skip the unmodelled search index objects."""
    if type_ == "table" and name and name.startswith(UNMODELLED_TABLES):
        return False
    if type_ == "column" and (getattr(getattr(obj, "table", None), "name", None), name) in UNMODELLED_COLUMNS:
        return False
    return not (type_ == "index" and name in UNMODELLED_INDEXES)


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at houqin's migrations and at `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)
