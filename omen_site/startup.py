"""A process's edge: a refused setting or an unreachable database ends in one line, not a traceback.

The message already names the variable and the fix; the 50-120 lines of import and connection
machinery above it only push it out of sight. ``--traceback`` (Django's own flag) or
``LOG_LEVEL=DEBUG`` brings the traceback back.
"""

import logging
import os
import select
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured
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
        yield
    except BrokenPipeError:
        if not stdout_reader_gone():
            raise
        # Python flushes stdout once more at exit, which would print "Exception ignored ...".
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(141) from None


@contextmanager
def operator_errors(argv: Sequence[str]) -> Iterator[None]:
    """The four above, for manage.py."""
    with (
        closed_pipe_quietly(),
        interruption_in_one_line(argv),
        settings_refusal_in_one_line(argv),
        database_unreachable_in_one_line(argv),
    ):
        yield
