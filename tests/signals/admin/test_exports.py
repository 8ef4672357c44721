"""Exports of signals from the admin: the filtered list or the selected rows, as CSV or JSON Lines."""

import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, connections
from django.http import StreamingHttpResponse
from django.utils import timezone

from signals.admin import exports
from signals.admin.exports import CSV_COLUMNS
from signals.models import Rejection, Signal
from tests.signals.admin.bulk import bulk_signals, list_order, staff_user
from tests.support.factories import RejectionFactory
from tests.support.processes import admin_connection

pytestmark = pytest.mark.django_db

LIST = "/admin/signals/signal/"
EXPORT = "/admin/signals/signal/export.{}"


@pytest.fixture
def exporter(client, django_user_model):
    """An analyst who may view and export signals, and nothing else."""
    client.force_login(staff_user(django_user_model, "view_signal", "export_signal"))
    return client


@pytest.fixture
def viewer(client, django_user_model):
    client.force_login(staff_user(django_user_model, "view_signal", username="viewer"))
    return client


def body(response) -> bytes:
    assert isinstance(response, StreamingHttpResponse), type(response)
    return b"".join(response.streaming_content)


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body(response).decode("utf-8-sig"), newline="")))


def stored_contracts(signal_ids) -> dict[str, str]:
    """Each signal's contract column as the database holds it (no ORM field in between)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT signal_id, contract FROM signals_signal")
        return {signal_id: text for signal_id, text in cursor.fetchall() if signal_id in signal_ids}


def test_the_csv_export_is_the_filtered_and_searched_list_every_page_in_its_order(exporter):
    bulk_signals(150)  # three pages of the list
    query = "?source__exact=polymarket&confidence_level__exact=HIGH&q=hormuz"

    response = exporter.get(EXPORT.format("csv") + query)

    rows = csv_rows(response)
    expected = Signal.objects.filter(source="polymarket", confidence_level="HIGH", title__icontains="hormuz")
    assert rows[0] == [header for header, _ in CSV_COLUMNS]
    assert [row[0] for row in rows[1:]] == list_order(expected)
    assert len(rows) - 1 == 9
    first = expected.order_by("-generated_at", "-id").first()
    assert rows[1] == [
        first.signal_id,
        first.title,
        "polymarket",
        first.signal_type,
        first.status,
        first.category,
        "HIGH",
        str(first.probability),
        str(first.confidence),
        first.observed_at.isoformat(),
        first.generated_at.isoformat(),
        first.source_event_id,
        first.trace_id,
        first.ruleset_version,
    ]
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="signals_{today}_confidence_level=HIGH,search=hormuz,source=polymarket.csv"'
    )


def test_the_export_applies_the_date_drill_down_and_the_id_routing(exporter):
    bulk_signals(12)
    Signal.objects.filter(signal_id__in=list_order()[-4:]).update(generated_at=datetime(2025, 12, 30, tzinfo=UTC))
    target = Signal.objects.order_by("id")[2]

    in_2025 = csv_rows(exporter.get(EXPORT.format("csv") + "?generated_at__year=2025"))
    by_trace = csv_rows(exporter.get(EXPORT.format("csv"), {"q": target.trace_id}))

    assert [row[0] for row in in_2025[1:]] == list_order()[-4:]
    assert [row[0] for row in by_trace[1:]] == [target.signal_id]


@pytest.mark.parametrize("title", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tindented", "\rreturned"])
def test_a_cell_a_spreadsheet_would_read_as_a_formula_is_quoted(exporter, title):
    bulk_signals(2, title=lambda n: title if n == 0 else "Will the Suez Canal close?")

    rows = csv_rows(exporter.get(EXPORT.format("csv")))

    titles = {row[0]: row[1] for row in rows[1:]}
    assert titles == {"OMEN-000000000001": "'" + title, "OMEN-000000000002": "Will the Suez Canal close?"}


def test_the_json_lines_export_is_each_stored_contract_byte_for_byte(exporter):
    bulk_signals(30)

    response = exporter.get(EXPORT.format("jsonl") + "?source__exact=newsapi")

    lines = body(response).decode().split("\n")
    expected = list_order(Signal.objects.filter(source="newsapi"))
    stored = stored_contracts(set(expected))
    assert lines[-1] == ""  # every line ends with a newline
    assert lines[:-1] == [stored[signal_id] for signal_id in expected]
    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    assert response["Content-Disposition"].endswith('_source=newsapi.jsonl"')


@pytest.mark.parametrize(
    ("action", "file_format"), [("export_selected_csv", "csv"), ("export_selected_jsonl", "jsonl")]
)
def test_the_actions_export_the_selected_signals(exporter, action, file_format):
    bulk_signals(10)
    chosen = list(Signal.objects.order_by("id").values_list("pk", "signal_id")[2:5])

    response = exporter.post(LIST, {"action": action, "_selected_action": [pk for pk, _ in chosen]})

    content = body(response).decode("utf-8-sig")
    exported = (
        [row[0] for row in list(csv.reader(io.StringIO(content, newline="")))[1:]]
        if file_format == "csv"
        else [line.split('"signal_id":"')[1].split('"')[0] for line in content.splitlines()]
    )
    assert sorted(exported) == sorted(signal_id for _, signal_id in chosen)
    assert response["Content-Disposition"].endswith(f'_selected.{file_format}"')


@pytest.mark.parametrize("value", ["abc", "", "1.5", "99999999999999999999", "-9223372036854775809"])
def test_a_selection_that_is_no_row_is_refused_with_a_message(exporter, value):
    bulk_signals(3)
    first = Signal.objects.order_by("id").first().pk

    response = exporter.post(
        LIST + "?source__exact=polymarket", {"action": "export_selected_csv", "_selected_action": [first, value]}
    )

    assert not isinstance(response, StreamingHttpResponse)
    assert (response.status_code, response["Location"]) == (302, LIST + "?source__exact=polymarket")
    listed = exporter.get(response["Location"])
    assert [m.message for m in listed.context["messages"]] == [
        f"Not rows of this list: {value!r}. Select rows by their boxes."
    ]


def test_the_list_offers_exports_that_keep_its_filters_and_search(exporter):
    bulk_signals(3)

    page = exporter.get(LIST + "?source__exact=polymarket&q=hormuz").content.decode()

    assert 'href="/admin/signals/signal/export.csv?q=hormuz&amp;source__exact=polymarket"' in page
    assert 'href="/admin/signals/signal/export.jsonl?q=hormuz&amp;source__exact=polymarket"' in page
    assert 'value="export_selected_csv"' in page and 'value="export_selected_jsonl"' in page


def test_a_user_without_the_export_permission_sees_no_export_and_gets_403(viewer):
    bulk_signals(3)

    page = viewer.get(LIST)
    csv_export = viewer.get(EXPORT.format("csv"))
    jsonl_export = viewer.get(EXPORT.format("jsonl"))
    posted = viewer.post(LIST, {"action": "export_selected_csv", "_selected_action": [Signal.objects.first().pk]})

    content = page.content.decode()
    assert page.status_code == 200 and "export" not in content.lower()
    assert (csv_export.status_code, jsonl_export.status_code) == (403, 403)
    assert not isinstance(posted, StreamingHttpResponse) and "text/csv" not in posted["Content-Type"]


def test_an_unknown_format_is_404(exporter):
    assert exporter.get(EXPORT.format("xlsx")).status_code == 404


def test_a_filter_the_list_refuses_sends_the_export_back_to_the_list(exporter):
    response = exporter.get(EXPORT.format("csv") + "?probability__gt=high")

    assert (response.status_code, response["Location"]) == (302, f"{LIST}?e=1")


def test_the_export_streams_chunk_by_chunk_from_an_iterator(exporter, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_ROWS", 4)
    bulk_signals(10)

    response = exporter.get(EXPORT.format("csv"))

    assert response.streaming
    chunks = list(response.streaming_content)
    assert len(chunks) == 1 + 3  # the header, then 4 + 4 + 2 rows


@pytest.mark.django_db(transaction=True)
def test_the_database_takes_writes_while_an_export_streams(exporter, monkeypatch):
    """An export only reads: ingest, the ledger and the retention sweep write on meanwhile. On
    SQLite a transaction begins IMMEDIATE (settings), taking the write lock; an export holding one
    for as long as it streams (a slow client: minutes) made every write fail "database is locked"."""
    monkeypatch.setattr(exports, "CHUNK_ROWS", 4)
    bulk_signals(10)
    content = iter(exporter.get(EXPORT.format("csv")).streaming_content)
    streamed = [next(content), next(content)]  # the header and the first rows: the export is reading

    def write():
        try:
            RejectionFactory()
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=1) as writer:
        writer.submit(write).result(timeout=30)

    rows = list(csv.reader(io.StringIO(b"".join([*streamed, *content]).decode("utf-8-sig"), newline="")))
    assert [row[0] for row in rows[1:]] == list_order()
    assert Rejection.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_export_whose_client_stops_reading_ends_its_transaction_after_the_idle_limit(exporter, monkeypatch):
    """A client that stays connected but stops reading held its export's transaction (and the
    snapshot that keeps vacuum from the rows deleted since) for as long as it stayed: a threaded
    worker waits on the socket for ever."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("SQLite's export reads without a transaction")
    monkeypatch.setattr(exports, "CHUNK_ROWS", 4)
    monkeypatch.setattr(exports, "IDLE_SECONDS", 1)
    bulk_signals(10)
    content = iter(exporter.get(EXPORT.format("csv")).streaming_content)
    next(content), next(content)  # the header and the first rows: the export's transaction is open
    pid = connections["default"].connection.info.backend_pid

    def idle_in_transaction() -> bool:
        with admin_connection(connections["default"].settings_dict) as other:
            state = other.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        return state is not None and state[0] == "idle in transaction"

    assert idle_in_transaction()
    time.sleep(3)  # the client reads nothing

    assert not idle_in_transaction()
    with pytest.raises(DatabaseError):  # the server ended the session
        list(content)  # the rest of the export is not sent: the download ends short
    connections["default"].close()
