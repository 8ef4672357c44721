#!/usr/bin/env python
"""Admin speed: the signal list, its exports, the signal page and the index's dashboard over
1,000,000 signals in PostgreSQL (issue 13).

Uses bench/api.py's database ``omen_bench_api`` (built by its ``build`` if missing, or with
``--rebuild``; any new migration is applied first, as bench/api.py does), and runs the admin in
this process through Django's test client with production settings (bench/api.py's
``server_env``: OMEN_ENV=production, DEBUG off, the Redis cache, collected static files), logged
in as a superuser made for the run. Each figure is the server time of one request (the test
client's round trip through every middleware, the view and the template), median of 5 after one
warm-up. The exports run in a child process each, which reads its own peak RSS (VmHWM).
It prints figures; it asserts nothing.

    .venv/bin/python bench/admin.py                 # build omen_bench_api if needed, then ~3 min
    .venv/bin/python bench/admin.py --rebuild       # drop and rebuild the database first
    .venv/bin/python bench/admin.py --skip-exports  # the pages only
    .venv/bin/python bench/admin.py --pages-only    # the signal page and the index only (~1 min)

The signal page is timed for one signal whose source event is given a long probability history
for the run (HISTORY_POINTS points, one every 10 minutes up to the signal, deleted afterwards:
the bench database has none). The database has no ledger frames either: the page shows "No frame
yet", its frame query still runs.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import api  # noqa: E402  (bench/api.py: the database's builder and the production environment)

LIST = "/admin/signals/signal/"
INDEX = "/admin/"
PAGE_SIGNAL = 500_000  # the id of the signal whose page is timed
HISTORY_POINTS = 20_000
USERNAME = "bench-admin"
RUNS = 5
# One filter at a time: each choice filter with a common and a rare value (category has no index
# of its own, OTHER is 2 % of the rows), then the date drill-down's month and day.
FILTERS = {
    "source=polymarket (50 %)": "?source__exact=polymarket",
    "source=yahoo (12 %)": "?source__exact=yahoo",
    "type=SHIPPING_ROUTE_RISK": "?signal_type__exact=SHIPPING_ROUTE_RISK",
    "status=INVALIDATED (3 %)": "?status__exact=INVALIDATED",
    "level=LOW": "?confidence_level__exact=LOW",
    "category=OTHER (2 %, no index)": "?category__exact=OTHER",
    "category=REGULATORY (6 %, no index)": "?category__exact=REGULATORY",
    "date: 2026-06": "?generated_at__year=2026&generated_at__month=6",
    "date: 2026-06-15": "?generated_at__year=2026&generated_at__month=6&generated_at__day=15",
}
SEARCHES = {
    "title: hormuz (1 title in 8)": "?q=hormuz",
    "title: strait hormuz tanker (3 words)": "?q=strait+hormuz+tanker",
    "title: 'watch 1234:' (a few rows)": "?q=watch+1234%3A",
    "title: volcano (no row)": "?q=volcano",
    "title: hormuz + source=newsdata": "?q=hormuz&source__exact=newsdata",
}


def prepare(url: str, workdir: Path) -> dict:
    """The production environment, the database migrated and the static files collected."""
    env = api.server_env(url, workdir)
    for command in (["migrate", "--no-input"], ["collectstatic", "--no-input"]):
        subprocess.run([sys.executable, "manage.py", *command, "-v", "0"], cwd=ROOT, env=env, check=True)
    return env


def django_client(env: dict):
    os.environ.update(env, DJANGO_SETTINGS_MODULE="omen_site.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username=USERNAME, defaults={"is_staff": True})
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def timed_get(client, path: str) -> tuple[float, object]:
    started = time.perf_counter()
    response = client.get(path, secure=True)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET {path}: {response.status_code} {response.get('Location', '')}")
    return elapsed, response


def median_ms(client, path: str) -> float:
    timed_get(client, path)  # warm-up
    return statistics.median(timed_get(client, path)[0] for _ in range(RUNS)) * 1000


def sql_of(client, path: str) -> tuple[int, float]:
    """(queries, their total ms) of one request, measured apart from the timed runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        timed_get(client, path)
    return len(captured), sum(float(q["time"]) for q in captured.captured_queries) * 1000


def older_link(response) -> str | None:
    found = re.search(r'<a href="([^"]+)" class="keyset-older"', response.content.decode())
    return unescape(found.group(1)) if found else None


def line(label: str, ms: float, sql: tuple[int, float] | None = None, width: int = 44) -> str:
    text = f"  {label:<{width}} {ms:8.1f} ms"
    return text + (f"   ({sql[0]} queries, {sql[1]:.1f} ms of SQL)" if sql else "")


def measure_lists(client, pages: int) -> None:
    print(f"list pages, server time, median of {RUNS} (after a warm-up):", flush=True)
    first = median_ms(client, LIST)
    print(line("page 1", first, sql_of(client, LIST)), flush=True)
    for label, query in FILTERS.items():
        print(line(label, median_ms(client, LIST + query), sql_of(client, LIST + query)), flush=True)
    for label, query in SEARCHES.items():
        print(line(label, median_ms(client, LIST + query), sql_of(client, LIST + query)), flush=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT signal_id, trace_id FROM signals_signal WHERE id = 500000")
        signal_id, trace_id = cursor.fetchone()
    for label, term in (("signal id", signal_id), ("trace id", trace_id)):
        print(line(f"search: exact {label}", median_ms(client, f"{LIST}?q={term}")), flush=True)

    # Deep: follow "older" links from page 1, as an analyst would, then time the last page reached.
    query, times = "", []
    for _ in range(pages):
        elapsed, response = timed_get(client, LIST + query)
        times.append(elapsed)
        query = older_link(response)
    deep = median_ms(client, LIST + query)
    print(
        f"keyset walk: pages 1-{pages} by 'older' links in {sum(times):.1f} s; pages 1-10 median "
        f"{statistics.median(times[:10]) * 1000:.1f} ms, pages {pages - 9}-{pages} median "
        f"{statistics.median(times[-10:]) * 1000:.1f} ms",
        flush=True,
    )
    print(line(f"page {pages + 1} by its cursor", deep, sql_of(client, LIST + query)), flush=True)
    print(f"  page {pages + 1} / page 1: {deep / first:.2f}", flush=True)
    print(line("page 1 sorted by probability (numbered pages)", median_ms(client, f"{LIST}?o=-6")), flush=True)


def measure_signal_page(client) -> None:
    """The signal page of PAGE_SIGNAL, its event given HISTORY_POINTS points for the run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id, observed_at FROM signals_signal WHERE id = %s", [PAGE_SIGNAL])
        event_id, observed_at = cursor.fetchone()
        cursor.execute(
            """INSERT INTO signals_probabilitypoint (source_event_id, observed_at, probability, volume, liquidity)
               SELECT %s, %s - make_interval(mins => 10 * n), 0.2 + 0.6 * random(), 1000, 1000
               FROM generate_series(0, %s - 1) n ON CONFLICT DO NOTHING""",
            [event_id, observed_at, HISTORY_POINTS],
        )
        cursor.execute("SELECT count(*) FROM signals_probabilitypoint WHERE source_event_id = %s", [event_id])
        points = cursor.fetchone()[0]
        cursor.execute("ANALYZE signals_probabilitypoint")
    try:
        page = f"{LIST}{PAGE_SIGNAL}/change/"
        print(f"signal page (its event has {points:,} probability points; no ledger frame in this database):")
        print(line("signal page", median_ms(client, page), sql_of(client, page)), flush=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM signals_probabilitypoint WHERE source_event_id = %s", [event_id])


def measure_index(client) -> None:
    print("admin index with the dashboard:")
    print(line("index", median_ms(client, INDEX), sql_of(client, INDEX)), flush=True)


def export_child(file_format: str) -> None:
    """In its own process: stream the whole list as ``file_format``, report rows, time and memory."""
    client = django_client(json.loads(os.environ["BENCH_ADMIN_ENV"]))
    from django.db import connection

    timed_get(client, LIST)  # the admin's imports and first queries, before the baseline
    before = vm("VmRSS")
    started = time.perf_counter()
    response = client.get(f"{LIST[:-1]}/export.{file_format}", secure=True)
    header = 1 if file_format == "csv" else 0
    lines = size = 0
    first_rows = server_side = None
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        size += len(chunk)
        if server_side is None and lines > header:
            first_rows = time.perf_counter() - started
            with connection.cursor() as cursor:  # the session's open cursors, while the export reads one
                cursor.execute("SELECT count(*) FROM pg_cursors")
                server_side = cursor.fetchone()[0] > 0
    response.close()
    elapsed = time.perf_counter() - started
    result = {"rows": lines - header, "bytes": size, "seconds": elapsed, "first_rows": first_rows}
    print(json.dumps(result | {"before_mb": before, "peak_mb": vm("VmHWM"), "server_side_cursor": server_side}))


def vm(field: str) -> float:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith(field + ":"):
            return int(text.split()[1]) / 1024
    raise RuntimeError(field)


def measure_exports(env: dict) -> None:
    print("exports of the whole list (1,000,000 rows), one child process each:", flush=True)
    for file_format in ("csv", "jsonl"):
        child_env = dict(env, BENCH_ADMIN_ENV=json.dumps(env))
        out = subprocess.run(
            [sys.executable, __file__, "--export-child", file_format],
            cwd=ROOT,
            env=child_env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"  {file_format:<5} {r['rows']:,} rows, {r['bytes'] / 1e6:,.0f} MB in {r['seconds']:.1f} s: "
            f"{r['rows'] / r['seconds']:,.0f} rows/s, first rows after {r['first_rows']:.2f} s; "
            f"peak RSS {r['peak_mb']:.0f} MB "
            f"({r['before_mb']:.0f} MB before the export); server-side cursor: {r['server_side_cursor']}",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help=f"drop and rebuild {api.BENCH_DB}")
    parser.add_argument("--signals", type=int, default=api.SIGNALS)
    parser.add_argument("--pages", type=int, default=500, help="'older' links followed to the deep page")
    parser.add_argument("--skip-exports", action="store_true")
    parser.add_argument("--pages-only", action="store_true", help="the signal page and the index only")
    parser.add_argument("--export-child", choices=["csv", "jsonl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        return export_child(args.export_child)

    url = api.database_url(api.BENCH_DB)
    count = None if args.rebuild else api.filled_count(url)
    if count != args.signals:
        api.build(url, args.signals)
    workdir = Path(tempfile.mkdtemp(prefix="omen-bench-admin-"))
    try:
        env = prepare(url, workdir)
        client = django_client(env)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            cursor.execute("SELECT signals FROM bench_built")
            signals = cursor.fetchone()[0]
        print(
            f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, PostgreSQL {version}; "
            f"load average {api.load_average()}\ndata: {signals:,} signals ({api.BENCH_DB})\n"
            "admin: Django test client in this process, OMEN_ENV=production, DEBUG off, Redis cache",
            flush=True,
        )
        measure_signal_page(client)
        measure_index(client)
        if not args.pages_only:
            measure_lists(client, args.pages)
        if not (args.skip_exports or args.pages_only):
            measure_exports(env)
        print(f"load average {api.load_average()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
