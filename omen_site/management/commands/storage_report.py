import json

from django.core.management.base import BaseCommand

from ledger.models import Tier
from omen_site.storage import storage_report


class Command(BaseCommand):
    help = "Say where OMEN keeps its data, whether it survives a restart, and how much there is."

    def add_arguments(self, parser):
        parser.add_argument(
            "--json",
            action="store_true",
            help='print one JSON object instead of text; refused or failed, {"error", "message", "exit_status"} '
            "(omen_site/startup.py)",
        )

    def handle(self, *args, **options):
        report = storage_report()
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
        by_tier = ledger["sealed_partitions_by_tier"]
        for tier in [tier for tier in Tier.values if tier in by_tier]:  # in the order partitions age
            figures = by_tier[tier]
            w(f"  {tier:<9} {figures['partitions']} sealed partitions, {figures['frames']} frames")
        self._backups(report["backups"])
        self._retention(report["retention"])
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

    def _backups(self, backups: dict) -> None:
        def line(backup: dict) -> str:
            proven = f"proven {backup['proven_at'][:16]}" if backup["proven_at"] else "not proven"
            return (
                f"{backup['started_at'][:16]} ({backup['age_hours']:g} h ago), {backup['status']}, {proven}, "
                f"{backup['bytes']} bytes, {backup['path'] or 'no directory'}"
            )

        newest, proven = backups["newest"], backups["newest_proven"]
        self.stdout.write(f"Backups:     {backups['problem'] or 'the newest backup is proven'}")
        if newest is not None:
            self.stdout.write(f"  newest         {line(newest)}")
        if proven is not None and proven["id"] != newest["id"]:
            self.stdout.write(f"  newest proven  {line(proven)}")

    def _retention(self, policies: list[dict]) -> None:
        self.stdout.write("Retention:   keeps, oldest record, past its keep-for now (a hold may keep some), last run")
        for row in policies:
            run = row["last_run"]
            last = "never swept"
            if run is not None:
                last = f"{run['started_at'][:16]} {run['status']}, {run['deleted']} deleted"
            keeps = f"{row['keep_for_days']:g} d" + (f", {row['max_per_key']}/market" if row["max_per_key"] else "")
            self.stdout.write(
                f"  {row['policy']:<20} {keeps:<16} {(row['oldest'] or '-')[:16]:<16} {row['expired']:>8} expired  "
                + (last if row["enabled"] else f"{last} (policy off)")
            )
