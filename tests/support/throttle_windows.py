"""Helpers for tests that count requests against a rate of N per minute."""

import time


def away_from_a_minutes_end():
    """Windows are whole minutes: a burst that straddles one would be counted in two."""
    if time.time() % 60 > 57:
        time.sleep(60 - time.time() % 60 + 0.05)
