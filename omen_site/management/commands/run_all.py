import argparse
import sys

from django.core.management.base import BaseCommand

from omen_site.devserver import Supervisor, children


def port_number(text: str) -> int:
    """A port out of range killed runserver's child, while its autoreloader, the worker and beat ran on."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a TCP port, from 1 to 65535")
    return port


class Command(BaseCommand):
    help = (
        "Run the web app (runserver), one Celery worker and one beat until Ctrl-C or SIGTERM, "
        "then stop all three; if one exits on its own, stop the others and fail."
    )
    # The children check the project themselves; the supervisor needs no database.
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=port_number, default=8000, help="the web app's port (default 8000)")

    def handle(self, *args, host, port, **options):
        sys.exit(Supervisor(children(host, port), out=self.stdout).run())
