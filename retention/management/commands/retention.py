"""``manage.py retention <sweep|status|restore-archive>``: the operator's tools for retention.

``sweep`` exits 1 when a policy failed (its run says why) or another sweep is running;
``restore-archive`` exits 2 when the day's archive is damaged, 1 on any other refusal.
"""

import argparse
from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ledger.public import ContractError
from retention.policies import DEFAULTS, format_duration
from retention.services.archive import ArchiveDamaged, SweepRunning
from retention.services.restore import RestoreRefused, restore_archive
from retention.services.status import policy_status
from retention.services.sweep import sweep

DAMAGED = 2


def batch_size_argument(text: str) -> int:
    """``--batch-size``, refused as a bad argument (exit 64) when out of range: it exited 1, as a failed sweep."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= settings.RETENTION_BATCH_SIZE_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r}: rows per transaction, from 1 to {settings.RETENTION_BATCH_SIZE_MAX:,}"
        )
    return value


def _when(moment) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


class Command(BaseCommand):
    help = "Sweep expired records by the retention policies, show where each policy stands, or restore an archived day."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        run = commands.add_parser("sweep", help="delete (or archive, then delete) what each policy expired")
        run.add_argument(
            "--policy", action="append", choices=list(DEFAULTS), help="only this policy (repeatable); default: all"
        )
        run.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
        run.add_argument(
            "--batch-size",
            type=batch_size_argument,
            help=f"rows per transaction, 1 to {settings.RETENTION_BATCH_SIZE_MAX:,} (default RETENTION_BATCH_SIZE)",
        )
        commands.add_parser("status", help="per policy: keep for, oldest record, expired now, last run")
        restore = commands.add_parser(
            "restore-archive",
            help="put an archived day's signals back (idempotent)",
            description="Exit status: 0 restored, or already in the database; 2 the day's file is damaged (it "
            "fails its checksum, is not whole gzip, holds a line that is no archived signal, or is missing while "
            "its manifest entry stays); 1 anything else (no archive of the day, a day older than the ledger keeps, "
            "a line whose contract cannot make a row, a sweep running, a file that cannot be read); 64 a bad "
            "argument (a day that is no date).",
        )
        restore.add_argument("day", type=date.fromisoformat, help="YYYY-MM-DD, the signals' generated_at day (UTC)")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action.replace('-', '_')}")(**options)

    def _sweep(self, policy=None, dry_run=False, batch_size=None, **options):
        bars: dict[str, tqdm] = {}

        def progress(name: str, rows: int) -> None:
            if name not in bars:  # (a bar is falsy while its total is unknown)
                bars[name] = tqdm(desc=name, unit=" rows", disable=None, leave=False)
            bars[name].update(rows)

        try:
            runs = sweep(policy, dry_run=dry_run, batch_size=batch_size, progress=progress)
        except SweepRunning as exc:
            raise CommandError(str(exc)) from None
        finally:
            for bar in bars.values():
                bar.close()
        title = "dry run: nothing deleted" if dry_run else "sweep"
        self.stdout.write(title)
        self.stdout.write(
            f"{'policy':<20} {'cutoff':<16} {'counted':>10} {'archived':>10} {'deleted':>10} {'on hold':>8} "
            f"{'seconds':>8}  status"
        )
        for run in runs:
            seconds = run.duration.total_seconds() if run.duration else 0
            self.stdout.write(
                f"{run.policy:<20} {_when(run.cutoff):<16} {run.counted:>10,} {run.archived:>10,} {run.deleted:>10,} "
                f"{run.skipped_on_hold:>8,} {seconds:>8.1f}  {run.status}" + (f": {run.error}" if run.error else "")
            )
        failed = [run.policy for run in runs if run.status != run.Status.OK]
        if failed:
            raise CommandError(f"failed: {', '.join(failed)} (see the runs in the admin, or the error above)")

    def _status(self, **options):
        self.stdout.write(f"{'policy':<20} {'keep for':>9} {'set by':<11} {'oldest':<16} {'expired':>10}  last run")
        for row in policy_status():
            policy, run = row.policy, row.last_run
            last = "never" if run is None else f"{_when(run.started_at)} {run.status}, {run.deleted:,} deleted"
            keep = format_duration(policy.keep_for) + (f", {policy.max_per_key}/key" if policy.max_per_key else "")
            self.stdout.write(
                f"{policy.name:<20} {keep:>9} {policy.chosen_by:<11} {_when(row.oldest):<16} {row.expired:>10,}  "
                + (last if policy.enabled else f"{last} (disabled)")
            )

    def _restore_archive(self, day, **options):
        try:
            result = restore_archive(day)
        except (FileNotFoundError, SweepRunning, RestoreRefused) as exc:
            raise CommandError(str(exc)) from None
        except ArchiveDamaged as exc:
            raise CommandError(str(exc), returncode=DAMAGED) from None
        except ContractError as exc:
            raise CommandError(f"{day}: a line cannot make a signal: {exc}") from None
        except OSError as exc:  # the day file there but unreadable: a directory, a permission, a bad disk
            where = exc.filename if exc.filename is not None else "the day's archive"
            raise CommandError(f"{day}: cannot read {where}: {exc.strerror or exc} (errno {exc.errno})") from None
        self.stdout.write(
            f"{day}: {result.in_archive:,} signals in the archive, {result.restored:,} restored, "
            f"{result.present:,} already in the database"
        )
        if result.restored:
            self.stdout.write(
                "They are as old as before: the next sweep archives them again unless a legal hold names them "
                "(Retention > Legal holds)."
            )
