import argparse
from datetime import UTC, datetime
from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from signals.services.ingest import DEFAULT_BATCH_SIZE, signals_ingest
from signals.sources.polymarket import MAX_YEAR, MIN_YEAR
from signals.sources.registry import SOURCES

# bench/ingest.py: past the default of 2,000 a batch gains nothing. The bound keeps a slip of the
# keyboard (an extra digit, or ten) from being taken literally, where islice() refused it with a traceback.
MAX_BATCH_SIZE = 100_000


def batch_size_argument(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(
            f"{text!r}: records per transaction, a whole number from 1 to {MAX_BATCH_SIZE:,}"
        )
    return value


def fetch_time(text: str) -> datetime:
    """``--fetched-at``, in UTC when no offset is given, within the years the parsers accept of a
    record's own times: a record without one is observed at its fetch time, and 0001-01-01 ended in
    an OverflowError where ingest looks back over the market's history."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not an ISO 8601 time (2026-11-20T08:00:00+00:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not MIN_YEAR <= moment.astimezone(UTC).year <= MAX_YEAR:
        raise argparse.ArgumentTypeError(f"{text!r}: a fetch time between the years {MIN_YEAR} and {MAX_YEAR}")
    return moment


class Command(BaseCommand):
    help = "Ingest a saved source reply (JSON) into signals and rejections: the offline way to load real data."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="a reply saved from the source's API")
        parser.add_argument("--source", required=True, choices=sorted(SOURCES), help="which source sent the reply")
        parser.add_argument(
            "--fetched-at",
            type=fetch_time,
            help=f"when the reply was fetched (ISO 8601, UTC unless it says otherwise; {MIN_YEAR} to {MAX_YEAR}); "
            "default: the file's modification time",
        )
        parser.add_argument(
            "--batch-size",
            type=batch_size_argument,
            default=DEFAULT_BATCH_SIZE,
            help=f"records per transaction, 1 to {MAX_BATCH_SIZE:,} (default {DEFAULT_BATCH_SIZE:,})",
        )

    def handle(self, *args, path, source, fetched_at, batch_size, **options):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CommandError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        if fetched_at is None:
            fetched_at = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        try:
            records = SOURCES[source].parser(payload, fetched_at=fetched_at)
        except ValueError as exc:
            # The parser's words name the source it expected, what is wrong and how the reply begins.
            raise CommandError(f"{path}: {exc}") from exc

        with tqdm(total=len(records), unit="record", desc=f"ingest {path.name}", disable=None) as bar:
            summary = signals_ingest(records=records, batch_size=batch_size, on_batch=lambda s: bar.update(s.fetched))

        self.stdout.write(
            f"{path}: {summary.fetched} records -> {summary.created} new signals, "
            f"{summary.unchanged} unchanged, {summary.rejected} rejected"
        )
        for status, count in sorted(summary.rejected_by_status.items(), key=lambda kv: (-kv[1], kv[0])):
            self.stdout.write(f"  {status}: {count}")
