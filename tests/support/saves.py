"""A write by another process landing while an edit is between reading a row and writing it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def meanwhile_before_the_next_update(model, write: Callable[[], object]) -> Iterator[None]:
    """Run ``write`` once, just before the next UPDATE of ``model``'s table goes to the database:
    after the edit read the row, before its own write, where a worker's update lands in
    production. The test stays in one thread and one database transaction, so it runs the same on
    SQLite and PostgreSQL."""
    table = model._meta.db_table
    ran = []

    def write_first(execute, sql, params, many, context):
        if not ran and sql.lstrip().upper().startswith("UPDATE") and table in sql.split("SET", 1)[0]:
            ran.append(True)
            write()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(write_first):
        yield
    assert ran, f"no {model.__name__} was updated"
