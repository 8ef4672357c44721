"""Signals streamed out of the admin as CSV or JSON Lines, in constant memory whatever their number.

Rows come from ``.values_list(...).iterator()``: on PostgreSQL a server-side cursor, so the
process holds one chunk of rows at a time, and the response is a StreamingHttpResponse that
writes each chunk as it is read. On PostgreSQL the reading runs in one transaction: in autocommit Django
declares the cursor WITH HOLD, which PostgreSQL materialises whole when the declaring
transaction ends, before the first row comes back (24 s and a server-side copy of every row for
a million contracts, bench/README.md); inside a transaction the cursor is read as the export goes.
"""

import csv
import re
from datetime import datetime
from itertools import islice

from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.db import connections, transaction
from django.db.models import ExpressionWrapper, F, TextField
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

# Rows read from the database, and written out, at a time.
CHUNK_ROWS = 2000
# A PostgreSQL export's transaction waits, idle, while the client reads what was sent; a client
# that stays connected but reads nothing more is given this long before the server ends it (the
# download ends short). Without it, a threaded worker waited on the socket for as long as the
# client stayed, holding the transaction and its snapshot, which keeps vacuum from the rows
# deleted since.
IDLE_SECONDS = 300

# (header, column): readable names, the columns an analyst filters and sorts a sheet by.
CSV_COLUMNS = [
    ("signal id", "signal_id"),
    ("title", "title"),
    ("source", "source"),
    ("type", "signal_type"),
    ("status", "status"),
    ("category", "category"),
    ("confidence level", "confidence_level"),
    ("probability", "probability"),
    ("confidence", "confidence"),
    ("observed at", "observed_at"),
    ("generated at", "generated_at"),
    ("source event id", "source_event_id"),
    ("trace id", "trace_id"),
    ("ruleset version", "ruleset_version"),
]

# A spreadsheet reads a cell starting with one of these as a formula (or, tab and CR, as the
# start of one): a title from a source could run code on the analyst's machine. A leading quote
# makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# The contract as stored, canonical JSON text: read as text, not through ContractField, which
# would parse it (and writing it again could change a byte).
STORED_CONTRACT = ExpressionWrapper(F("contract"), output_field=TextField())

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
}


def export_response(file_format: str, queryset, name: str) -> StreamingHttpResponse:
    """The signals of ``queryset``, in its order, as a download named ``<name>.<file_format>``."""
    chunks = csv_chunks(queryset) if file_format == "csv" else jsonl_chunks(queryset)
    return StreamingHttpResponse(
        _in_one_transaction(chunks, queryset.db),
        content_type=FORMATS[file_format],
        headers={"Content-Disposition": content_disposition_header(True, f"{name}.{file_format}")},
    )


def _in_one_transaction(chunks, using):
    """``chunks`` made inside one transaction, begun at the first chunk and ended after the last
    (or when the client goes away: the server closes the generator).

    On PostgreSQL only. SQLite's transactions begin IMMEDIATE here (settings: they take the write
    lock at BEGIN), so one would stop every write (ingest, the ledger, the retention sweep) for as
    long as the export streams; its one SELECT reads one snapshot (WAL) without it, and the reading
    ends with the generator, whose cursor the iterator closes.
    """
    if connections[using].vendor != "postgresql":
        yield from chunks
        return
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, true)", [f"{IDLE_SECONDS}s"])
        yield from chunks


def csv_chunks(queryset):
    writer = csv.writer(_Returned())
    # The byte order mark tells a spreadsheet the file is UTF-8 (Excel reads it as ANSI otherwise).
    yield "\ufeff" + writer.writerow([header for header, _ in CSV_COLUMNS])
    rows = queryset.values_list(*(column for _, column in CSV_COLUMNS)).iterator(chunk_size=CHUNK_ROWS)
    for chunk in _chunks(rows):
        yield "".join(writer.writerow([csv_cell(value) for value in row]) for row in chunk)


def csv_cell(value):
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def jsonl_chunks(queryset):
    """One stored contract a line, byte for byte: canonical JSON holds no raw newline."""
    contracts = queryset.values_list(STORED_CONTRACT, flat=True).iterator(chunk_size=CHUNK_ROWS)
    for chunk in _chunks(contracts):
        yield "".join(f"{contract}\n" for contract in chunk)


def export_name(summary: str) -> str:
    """``signals_<date>_<summary>``, e.g. ``signals_2026-12-07_source=polymarket,search=Hormuz``."""
    return f"signals_{timezone.localdate():%Y-%m-%d}_{summary}"


def filters_summary(filter_params: dict[str, list[str]]) -> str:
    """A changelist's filters and search, short and safe in a file name: ``all`` when there are none."""
    parts = []
    for key, values in sorted(filter_params.items()):
        if key == ORDER_VAR:
            continue
        name = "search" if key == SEARCH_VAR else key.removesuffix("__exact").replace("__", ".")
        parts.append(f"{_filename_safe(name)}={_filename_safe('+'.join(values))}")
    return ",".join(parts)[:120] or "all"


def _filename_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-")


def _chunks(rows):
    rows = iter(rows)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield chunk


class _Returned:
    """A file for csv.writer whose write returns the line: the writer formats, the response streams."""

    def write(self, text):
        return text
