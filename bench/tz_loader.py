#!/usr/bin/env python
"""Reading timestamptz: Django's loader against psycopg's compiled one (omen_site/database.py).

The same page of signals (the API list's 51 rows, two timestamps each) is read over one
connection with each loader installed in turn, several rounds; prints the time per page and per
value, and the ratio. Uses ``bench/api.py``'s database (``omen_bench_api``; any database with
signals will do: ``--url``).

    .venv/bin/python bench/tz_loader.py
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
os.environ.setdefault("OMEN_ENV_FILE", "/dev/null")

from api import BENCH_DB, database_url  # noqa: E402

PAGE = (
    "SELECT generated_at, observed_at FROM signals_signal WHERE source = 'polymarket' AND status = 'ACTIVE' "
    "ORDER BY generated_at DESC, id DESC LIMIT 51"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=database_url(BENCH_DB))
    parser.add_argument("--pages", type=int, default=500, help="pages read per loader per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    import psycopg
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    from omen_site.database import TIMESTAMPTZ_OID, compiled_tz_loader

    loaders = {
        "Django's loader": lambda cursor: register_tzloader(UTC, cursor),
        "compiled loader": lambda cursor: cursor.adapters.register_loader(TIMESTAMPTZ_OID, compiled_tz_loader(UTC)),
    }
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        values = 2 * len(conn.execute(PAGE).fetchall())
        cursors = {}
        for name, install in loaders.items():
            cursors[name] = conn.cursor()
            install(cursors[name])
        pages = [cursor.execute(PAGE).fetchall() for cursor in cursors.values()]
        assert pages[0] == pages[1], "the loaders read different values"
        seconds = {name: [] for name in loaders}
        for _ in range(args.rounds):
            for name, cursor in cursors.items():  # in turn, so a slow moment hits both
                began = time.perf_counter()
                for _ in range(args.pages):
                    cursor.execute(PAGE).fetchall()
                seconds[name].append((time.perf_counter() - began) / args.pages)
    print(f"a page: 51 rows, {values} timestamptz values; {args.pages} pages x {args.rounds} rounds, medians")
    median = {name: statistics.median(times) for name, times in seconds.items()}
    for name, page in median.items():
        print(f"  {name}: {page * 1e6:7.1f} us a page (query included)")
    django_s, compiled = median["Django's loader"], median["compiled loader"]
    saved = django_s - compiled
    print(
        f"  saved: {saved * 1e6:.1f} us a page, {saved / values * 1e6:.2f} us a value; "
        f"Django's / compiled: {django_s / compiled:.2f}x"
    )


if __name__ == "__main__":
    main()
