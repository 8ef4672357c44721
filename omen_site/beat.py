"""Beat's scheduler: django-celery-beat's, which keeps a run it could not send, and counts from now
an entry whose last run is after now (the clock went back: ``Entry``).

Celery's beat marks an entry run *before* sending it, and a send that fails (the broker is away)
is only logged, as a stack and a traceback (some 150 lines an entry): the run is lost. For a poll
the next comes two minutes later, but the nightly backup and retention sweep would wait a whole
day. Here a send that fails for want of the broker puts the entry back as it was, due, says so in
one line, and tries again SEND_RETRY_SECONDS later; once the broker is back it goes, once.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery.utils.time import maybe_make_aware
from django.db import DatabaseError
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

# Between two tries while the broker is away: each try blocks beat for a second or so (kombu's
# publish retries), and every entry due meanwhile waits its turn behind it.
SEND_RETRY_SECONDS = 10.0


# A last run later than now by more than this is taken for a clock that went back (a host that
# booted fast and was corrected by NTP, a VM restored from a snapshot); under it, clocks of two hosts.
CLOCK_WENT_BACK_AFTER = timedelta(minutes=1)


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
        super().__init__(*args, **kwargs)

    def should_sync(self):
        # Celery's apply_async writes the schedule as a send ends, failed or not, before
        # apply_entry can put a refused run back: the row said the entry had run, and a beat
        # restarted meanwhile (compose restarts it) lost it. Written once apply_entry is done
        # with the send instead, with the run as the send left it.
        return not self._sending and super().should_sync()

    def tick(self, *args, **kwargs):
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            return min(wait, self.max_interval)
        return super().tick(*args, **kwargs)

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
