#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import json
import os
import sys


def interrupted_while_starting(argv):
    """Ctrl-C before ``operator_errors`` is in place (importing Django and Celery takes about half a
    second): the same line, status and --json answer as later (``omen_site/startup.py``), which
    cannot be imported for it. --json is taken at its word here: no other command accepts it."""
    command = argv[1] if len(argv) > 1 else "manage.py"
    if any(len(arg) > 2 and "--json".startswith(arg) for arg in argv[2:]):
        sys.stdout.write(
            json.dumps({"error": "interrupted", "message": "interrupted (Ctrl-C)", "exit_status": 130}) + "\n"
        )
    sys.stderr.write(f"manage.py {command}: interrupted (Ctrl-C)\n")
    raise SystemExit(130)


def main():
    """Run administrative tasks."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Are you sure it's installed and "
            "available on your PYTHONPATH environment variable? Did you "
            "forget to activate a virtual environment?"
        ) from exc
    except KeyboardInterrupt:
        interrupted_while_starting(sys.argv)
    try:
        from omen_site.startup import operator_errors
    except KeyboardInterrupt:
        interrupted_while_starting(sys.argv)

    with operator_errors(sys.argv):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
