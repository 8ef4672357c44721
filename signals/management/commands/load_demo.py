from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
# Each sample reply and the source that would have sent it.
DEMO_FILES = [("polymarket_markets.json", "polymarket")]


class Command(BaseCommand):
    help = "Load the project's own sample replies (idempotent: a second run adds nothing)."

    def handle(self, *args, **options):
        for name, source in DEMO_FILES:
            call_command(
                "ingest_file",
                str(DEMO_DIR / name),
                f"--source={source}",
                # A fixed fetch time keeps demo signals identical on every machine.
                "--fetched-at=2026-11-20T00:00:00+00:00",
                stdout=self.stdout,
                stderr=self.stderr,
            )
