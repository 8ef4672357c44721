"""Beat's scheduler: django-celery-beat's, which keeps a run it could not send, counts from now
an entry whose last run is after now (the clock went back: ``Entry``), and sends nothing unless it
holds the schedule's lock (``ScheduleLock``).

Celery's beat marks an entry run *before* sending it, and a send that fails (the broker is away)
is only logged, as a stack and a traceback (some 150 lines an entry): the run is lost. For a poll
the next comes two minutes later, but the nightly backup and retention sweep would wait a whole
day. Here a send that fails for want of the broker puts the entry back as it was, due, says so in
one line, and tries again SEND_RETRY_SECONDS later; once the broker is back it goes, once.

Exactly one beat must run: a second one (a service scaled to two, a beat started by hand beside
the stack's) sent every entry again, so each poll ran twice and the nightly backup dumped the
database twice. The schedule's lock makes any other beat a standby: it says so in one line, sends
nothing, and takes over once the one holding the lock stops (its lock goes with its process, or
with its database session on PostgreSQL).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from celery.utils.time import maybe_make_aware
from django.db import DatabaseError, connection
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

# Between two tries while the broker is away: each try blocks beat for a second or so (kombu's
# publish retries), and every entry due meanwhile waits its turn behind it.
SEND_RETRY_SECONDS = 10.0


# A last run later than now by more than this is taken for a clock that went back (a host that
# booted fast and was corrected by NTP, a VM restored from a snapshot); under it, clocks of two hosts.
CLOCK_WENT_BACK_AFTER = timedelta(minutes=1)


# How often a standby beat tries the schedule's lock, and the beat holding it checks that it still
# does (on PostgreSQL a round trip on the lock's own connection: a server restart ends the session
# and frees the lock, for a standby to take).
LOCK_RETRY_SECONDS = 10.0
# The lock's session is ended by the server once idle this long: the holder checks it every
# LOCK_RETRY_SECONDS, so only a holder gone without a word (its host lost, the network cut, where
# the server would otherwise keep the session, and the lock, until TCP gives up: two hours) stops.
LOCK_SESSION_IDLE_SECONDS = 60
# The holder's side of the same: its check of a session whose server is gone fails within this,
# rather than waiting on the socket for as long as TCP would.
LOCK_SOCKET_TIMEOUT_MS = 30_000


class ScheduleLock:
    """The one beat's: on PostgreSQL a session advisory lock (scoped to the database, so two OMENs
    on one server do not share it) on a connection of its own; on SQLite an flock on a file beside
    the database, whose processes share a machine. Either goes with the process that held it."""

    # An advisory lock's key: a number no other code of this database takes.
    KEY = int.from_bytes(hashlib.sha256(b"omen beat schedule").digest()[:8], "big", signed=True)

    def __init__(self) -> None:
        self._session: psycopg.Connection | None = None
        self._fd: int | None = None

    def where(self) -> str:
        """What the lock is, for a message."""
        if connection.vendor == "postgresql":
            return f"advisory lock {self.KEY} of database {connection.settings_dict['NAME']}"
        path = self._path()
        return "an in-memory database: no other process shares it" if path is None else f"flock on {path}"

    def _path(self) -> Path | None:
        name = str(connection.settings_dict["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            return None
        return Path(f"{os.path.realpath(name)}.beat-lock")

    def acquire(self) -> bool:
        """Take the lock if it is free. Raises ``psycopg.Error`` or ``OSError`` if it cannot ask."""
        if connection.vendor != "postgresql":
            path = self._path()
            if path is None:
                return True
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            return True
        params = connection.get_connection_params()  # Django's, without its pool: this one is kept
        params |= {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                   "tcp_user_timeout": LOCK_SOCKET_TIMEOUT_MS}  # fmt: skip
        session = psycopg.connect(**params, autocommit=True)
        try:
            session.execute(f"SET idle_session_timeout = {int(LOCK_SESSION_IDLE_SECONDS * 1000)}")
            taken = session.execute("SELECT pg_try_advisory_lock(%s)", [self.KEY]).fetchone()[0]
        except BaseException:
            session.close()
            raise
        if not taken:
            session.close()
            return False
        self._session = session
        return True

    def still_held(self) -> bool:
        """Whether the lock is still this process's: on PostgreSQL, whether its session is alive."""
        if self._session is None:
            return True  # an flock stays with the process
        try:
            self._session.execute("SELECT 1")
        except psycopg.Error:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Entry(ModelEntry):
    def is_due(self):
        # Celery counts the next run from the last one: a last run two hours from now (written
        # before the clock went back two hours) held every entry two hours and a period, and the
        # rows keep it, so restarting beat did not help. Counted from now instead: one period on.
        now = maybe_make_aware(self._default_now())
        if self.last_run_at and maybe_make_aware(self.last_run_at) > now + CLOCK_WENT_BACK_AFTER:
            logger.warning(
                "beat: %s last ran at %s, after now (%s): the clock went back; its next run is counted from now",
                self.name,
                maybe_make_aware(self.last_run_at).isoformat(timespec="seconds"),
                now.isoformat(timespec="seconds"),
            )
            ahead, self.last_run_at = self.model.last_run_at, now
            self.model.last_run_at = now
            # On the row too: beat reads every row again each five minutes (SCHEDULE_SYNC_MAX_INTERVAL)
            # and at a restart, and a last run still ahead there was counted from now again each
            # time, so an entry of a longer period never came due until the clock caught up. An
            # update, not a save: a save marks the schedule changed, and every entry is read again.
            try:
                type(self.model)._default_manager.filter(pk=self.model.pk, last_run_at=ahead).update(last_run_at=now)
            except DatabaseError as exc:
                logger.warning("beat: %s: its last run not written back (%s); beat tries again", self.name, exc)
        return super().is_due()


class Scheduler(DatabaseScheduler):
    Entry = Entry

    def __init__(self, *args, **kwargs):
        self._retry_at = 0.0
        self._before_reserve: tuple[str, object, int] | None = None
        self._sending = False
        self._lock = ScheduleLock()
        self._holding = False
        self._lock_checked_at: float | None = None
        self._told_waiting = False
        super().__init__(*args, **kwargs)

    def close(self):
        super().close()
        self._lock.release()

    def should_sync(self):
        # Celery's apply_async writes the schedule as a send ends, failed or not, before
        # apply_entry can put a refused run back: the row said the entry had run, and a beat
        # restarted meanwhile (compose restarts it) lost it. Written once apply_entry is done
        # with the send instead, with the run as the send left it. Only by the lock's holder.
        return self._holding and not self._sending and super().should_sync()

    def tick(self, *args, **kwargs):
        if not self._holds_the_lock():
            return LOCK_RETRY_SECONDS
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            return min(wait, self.max_interval)
        return super().tick(*args, **kwargs)

    def _holds_the_lock(self) -> bool:
        now = time.monotonic()
        if self._lock_checked_at is not None and now - self._lock_checked_at < LOCK_RETRY_SECONDS:
            return self._holding
        self._lock_checked_at = now
        if self._holding:
            if self._lock.still_held():
                return True
            self._holding = False
            # Runs not yet written are the new holder's to make now: written later, this beat's
            # older ones would overwrite that beat's.
            self._dirty.clear()
            logger.error("beat: lost the schedule's lock (%s: its session ended); sends nothing until it has "
                         "it again", self._lock.where())  # fmt: skip
        try:
            taken = self._lock.acquire()
        except (psycopg.Error, OSError) as exc:
            logger.error("beat: cannot take the schedule's lock (%s): %s; tried again in %d s",
                         self._lock.where(), " ".join(str(exc).split()), LOCK_RETRY_SECONDS)  # fmt: skip
            return False
        if not taken:
            if not self._told_waiting:
                self._told_waiting = True
                logger.warning("beat: another beat holds the schedule (%s): this one sends nothing, and takes "
                               "over if that one stops", self._lock.where())  # fmt: skip
            return False
        self._holding = True
        if self._told_waiting:
            logger.warning("beat: the other beat stopped; this one holds the schedule (%s) and sends it",
                           self._lock.where())  # fmt: skip
        else:
            logger.info("beat: holds the schedule (%s); another beat started would wait", self._lock.where())
        self._told_waiting = False
        # Every entry read again, and the heap built from them at this tick: another beat may have
        # sent some since this one read them, and each run it made is on its row (written as sent).
        # Not by marking the schedule stale: django-celery-beat then marks the heap stale too, and the
        # tick after this one rebuilt it from entries that still held their last run from before the
        # send, so every due entry went twice.
        self._schedule = self.all_as_schedule()
        self._heap, self._heap_invalidated = None, False
        self._last_full_sync = datetime.now()  # naive, as django-celery-beat keeps it
        return True

    def reserve(self, entry):
        # reserve() moves the entry's last run to now on the row's model, which the entry shares:
        # what it was is kept here, to be put back if the send fails.
        self._before_reserve = (entry.name, entry.model.last_run_at, entry.model.total_run_count)
        return super().reserve(entry)

    def apply_entry(self, entry, producer=None):
        logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        self._sending = True
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as exc:
            if not isinstance(exc.__context__, OperationalError):
                # Not the broker (a task's arguments it cannot serialise, say): trying again would
                # fail again, so the run goes, as Celery lets it, with the traceback to fix it by.
                logger.exception("Message Error: %s", exc)
                return
            self._keep_due(entry)
            self._retry_at = time.monotonic() + SEND_RETRY_SECONDS
            logger.error("%s; still due, tried again in %d s", " ".join(str(exc).split()), SEND_RETRY_SECONDS)
        finally:
            self._sending = False
            if self.should_sync():
                self._do_sync()  # where Celery's apply_async would have, with the run as the send left it

    def _keep_due(self, entry) -> None:
        name, last_run_at, total_run_count = self._before_reserve
        if name != entry.name:
            return
        entry.model.last_run_at, entry.model.total_run_count = last_run_at, total_run_count
        # Written back at the next sync, so a beat restarted meanwhile finds the entry due too.
        self._dirty.add(name)
        # The heap already holds the entry at its next period: rebuilt, it holds it due now. It is
        # rebuilt from the entries as the schedule was last read, whose last run is as it was then:
        # each takes its row's (moved by every send since), or what was sent meanwhile (a poll, the
        # night's backup) would be due again and sent twice.
        for scheduled in self._schedule.values():  # not .schedule, which may read the database
            scheduled.last_run_at = scheduled.model.last_run_at
            scheduled.total_run_count = scheduled.model.total_run_count
        self._heap_invalidated = True
