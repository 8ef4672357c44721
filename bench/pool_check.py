#!/usr/bin/env python
"""A pooled connection's checkout: no check, Django's CONN_HEALTH_CHECKS (a round trip), OMEN's socket check.

Each API request takes one connection from psycopg's pool and gives it back (CONN_MAX_AGE is 0
with a pool). The three checks are timed in turn, several rounds, on a pool of one connection to
the PostgreSQL of ``--url`` (any database: nothing is read); prints the median and p90 of a
checkout with each, and what each check adds to a checkout without one.

    .venv/bin/python bench/pool_check.py
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
os.environ.setdefault("OMEN_ENV_FILE", "/dev/null")

from psycopg_pool import ConnectionPool  # noqa: E402

from omen_site.database import check_idle_connection  # noqa: E402

CHECKS = {
    "none": None,
    "round trip (CONN_HEALTH_CHECKS)": ConnectionPool.check_connection,
    "socket (check_idle_connection)": check_idle_connection,
}


def checkouts(url: str, check, count: int) -> list[float]:
    pool = ConnectionPool(url, min_size=1, max_size=1, check=check, open=True)
    try:
        pool.wait()
        times = []
        for _ in range(count):
            started = time.perf_counter()
            with pool.connection():
                pass
            times.append(time.perf_counter() - started)
        return times
    finally:
        pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--checkouts", type=int, default=3000, help="per check per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    medians: dict[str, list[float]] = {name: [] for name in CHECKS}
    p90s: dict[str, list[float]] = {name: [] for name in CHECKS}
    for _ in range(args.rounds):
        for name, check in CHECKS.items():  # in turn, so a machine slowing down slows each alike
            times = sorted(checkouts(args.url, check, args.checkouts))
            medians[name].append(statistics.median(times))
            p90s[name].append(times[int(len(times) * 0.9)])
    base = statistics.median(medians["none"])
    print(f"{args.rounds} rounds of {args.checkouts} checkouts per check; medians of the rounds")
    for name in CHECKS:
        median = statistics.median(medians[name])
        print(
            f"  {name:32} median {median * 1e6:7.1f} µs  p90 {statistics.median(p90s[name]) * 1e6:7.1f} µs"
            f"  added {max(median - base, 0) * 1e6:6.1f} µs"
        )


if __name__ == "__main__":
    main()
