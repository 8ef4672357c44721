from django.core.management.base import BaseCommand, CommandError

from signals.selectors import source_health
from signals.services.poll import source_poll
from signals.sources.registry import SOURCES


class Command(BaseCommand):
    help = "Poll one source now, in the foreground, and say what happened."

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
        if run.outcome == run.Outcome.FAILED:
            raise CommandError(f"the poll of {source} failed")
