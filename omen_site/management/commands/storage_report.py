import json
import os

from django.conf import settings
from django.core.management.base import BaseCommand

from ledger.public import ledger_summary
from omen_site.storage import describe_storage
from signals.public import signal_counts_by_source_and_status, signal_time_range, storage_totals


def _ledger_facts(ledger_dir):
    if not ledger_dir.exists():
        return {"exists": False, "writable": False, "files": 0, "bytes": 0}
    files = [p for p in ledger_dir.rglob("*") if p.is_file()]
    return {
        "exists": True,
        "writable": os.access(ledger_dir, os.W_OK | os.X_OK),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
    }


class Command(BaseCommand):
    help = "Say where OMEN keeps its data, whether it survives a restart, and how much there is."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args, **options):
        storage = describe_storage()
        time_range = signal_time_range()
        report = {
            "mode": storage.mode,
            "database_engine": storage.database_engine,
            "database": storage.database,
            "persists_across_restarts": storage.persistent,
            "broker": storage.broker,
            "cache": storage.cache,
            "ledger_dir": storage.ledger_dir,
            "ledger": _ledger_facts(settings.LEDGER_DIR) | ledger_summary(),
            "totals": storage_totals(),
            "signals_by_source_and_status": signal_counts_by_source_and_status(),
            "oldest_signal_at": time_range["oldest"].isoformat() if time_range["oldest"] else None,
            "newest_signal_at": time_range["newest"].isoformat() if time_range["newest"] else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        w = self.stdout.write
        w(f"Mode:        {report['mode']}")
        w(f"Database:    {report['database']}")
        w(
            "Persistence: "
            + (
                "yes - signals are on disk and survive a restart"
                if report["persists_across_restarts"]
                else "NO - this database lives in memory and is lost when the process exits"
            )
        )
        w(f"Broker:      {report['broker']}")
        w(f"Cache:       {report['cache']}")
        ledger = report["ledger"]
        w(
            f"Ledger dir:  {report['ledger_dir']} "
            f"({'writable' if ledger['writable'] else 'NOT writable'}; "
            f"{ledger['files']} files, {ledger['bytes']} bytes)"
        )
        w(
            f"Ledger:      {ledger['frames_written']} frames written, ends at {ledger['end'] or '-'}, "
            f"{ledger['saves_waiting']} saves waiting for the writer"
        )
        w(f"Writer:      {ledger['writer']['summary']}")
        for tier, figures in sorted(ledger["sealed_partitions_by_tier"].items()):
            w(f"  {tier:<5} {figures['partitions']} sealed partitions, {figures['frames']} frames")
        totals = report["totals"]
        w(
            f"Totals:      {totals['signals']} signals, {totals['source_events']} source events, "
            f"{totals['rejections']} rejections"
        )
        w(f"Oldest:      {report['oldest_signal_at'] or '-'}")
        w(f"Newest:      {report['newest_signal_at'] or '-'}")
        w("Signals by source and status:")
        if not report["signals_by_source_and_status"]:
            w("  (none)")
        for row in report["signals_by_source_and_status"]:
            w(f"  {row['source']:<12} {row['status']:<12} {row['count']}")
