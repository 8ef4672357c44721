"""A process's edge: a refused setting or an unreachable database ends in one line, not a traceback.

The message already names the variable and the fix; the 50-120 lines of import and connection
machinery above it only push it out of sight. ``--traceback`` (Django's own flag) or
``LOG_LEVEL=DEBUG`` brings the traceback back.
"""

import argparse
import json
import logging
import os
import select
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured
from django.core.management import ManagementUtility
from django.core.management.base import CommandError, SystemCheckError
from django.db.backends.signals import connection_created
from django.db.utils import OperationalError


def traceback_wanted(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> bool:
    # Not DEBUG as the switch: development turns it on by default, and production refuses
    # DEBUG=true with a one-line message that a traceback would bury. LOG_LEVEL=DEBUG asks instead.
    return "--traceback" in argv or environ.get("LOG_LEVEL", "").upper() == "DEBUG"


def connection_being_opened(exc: BaseException):
    """The database wrapper whose connection failed to open when ``exc`` was raised, else None.

    Only an error raised inside ``ensure_connection`` means the database could not be reached;
    the same OperationalError class also reports a missing table or a lock on an open connection.
    """
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if (
            frame.f_code.co_name == "ensure_connection"
            and frame.f_globals["__name__"] == "django.db.backends.base.base"
        ):
            return frame.f_locals["self"]
    return None


def connection_failure_reason(message: str, password: str = "") -> str:
    """The driver's reason in a few words ("Connection refused"), never the password."""
    lines = message.strip().splitlines() or ["no reason given"]
    # libpq says 'connection to server at "HOST", port N failed: REASON'; the host is named elsewhere.
    reason = lines[0].rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    return reason.replace(password, "***") if password else reason


def database_unreachable_message(settings_dict: Mapping, reason: str) -> str:
    """What failed, where (host:port/name, no password), the variable and the fix, on one line."""
    engine = settings_dict["ENGINE"].rsplit(".", 1)[-1]
    name = settings_dict["NAME"]
    if engine == "sqlite3":
        return (
            f"Cannot open the SQLite database {name} (DATABASE_URL): {reason}. "
            "Create its directory and make it writable, or fix DATABASE_URL."
        )
    host, port = settings_dict.get("HOST") or "localhost", settings_dict.get("PORT")
    where = f"{host}:{port}/{name}" if port else f"{host}/{name}"
    server = "PostgreSQL" if engine == "postgresql" else engine
    return f"Cannot reach the database at {where} (DATABASE_URL): {reason}. Start {server} or fix DATABASE_URL."


class _QuietPoolRetries(logging.Filter):
    """Keeps psycopg's pool retry warnings quiet until this process first connects.

    With the database down, a command prints two lines per retry for the pool's whole timeout,
    then fails with "couldn't get a connection"; the one-line error gives the last retry's reason
    instead. Once connected the warnings pass, so a later outage of a long-running process is logged.
    """

    def __init__(self):
        super().__init__()
        self.last_message = ""
        self.connected = False

    def filter(self, record):
        if self.connected:
            return True
        self.last_message = record.getMessage()
        return False

    def note_connected(self, **kwargs):
        self.connected = True


@contextmanager
def settings_refusal_in_one_line(argv: Sequence[str]) -> Iterator[None]:
    """An ImproperlyConfigured (every refusal in settings.py) exits with its message alone."""
    try:
        yield
    except ImproperlyConfigured as exc:
        if traceback_wanted(argv):
            raise
        # SystemExit with a message prints it to stderr and exits with status 1.
        raise SystemExit(str(exc)) from None


@contextmanager
def database_unreachable_in_one_line(argv: Sequence[str]) -> Iterator[None]:
    """A database that cannot be reached exits with one line naming DATABASE_URL and host:port."""
    pool_logger = logging.getLogger("psycopg.pool")
    quiet = _QuietPoolRetries()
    if not traceback_wanted(argv):
        pool_logger.addFilter(quiet)
        connection_created.connect(quiet.note_connected)
    try:
        yield
    except OperationalError as exc:
        wrapper = connection_being_opened(exc)
        if wrapper is None or traceback_wanted(argv):
            raise
        settings_dict = wrapper.settings_dict
        reason = connection_failure_reason(quiet.last_message or str(exc), settings_dict.get("PASSWORD") or "")
        # The pool's threads would go on retrying, and warning, after the filter is gone.
        if hasattr(wrapper, "close_pool"):
            wrapper.close_pool()
        raise SystemExit(database_unreachable_message(settings_dict, reason)) from None
    finally:
        pool_logger.removeFilter(quiet)
        connection_created.disconnect(quiet.note_connected)


@contextmanager
def interruption_in_one_line(argv: Sequence[str]) -> Iterator[None]:
    """Ctrl-C ends a command with one line and status 130 (128 + SIGINT), as a shell reports it.

    What the command committed before stays, and every long command is built to be run again
    (a sweep marks its run interrupted and goes on, a backup clears what a stopped one left):
    the 20-60 lines of whichever frame the interrupt landed in only tell the operator to worry.
    """
    try:
        yield
    except KeyboardInterrupt:
        if traceback_wanted(argv):
            raise
        command = argv[1] if len(argv) > 1 else "manage.py"
        sys.stderr.write(f"manage.py {command}: interrupted (Ctrl-C)\n")
        raise SystemExit(130) from None


@contextmanager
def command_error_status() -> Iterator[None]:
    """A command's error reaches here only under ``--traceback`` (Django prints it and exits with its
    status otherwise); it exits with that status all the same, not the 1 of any uncaught exception:
    ``ledger --traceback verify`` says 2 for damage, as without the flag."""
    try:
        yield
    except CommandError as exc:
        traceback.print_exc()
        raise SystemExit(exc.returncode) from None


def stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (``| head``): poll says POLLERR."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError):  # no real descriptor (a test's StringIO), or it is closed
        return False


@contextmanager
def closed_pipe_quietly() -> Iterator[None]:
    """A reader that closed stdout (``ledger tail | head -1``) ends the command quietly, with 141
    (128 + SIGPIPE) as a shell reports such a command: the reader has what it wanted. Anything
    else raising BrokenPipeError (a socket) keeps its traceback."""
    try:
        try:
            yield
        finally:
            # What stdout still buffers (a pipe is block-buffered without PYTHONUNBUFFERED) is
            # flushed here, where a closed pipe is told apart: Python's own flush at exit printed
            # "Exception ignored ... BrokenPipeError" and exited 120, whatever the command's status.
            if sys.stdout is not None:  # None when the process started with descriptor 1 closed
                sys.stdout.flush()
    except BrokenPipeError:
        if not stdout_reader_gone():
            raise
        # Python flushes stdout once more at exit, which would print "Exception ignored ...".
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(141) from None


def usage_error_message(exc: BaseException) -> str | None:
    """The message argparse's ``error()`` gave when it raised ``exc`` (a bad argument), else None."""
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if frame.f_code is argparse.ArgumentParser.error.__code__:
            return frame.f_locals["message"]
    return None


# A bad argument or an unknown command: EX_USAGE of sysexits.h. argparse's own 2 is what
# `ledger verify`, `restore` and `retention restore-archive` document as damage found.
USAGE = 64


def unknown_command(exc: BaseException) -> bool:
    """Whether ``exc`` is Django's exit for a command it does not know (``manage.py storge_report``)."""
    return any(
        frame.f_code is ManagementUtility.fetch_command.__code__ for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


@contextmanager
def usage_error_status(argv: Sequence[str]) -> Iterator[None]:
    """A bad argument (argparse prints the usage and its error) or an unknown command exits 64, not
    argparse's 2 (or Django's 1): a monitor alerting on a documented status does not page on a typo."""
    try:
        yield
    except SystemExit as exc:
        if exc.code in (0, None) or (usage_error_message(exc) is None and not unknown_command(exc)):
            raise
        raise SystemExit(USAGE) from None


# OMEN's commands whose --json prints one JSON object (tests/omen_site/test_storage_report.py
# fails when a command gains a --json option without being listed).
JSON_COMMANDS = frozenset({"storage_report"})


def json_wanted(argv: Sequence[str]) -> bool:
    """Whether the command was asked for --json, or an abbreviation of it (argparse takes --js)."""
    return (
        len(argv) > 1
        and argv[1] in JSON_COMMANDS
        and any(len(arg) > 2 and "--json".startswith(arg) for arg in argv[2:])
    )


def exit_status(exc: BaseException) -> int:
    """The status the process exits with when ``exc`` ends it."""
    if not isinstance(exc, SystemExit):
        return exc.returncode if isinstance(exc, CommandError) else 130 if isinstance(exc, KeyboardInterrupt) else 1
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def refusal_said(exc: BaseException) -> dict:
    """What a refused command tells a --json reader: the kind of refusal, its one line, its exit status.

    ``exc`` is what ends the process: a SystemExit the handlers above made of the original error
    (which it holds as its context), or the original itself when the traceback was asked for.
    """
    status = exit_status(exc)
    line = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, str) else None
    cause: BaseException | None = exc
    while cause is not None:
        if (message := usage_error_message(cause)) is not None:
            return {"error": "usage", "message": message, "exit_status": status}
        if isinstance(cause, KeyboardInterrupt):
            return {"error": "interrupted", "message": "interrupted (Ctrl-C)", "exit_status": status}
        if isinstance(cause, ImproperlyConfigured):
            return {"error": "settings_refused", "message": line or str(cause), "exit_status": status}
        if isinstance(cause, OperationalError) and connection_being_opened(cause) is not None:
            return {"error": "database_unreachable", "message": line or str(cause), "exit_status": status}
        if isinstance(cause, SystemCheckError):
            return {"error": "system_check_failed", "message": str(cause).strip(), "exit_status": status}
        if isinstance(cause, CommandError):
            return {"error": "command_failed", "message": str(cause), "exit_status": status}
        if not isinstance(cause, SystemExit):
            return {"error": "unexpected", "message": f"{type(cause).__name__}: {cause}", "exit_status": status}
        cause = cause.__context__
    return {"error": "exited", "message": line or f"exit status {status}", "exit_status": status}


@contextmanager
def refusal_as_json(argv: Sequence[str]) -> Iterator[None]:
    """A command asked for --json prints one JSON object on stdout whatever happens: its own
    output, or ``{"error", "message", "exit_status"}`` when it is refused or fails (stderr says it
    as it would without --json, a traceback included). A monitor parsing stdout never gets nothing."""
    if not json_wanted(argv):
        yield
        return
    try:
        yield
    except BrokenPipeError:
        raise  # the reader is gone: nobody to tell
    except BaseException as exc:
        if exit_status(exc) != 0 and not stdout_reader_gone():
            try:
                sys.stdout.write(json.dumps(refusal_said(exc)) + "\n")
                sys.stdout.flush()
            except (OSError, ValueError):  # stdout closed or gone meanwhile: the status still says it
                pass
        raise


@contextmanager
def operator_errors(argv: Sequence[str]) -> Iterator[None]:
    """The handlers above, for manage.py."""
    with (
        closed_pipe_quietly(),
        refusal_as_json(argv),
        usage_error_status(argv),
        interruption_in_one_line(argv),
        settings_refusal_in_one_line(argv),
        database_unreachable_in_one_line(argv),
        command_error_status(),
    ):
        yield
