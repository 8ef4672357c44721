"""Thread timing for work that overlaps a CPU-bound thread with one that waits on I/O."""

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_users = 0
_previous = 0.0


@contextmanager
def prompt_thread_switching(interval: float = 0.001) -> Iterator[None]:
    """Hand the GIL over every ``interval`` seconds (Python's default is 5 ms); restore it after.

    A thread that gives the GIL up on every database round trip then waits for a busy thread to
    hand it back; at 5 ms that wait dominated ingest's write step (bench/ingest.py: +15 %
    signals/s at 1 ms). The interval is process-wide: the first of overlapping users sets it and
    the last one restores the value it found.
    """
    global _users, _previous
    with _lock:
        if _users == 0:
            _previous = sys.getswitchinterval()
            sys.setswitchinterval(min(_previous, interval))
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                sys.setswitchinterval(_previous)
