"""``manage.py poll SOURCE``: one poll in the foreground, said in one line.

Its exit status tells cron and a monitor what happened: 0 polled; 1 the poll failed; 3, 4, 5 the
source was not polled (another poll of it running, its circuit open, the source disabled).
"""

from django.core.management.base import BaseCommand, CommandError

from signals.models import SourceRun
from signals.selectors import source_health
from signals.services.poll import source_poll
from signals.sources.registry import SOURCES

Outcome = SourceRun.Outcome
# Exit statuses, also in --help and docs/operations.md; a bad argument exits 64 (omen_site/startup.py).
FAILED = 1
# Not polled, and why: each an outcome a SourceRun records.
NOT_POLLED = {
    Outcome.SKIPPED_BUSY: (3, "another poll of it is running"),
    Outcome.CIRCUIT_OPEN: (4, "its circuit is open (too many failures in a row; a probe poll follows)"),
    Outcome.DISABLED: (5, "it is disabled"),
}


class Command(BaseCommand):
    help = (
        "Poll one source now, in the foreground, and say what happened. Exit status: 0 polled; 1 the poll "
        "failed (its run says why); 3 not polled: another poll of the source is running; 4 not polled: its "
        "circuit is open after failures in a row; 5 not polled: the source is disabled (its key is not set)."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", choices=sorted(SOURCES))

    def handle(self, *args, source, **options):
        run = source_poll(source=source)
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"{source}: {run.get_outcome_display()} in {seconds:.1f} s - "
            f"{run.requests} requests, {run.bytes} bytes, {run.fetched} records -> "
            f"{run.accepted} new signals, {run.unchanged} unchanged, {run.rejected} rejected"
        )
        if run.error:
            self.stdout.write(f"  {run.error}")
        self.stdout.write(f"  source health: {source_health(source)}")
        if run.outcome == Outcome.FAILED:
            raise CommandError(f"the poll of {source} failed", returncode=FAILED)
        if run.outcome in NOT_POLLED:
            status, why = NOT_POLLED[run.outcome]
            raise CommandError(f"{source} was not polled: {why}", returncode=status)
