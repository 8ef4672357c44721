"""Multi-row INSERT .. ON CONFLICT for bulk write paths that already hold database-ready rows.

Django's bulk_create spends most of its time preparing each value through
the field machinery, and psycopg spends more parsing a statement with
thousands of placeholders; a bulk path (ingest, the ledger's replay and
import) already has database-ready tuples, so these helpers send them as
they are: COPY into a staging table and one
INSERT .. SELECT on PostgreSQL, executemany or one multi-row VALUES on
SQLite. Callers pass values the backend takes directly (str, int, float,
None, and datetimes through ``datetime_adapter()``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models.lookups import In

# SQLite allows 32766 parameters per statement (3.32+); stay well under.
SQLITE_MAX_PARAMS = 30_000


def in_list(column: str, values: Sequence) -> Iterator[tuple[str, list]]:
    """``column IN values`` as (SQL, params) pieces, each to run on its own: one array parameter on
    PostgreSQL (a statement with a thousand placeholders costs psycopg more to parse than to
    run), chunks under SQLite's parameter limit there."""
    name = connection.ops.quote_name(column)
    if connection.vendor == "postgresql":
        yield f"{name} = ANY(%s)", [list(values)]
        return
    for start in range(0, len(values), SQLITE_MAX_PARAMS):
        chunk = list(values[start : start + SQLITE_MAX_PARAMS])
        yield f"{name} IN ({', '.join(['%s'] * len(chunk))})", chunk


class AnyOf(In):
    """``in_list`` for the ORM: ``filter(AnyOf(F("pk"), ids))`` is ``pk__in=ids`` sent on PostgreSQL
    as ``= ANY(%s)`` with one array parameter, instead of a statement with a placeholder per id.
    Other backends, and anything but a list of plain values (a subquery, expressions), get
    Django's ``IN``."""

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value() or any(hasattr(value, "resolve_expression") for value in self.rhs):
            return super().as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        # Built with an unresolved F(), the lookup could not prepare its values: the field does it
        # here, as it does for ``__in``.
        field = self.lhs.output_field
        values = list(
            dict.fromkeys(
                field.get_db_prep_value(field.get_prep_value(value), connection, prepared=True)
                for value in self.rhs
                if value is not None
            )
        )
        if not values:
            raise EmptyResultSet
        return f"{lhs} = ANY(%s)", (*lhs_params, values)


def datetime_adapter():
    """A function that turns an aware datetime into what this backend stores.

    psycopg takes datetimes as they are; SQLite stores naive UTC text. Picked
    once per batch: Django's adapter does more checks than a hot loop needs.
    """
    if connection.vendor == "postgresql":
        return _identity
    return connection.ops.adapt_datetimefield_value


def _identity(value):
    return value


def _cursor() -> CursorWrapper:
    """A cursor that never logs: with DEBUG on, Django's debug cursor would keep
    every multi-megabyte statement of a bulk ingest in ``connection.queries``."""
    connection.ensure_connection()
    return CursorWrapper(connection.create_cursor(), connection)


def _names(columns: Sequence[str]) -> str:
    return ", ".join(connection.ops.quote_name(c) for c in columns)


def _stage(cursor, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> str:
    """COPY rows into a per-connection staging table shaped like ``table``; return its name.

    The table lives as long as the pooled connection. It is named after the
    target table and the column list, so two callers staging different
    columns of one table each get their own. Needs session-level temp
    tables, so not behind PgBouncer in transaction mode.
    """
    column_sql = _names(columns)
    stage = connection.ops.quote_name(f"stage_{table}_{zlib.crc32(column_sql.encode()):08x}")
    # Emptied by every commit; the DELETE (of nothing, usually) covers a second
    # use in one transaction. TRUNCATE would cost a new file every time.
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
        f"SELECT {column_sql} FROM {connection.ops.quote_name(table)} WITH NO DATA"
    )
    cursor.execute(f"DELETE FROM {stage}")
    # The raw psycopg cursor: map its errors to Django's like every other statement.
    with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {stage} ({column_sql}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return stage


def append_rows(table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """INSERT rows that cannot clash with any (no conflict key): COPY straight into the table on
    PostgreSQL, one prepared statement on SQLite."""
    if not rows:
        return
    with _cursor() as cursor:
        if connection.vendor == "postgresql":
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({_names(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(
            f"INSERT INTO {connection.ops.quote_name(table)} ({_names(columns)}) VALUES ({placeholders})", rows
        )


def insert_rows(
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple],
    *,
    conflict: Sequence[str],
    update: Mapping[str, str] | Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple]:
    """INSERT rows; on a ``conflict`` key clash update ``update`` columns, or skip the row.

    ``update`` names columns that take the new row's value, or maps columns
    to SQL expressions (which may use ``excluded.<column>`` and the table's
    own columns).

    Returns the ``returning`` columns of the rows inserted or updated (a
    skipped row returns nothing), so callers learn new primary keys without
    another query. Callers sort ``rows`` by the conflict key: concurrent
    writers then lock rows in the same order and cannot deadlock.
    """
    if not rows:
        return []
    # Outside a transaction the staging table would be emptied (ON COMMIT)
    # between the COPY and the INSERT; inside one this adds nothing.
    with transaction.atomic(savepoint=False):
        return _insert_rows(table, columns, rows, conflict=conflict, update=update, returning=returning)


def _insert_rows(table, columns, rows, *, conflict, update, returning) -> list[tuple]:
    qn = connection.ops.quote_name
    target = f"{qn(table)} ({_names(columns)})"
    tail = f"ON CONFLICT ({_names(conflict)}) "
    if update:
        if not isinstance(update, Mapping):
            update = {c: f"excluded.{qn(c)}" for c in update}
        tail += "DO UPDATE SET " + ", ".join(f"{qn(c)} = {expression}" for c, expression in update.items())
    else:
        tail += "DO NOTHING"
    if returning:
        tail += f" RETURNING {_names(returning)}"
    with _cursor() as cursor:
        if connection.vendor == "postgresql":
            stage = _stage(cursor, table, columns, rows)
            cursor.execute(f"INSERT INTO {target} SELECT {_names(columns)} FROM {stage} {tail}")
            return cursor.fetchall() if returning else []
        if not returning:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {target} VALUES ({placeholders}) {tail}", rows)
            return []
        returned: list[tuple] = []
        row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
        per_statement = max(1, SQLITE_MAX_PARAMS // len(columns))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                f"INSERT INTO {target} VALUES {', '.join([row_sql] * len(chunk))} {tail}",
                [value for row in chunk for value in row],
            )
            returned.extend(cursor.fetchall())
        return returned
