"""Bulk SQL: multi-row INSERT .. ON CONFLICT on both backends, into a real table (SourceState's)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from signals.models import SourceState
from utilities.bulk_sql import SQLITE_MAX_PARAMS, AnyOf, append_rows, datetime_adapter, insert_rows

TABLE = SourceState._meta.db_table
COLUMNS = ["source", "breaker", "consecutive_failures", "probe_successes", "polling_token"]
pytestmark = pytest.mark.django_db


def row(source: str, failures: int = 0, token: str = "") -> tuple:
    return (source, "closed", failures, 0, token)


def stored() -> dict[str, tuple[int, str]]:
    return {s.source: (s.consecutive_failures, s.polling_token) for s in SourceState.objects.all()}


def test_new_rows_are_inserted_and_return_the_columns_asked_for():
    returned = insert_rows(TABLE, COLUMNS, [row("a", 1), row("b", 2)], conflict=["source"], returning=["source"])

    assert sorted(returned) == [("a",), ("b",)]
    assert stored() == {"a": (1, ""), "b": (2, "")}


def test_a_row_that_clashes_is_skipped_and_not_returned():
    insert_rows(TABLE, COLUMNS, [row("a", 1)], conflict=["source"])

    returned = insert_rows(TABLE, COLUMNS, [row("a", 9), row("b", 2)], conflict=["source"], returning=["source"])

    assert returned == [("b",)]
    assert stored() == {"a": (1, ""), "b": (2, "")}


def test_update_columns_take_the_new_rows_values_on_a_clash():
    insert_rows(TABLE, COLUMNS, [row("a", 1, "old")], conflict=["source"])

    returned = insert_rows(
        TABLE, COLUMNS, [row("a", 5, "new")], conflict=["source"], update=["polling_token"], returning=["source"]
    )

    assert returned == [("a",)]
    assert stored() == {"a": (1, "new")}  # only the named column changed


def test_update_expressions_may_read_the_stored_row_and_the_new_one():
    insert_rows(TABLE, COLUMNS, [row("a", 1)], conflict=["source"])
    qn = connection.ops.quote_name
    total = f"{qn(TABLE)}.{qn('consecutive_failures')} + excluded.{qn('consecutive_failures')}"

    insert_rows(TABLE, COLUMNS, [row("a", 4)], conflict=["source"], update={"consecutive_failures": total})

    assert stored() == {"a": (5, "")}


def test_two_column_lists_for_one_table_in_one_transaction_each_work():
    """PostgreSQL stages rows in a temp table per connection: each column list gets its own."""
    with transaction.atomic():
        insert_rows(TABLE, COLUMNS, [row("a", 1)], conflict=["source"])
        insert_rows(TABLE, [*COLUMNS, "opened_at"], [(*row("b", 0, "t"), None)], conflict=["source"])

    assert stored() == {"a": (1, ""), "b": (0, "t")}


def test_more_rows_than_one_sqlite_statement_holds_are_all_written_and_returned():
    count = SQLITE_MAX_PARAMS // len(COLUMNS) + 10
    rows = [row(f"s{n:06d}") for n in range(count)]

    returned = insert_rows(TABLE, COLUMNS, rows, conflict=["source"], returning=["source"])

    assert len(returned) == count == SourceState.objects.count()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_rows_still_land():
    """In autocommit, staging and inserting must share one transaction or the stage is emptied between."""
    returned = insert_rows(TABLE, COLUMNS, [row("a", 3)], conflict=["source"], returning=["source"])

    assert returned == [("a",)]
    assert stored() == {"a": (3, "")}


def test_append_rows_inserts_rows_that_cannot_clash():
    append_rows(TABLE, COLUMNS, [row("a"), row("b", 2)])

    assert stored() == {"a": (0, ""), "b": (2, "")}


def test_an_adapted_datetime_reads_back_as_the_same_moment():
    moment = datetime(2026, 11, 20, 12, 30, 15, 123456, tzinfo=UTC)
    to_db = datetime_adapter()

    insert_rows(TABLE, [*COLUMNS, "opened_at"], [(*row("a"), to_db(moment))], conflict=["source"])

    assert SourceState.objects.get().opened_at == moment


def test_bulk_statements_are_not_kept_in_the_debug_query_log():
    """With DEBUG on, Django keeps every statement; a bulk ingest's would be megabytes each."""
    with CaptureQueriesContext(connection) as captured:
        insert_rows(TABLE, COLUMNS, [row("a")], conflict=["source"], returning=["source"])
        append_rows(TABLE, COLUMNS, [row("b")])

    assert len(captured) == 0
    assert SourceState.objects.count() == 2


def test_any_of_finds_what_in_finds_with_one_parameter_on_postgresql():
    append_rows(TABLE, COLUMNS, [row(name) for name in "abcde"])
    pks = sorted(SourceState.objects.values_list("pk", flat=True))
    wanted = [pks[3], pks[0], pks[3], -1]

    with CaptureQueriesContext(connection) as captured:
        found = sorted(SourceState.objects.filter(AnyOf(F("pk"), wanted)).values_list("source", flat=True))

    assert found == sorted(SourceState.objects.filter(pk__in=wanted).values_list("source", flat=True)) == ["a", "d"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in captured[0]["sql"] and "IN (" not in captured[0]["sql"]
    assert list(SourceState.objects.filter(AnyOf(F("source"), []))) == []
    assert list(SourceState.objects.filter(AnyOf(F("source"), [None]))) == []
    # Values the field converts, as ``__in`` would; a subquery stays Django's IN.
    assert SourceState.objects.filter(AnyOf(F("pk"), [str(pks[1])])).get().source == "b"
    subquery = SourceState.objects.filter(source__in=["c", "e"]).values("pk")
    assert sorted(SourceState.objects.filter(AnyOf(F("pk"), subquery)).values_list("source", flat=True)) == ["c", "e"]
