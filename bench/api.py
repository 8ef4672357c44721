#!/usr/bin/env python
"""API speed: the filtered signals list through gunicorn, over 1,000,000 signals in PostgreSQL.

Builds (once; ``--rebuild`` to redo it) the database ``omen_bench_api`` with 1,000,000 signals,
starts gunicorn on it as a separate process with production settings, drives it with keep-alive
HTTP clients (the standard library's ``http.client``) in separate processes, and prints latency
(p50/p90/p99/max) at concurrency 1 and at a fixed concurrency, page 1 against page 1,000 (reached
by following ``next``), throughput at several concurrencies, and beside them the very SQL the API
runs, timed through psycopg in the same run. It prints figures; it asserts nothing.

    .venv/bin/python bench/api.py                      # build if needed (~1 min), then measure (~4 min)
    .venv/bin/python bench/api.py --rebuild            # drop and rebuild omen_bench_api first
    .venv/bin/python bench/api.py --workers 3 --worker-class sync --seconds 5
"""

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BENCH_DB = "omen_bench_api"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
SIGNALS = 1_000_000
SIGNALS_PER_POLL = 40  # signals of one poll share generated_at (one ingest batch)
LIST_URL = "/api/v1/signals/?source=polymarket&status=ACTIVE"
# The floor under any view's latency here: Django's middleware, gunicorn and the client, no query.
LIVE_URL = "/health/live"
# The mixed run: what a handful of dashboards would ask for, page 1 of each.
MIXED_URLS = [
    LIST_URL,
    "/api/v1/signals/?source=openmeteo&status=ACTIVE",
    "/api/v1/signals/?source=newsapi&status=MONITORING",
    "/api/v1/signals/?signal_type=SHIPPING_ROUTE_RISK",
    "/api/v1/signals/?status=ACTIVE&limit=100",
    "/api/v1/signals/?source=yahoo",
    "/api/v1/signals/",
]

# Weights (percent) of the generated data: polls per source, statuses and types per signal.
SOURCE_WEIGHTS = {"polymarket": 50, "newsapi": 15, "newsdata": 8, "openmeteo": 15, "yahoo": 12}
EVENTS_PER_SOURCE = {"polymarket": 12_000, "newsapi": 20_000, "newsdata": 8_000, "openmeteo": 10, "yahoo": 6}
STATUS_WEIGHTS = {"ACTIVE": 40, "MONITORING": 25, "CANDIDATE": 15, "RESOLVED": 10, "DEGRADED": 7, "INVALIDATED": 3}
TYPES_BY_SOURCE = {
    "polymarket": [
        "GEOPOLITICAL_CONFLICT",
        "GEOPOLITICAL_SANCTIONS",
        "GEOPOLITICAL_DIPLOMATIC",
        "SHIPPING_ROUTE_RISK",
        "POLITICAL_POLICY",
        "POLITICAL_POLICY",
        "REGULATORY_CHANGE",
        "ENERGY_SUPPLY",
    ],
    "newsapi": ["SUPPLY_CHAIN_DISRUPTION", "SHIPPING_ROUTE_RISK", "PORT_OPERATIONS", "LABOR_DISRUPTION"],
    "newsdata": ["SUPPLY_CHAIN_DISRUPTION", "SHIPPING_ROUTE_RISK", "LABOR_DISRUPTION", "UNCLASSIFIED"],
    "openmeteo": ["CLIMATE_EVENT", "CLIMATE_EVENT", "NATURAL_DISASTER", "PORT_OPERATIONS"],
    "yahoo": ["ENERGY_SUPPLY", "ENERGY_INFRASTRUCTURE", "SUPPLY_CHAIN_DISRUPTION"],
}
CATEGORY_OF_TYPE = {
    "GEOPOLITICAL_CONFLICT": "GEOPOLITICAL",
    "GEOPOLITICAL_SANCTIONS": "GEOPOLITICAL",
    "GEOPOLITICAL_DIPLOMATIC": "GEOPOLITICAL",
    "SUPPLY_CHAIN_DISRUPTION": "INFRASTRUCTURE",
    "SHIPPING_ROUTE_RISK": "INFRASTRUCTURE",
    "PORT_OPERATIONS": "INFRASTRUCTURE",
    "ENERGY_SUPPLY": "ECONOMIC",
    "ENERGY_INFRASTRUCTURE": "INFRASTRUCTURE",
    "LABOR_DISRUPTION": "ECONOMIC",
    "CLIMATE_EVENT": "WEATHER",
    "NATURAL_DISASTER": "WEATHER",
    "REGULATORY_CHANGE": "REGULATORY",
    "POLITICAL_POLICY": "POLITICAL",
    "UNCLASSIFIED": "OTHER",
}


def database_url(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


# --- The database -------------------------------------------------------------------------------


def filled_count(url: str) -> int | None:
    """How many signals the bench database holds, or None if it was never completely built."""
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)).fetchone() is None:
            return None
    with psycopg.connect(url) as conn:
        # Written as the build's last step: a build killed half-way is not taken for a built one.
        if conn.execute("SELECT to_regclass('bench_built') IS NULL").fetchone()[0]:
            return None
        return conn.execute("SELECT signals FROM bench_built").fetchone()[0]


def build(url: str, signals: int) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    started = time.perf_counter()
    env = dict(os.environ, DATABASE_URL=url, OMEN_ENV_FILE="/dev/null", DEBUG="false", LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    templates = template_contracts(url)
    print(f"build: migrated, {len(templates)} real contracts made by the pipeline as templates", flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        fill(conn, signals, templates)
        conn.execute("VACUUM (ANALYZE) signals_signal")
        conn.execute("VACUUM (ANALYZE) signals_sourceevent")
        conn.execute("CREATE TABLE bench_built (signals bigint, built_at timestamptz DEFAULT now())")
        conn.execute("INSERT INTO bench_built (signals) VALUES (%s)", (signals,))
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('signals_signal'))").fetchone()[0]
    print(f"build: {signals:,} signals in {time.perf_counter() - started:.0f} s, signals_signal {size}", flush=True)


def template_contracts(url: str) -> list[tuple[str, str, str]]:
    """(signal_id, trace_id, contract text) of real signals: the pipeline run on synthetic markets.

    Run in a child process with its own Django (and a throw-away ledger directory); the rows it
    wrote are emptied out again by ``fill``.
    """
    code = (
        "import django, orjson, sys; django.setup()\n"
        "from ingest import synthetic_records\n"
        "from signals.services.ingest import signals_ingest\n"
        "from django.db import connection\n"
        "signals_ingest(records=synthetic_records(400, 400))\n"
        "with connection.cursor() as cur:\n"
        "    cur.execute('SELECT signal_id, trace_id, contract FROM signals_signal ORDER BY id')\n"
        "    sys.stdout.write(orjson.dumps(cur.fetchall()).decode())\n"
    )
    workdir = tempfile.mkdtemp(prefix="omen-bench-api-")
    try:
        env = dict(
            os.environ,
            DATABASE_URL=url,
            OMEN_ENV_FILE="/dev/null",
            OMEN_VAR_DIR=workdir,
            DEBUG="false",
            LOG_LEVEL="WARNING",
            DJANGO_SETTINGS_MODULE="omen_site.settings",
            PYTHONPATH=f"{ROOT}:{ROOT / 'bench'}",
        )
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True).stdout
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    import orjson

    return [tuple(row) for row in orjson.loads(out)]


def _weighted_case(expression: str, weights: dict[str, int]) -> str:
    """SQL: the name whose cumulative percentage band ``expression`` (0 <= x < 100) falls in."""
    total = sum(weights.values())
    arms, upto = [], 0
    for name, weight in weights.items():
        upto += weight
        arms.append(f"WHEN {expression} < {upto * 100 / total:.6f} THEN '{name}'")
    return "CASE " + " ".join(arms[:-1]) + f" ELSE '{list(weights)[-1]}' END"


def fill(conn, signals: int, templates: list[tuple[str, str, str]]) -> None:
    """1,000,000 signals (and their source events) with realistic spreads, written in bulk.

    Polls of 40 signals each, one every 21 minutes over a year, each of one source (weighted);
    per signal a weighted status, a type fitting its source, a probability and a confidence; the
    contract is a real one (made by the pipeline) with its ids replaced, so sizes and
    compressibility are those of real contracts. Indexes are dropped for the insert and rebuilt
    from their own definitions (the migrations' indexes, exactly).
    """
    conn.execute(
        "TRUNCATE signals_signal, signals_sourceevent, signals_probabilitypoint, signals_rejection, "
        "ledger_ledgeroutbox CASCADE"
    )
    conn.execute("CREATE TEMP TABLE template (n int PRIMARY KEY, signal_id text, trace_id text, contract text)")
    with conn.cursor().copy("COPY template (n, signal_id, trace_id, contract) FROM STDIN") as copy:
        for n, (signal_id, trace, contract) in enumerate(templates):
            copy.write_row((n, signal_id, trace, contract))
    started = time.perf_counter()
    # Source events: per source a block of ids, titles from the synthetic markets' questions.
    conn.execute("CREATE TEMP TABLE source_plan (source text PRIMARY KEY, first_event bigint, events int)")
    first = 1
    for source, events in EVENTS_PER_SOURCE.items():
        conn.execute("INSERT INTO source_plan VALUES (%s, %s, %s)", (source, first, events))
        conn.execute(
            """
            INSERT INTO signals_sourceevent
                (id, source, external_id, title, url, first_seen_at, last_seen_at, last_probability,
                 recent_history, latest_signal_id)
            SELECT %(first)s + e, %(source)s::text, (500000 + e)::text,
                   initcap(%(source)s::text) || ' watch ' || e || ': ' || (ARRAY[
                     'Will Houthi attacks close the Red Sea shipping route to container ships by 2027?',
                     'Will the Suez Canal suspend commercial transits for 48 hours before March 2027?',
                     'Will Iran close the Strait of Hormuz to tanker traffic before July 2027?',
                     'Will a dockworkers strike shut US East Coast ports before May 2027?',
                     'Will the Panama Canal cut daily transits because of drought by 2027?',
                     'Will the US impose new tariffs on Chinese semiconductors by November 2027?',
                     'Will the EU adopt new sanctions on Russian oil exports by September 2027?',
                     'Will China blockade Taiwan before January 2028?'])[1 + e %% 8],
                   'https://example.com/' || %(source)s::text || '/' || e,
                   timestamptz '2025-12-01 00:00Z', timestamptz '2026-12-01 00:00Z', 0.5, '[]', NULL
            FROM generate_series(0, %(events)s - 1) e
            """,
            {"first": first, "source": source, "events": events},
        )
        first += events
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('signals_sourceevent', 'id'), (SELECT max(id) FROM signals_sourceevent))"
    )

    # Drop the signal table's indexes and constraints (keeping their definitions) for the insert.
    indexes = conn.execute(
        """SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'signals_signal'
           AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'signals_signal'::regclass)"""
    ).fetchall()
    # Foreign keys pointing at the table first (they depend on its unique index), re-added last.
    constraints = conn.execute(
        """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE (conrelid = 'signals_signal'::regclass AND contype IN ('u', 'f'))
              OR (confrelid = 'signals_signal'::regclass AND contype = 'f')
           ORDER BY contype = 'u' DESC"""
    ).fetchall()
    for table, name, _ in reversed(constraints):
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')

    polls = -(-signals // SIGNALS_PER_POLL)
    poll_seconds = 365 * 86400 / polls
    source_case = _weighted_case("(g.poll * 2654435761 % 1000003) / 10000.03", SOURCE_WEIGHTS)
    status_case = _weighted_case("g.r_status * 100", STATUS_WEIGHTS)
    type_arms = []
    for source, types in TYPES_BY_SOURCE.items():
        listed = ", ".join(repr(t) for t in types)
        type_arms.append(f"WHEN '{source}' THEN (ARRAY[{listed}])[1 + (g.r_type * {len(types)})::int % {len(types)}]")
    type_case = "CASE p.source " + " ".join(type_arms) + " END"
    category_arms = " ".join(f"WHEN '{t}' THEN '{c}'" for t, c in CATEGORY_OF_TYPE.items())
    category_case = f"CASE x.signal_type {category_arms} END"
    conn.execute("SELECT setseed(0.42)")
    conn.execute(
        f"""
        INSERT INTO signals_signal
            (id, signal_id, event_id, source, source_event_id, input_event_hash, trace_id, ruleset_version,
             signal_type, status, category, confidence_level, title, probability, confidence,
             observed_at, generated_at, created_at, contract)
        SELECT g.i, x.signal_id, e.id, p.source, p.source || '-' || e.external_id,
               encode(sha256(('bench-' || g.i)::bytea), 'hex'), x.trace_id, '2026.12.0+bench',
               x.signal_type, {status_case}, {category_case},
               CASE WHEN g.confidence >= 0.7 THEN 'HIGH' WHEN g.confidence >= 0.4 THEN 'MEDIUM' ELSE 'LOW' END,
               e.title, round(g.probability::numeric, 4)::float8, round(g.confidence::numeric, 4)::float8,
               p.generated_at - make_interval(secs => g.r_observed * 600), p.generated_at,
               p.generated_at + interval '1 second',
               replace(replace(t.contract, t.signal_id, x.signal_id), t.trace_id, x.trace_id)
        FROM (
            SELECT i, (i - 1) / {SIGNALS_PER_POLL} AS poll, random() AS r_status, random() AS r_type,
                   random() AS r_event, random() AS r_observed,
                   0.03 + 0.94 * random() AS probability, 0.2 + 0.75 * random() AS confidence
            FROM generate_series(1, {signals}) i
        ) g
        CROSS JOIN LATERAL (
            SELECT g.poll, {source_case} AS source,
                   timestamptz '2025-12-01 00:00Z' + make_interval(secs => g.poll * {poll_seconds:.3f}) AS generated_at
        ) p
        JOIN source_plan sp ON sp.source = p.source
        JOIN signals_sourceevent e ON e.id = sp.first_event + (g.r_event * sp.events)::bigint % sp.events
        JOIN template t ON t.n = g.i % {len(templates)}
        CROSS JOIN LATERAL (
            SELECT lpad(to_hex((g.i * 2654435761) % 281474976710656), 12, '0') || lpad(to_hex(g.i % 65536), 4, '0')
                   AS trace_id,
                   {type_case} AS signal_type
        ) x0
        CROSS JOIN LATERAL (SELECT x0.trace_id, 'OMEN-' || upper(left(x0.trace_id, 12)) AS signal_id,
                                   x0.signal_type) x
        """
    )
    conn.execute("SELECT setval(pg_get_serial_sequence('signals_signal', 'id'), (SELECT max(id) FROM signals_signal))")
    inserted = time.perf_counter() - started
    for _, definition in indexes:
        conn.execute(definition)
    for table, name, definition in constraints:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    print(
        f"build: insert {inserted:.0f} s, indexes and constraints {time.perf_counter() - started - inserted:.0f} s",
        flush=True,
    )


# --- The server -----------------------------------------------------------------------------------


def server_env(url: str, workdir: Path) -> dict:
    """Production settings (OMEN_ENV=production refuses anything less), pointed at the bench database.

    The only departures: the throttle is raised out of the way (API_THROTTLE_RATE) and the app
    trusts X-Forwarded-Proto (as behind a TLS proxy), so plain HTTP on 127.0.0.1 is not redirected.
    """
    return dict(
        os.environ,
        OMEN_ENV="production",
        OMEN_ENV_FILE="/dev/null",
        OMEN_VAR_DIR=str(workdir),
        LEDGER_DIR=str(workdir / "ledger"),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=url,
        REDIS_URL=REDIS_URL,
        OMEN_CACHE_BACKEND="redis",
        API_THROTTLE_RATE="1000000/min",
        SECURE_PROXY_SSL_HEADER_ENABLED="true",
        LOG_LEVEL="WARNING",
    )


def issue_key(env: dict, tree: Path) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", "api_key", "create", "bench-api", "--scopes", "read:signals"],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Http:
    """One keep-alive HTTP/1.1 connection, as a load generator holds it: ``get(path)`` → (status, body).

    The standard library's client costs the generator 0.18 ms of CPU per request where httpx took
    0.50 ms (measured on this list): on two cores shared with the server, that CPU is requests/s
    the server does not get. A connection the server closed (gunicorn's keep-alive timeout) is
    opened again once.
    """

    def __init__(self, base: str, headers: dict, timeout: float = 60):
        parts = urllib.parse.urlsplit(base)
        self.host, self.port, self.headers, self.timeout = parts.hostname, parts.port, headers, timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def json(self, path: str):
        status, body = self.get(path)
        if status != 200:
            raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)

    def close(self):
        self.conn.close()


def start_gunicorn(env: dict, tree: Path, port: int, worker_class: str, workers: int, threads: int) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "omen_site.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(command, cwd=tree, env=env)


def wait_ready(base: str, headers: dict, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        client = Http(base, headers, timeout=5)
        try:
            if client.get(LIST_URL + "&limit=1")[0] == 200:
                return
        except OSError:
            pass
        finally:
            client.close()
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 60 s")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (gunicorn's master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                pids.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def database_cpu_seconds() -> float:
    """User + system CPU of the PostgreSQL backends serving the bench database (this machine's)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f" {BENCH_DB} ".encode() not in (proc / "cmdline").read_bytes().replace(b"\0", b" "):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


# --- The load -------------------------------------------------------------------------------------


def _clients(job) -> tuple[list[float], int, float, int]:
    """One load process: ``threads`` clients, each with its own keep-alive connection.

    Each client sends its next request as soon as the last one is answered (a closed loop); the
    latencies of requests that start inside [start, stop) are kept.
    """
    base, headers, urls, threads, offset, start, stop = job
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    sent = [0] * threads  # warm-up included: the CPU figures cover it too

    def client(n):
        http = Http(base, headers)
        k = offset + n
        while (now := time.monotonic()) < stop:
            url = urls[k % len(urls)]
            k += 1
            began = time.perf_counter()
            status, _ = http.get(url)
            took = time.perf_counter() - began
            sent[n] += 1
            if now >= start:
                latencies[n].append(took)
                errors[n] += status != 200
        http.close()

    import resource

    before = resource.getrusage(resource.RUSAGE_SELF)
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return [t for per in latencies for t in per], sum(errors), cpu, sum(sent)


def load(base, headers, urls, concurrency, seconds, warmup=1.0, max_processes=8) -> dict:
    """``concurrency`` clients for ``seconds`` (after ``warmup``), spread over up to 8 processes."""
    processes = min(concurrency, max_processes)
    per = [concurrency // processes + (p < concurrency % processes) for p in range(processes)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        # Spawning (imports) happens before the clock starts: the first job only imports this module.
        pool.map(_started, range(processes))
        start = time.monotonic() + 0.2 + warmup
        stop = start + seconds
        cpu_before, server_before, database_before = machine_cpu_seconds(), load.server_cpu(), database_cpu_seconds()
        jobs = [(base, headers, urls, n, sum(per[:p]), start, stop) for p, n in enumerate(per)]
        results = pool.map(_clients, jobs)
        cpu_after, server_after, database_after = machine_cpu_seconds(), load.server_cpu(), database_cpu_seconds()
        pool.close()
        pool.join()
    latencies = sorted(t for r in results for t in r[0])
    elapsed_cpu = cpu_after[1] - cpu_before[1]
    generator = sum(r[2] for r in results)
    sent = max(1, sum(r[3] for r in results))
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": sum(r[1] for r in results),
        "rate": len(latencies) / seconds,
        **percentiles(latencies),
        # CPU shares over the whole run (warm-up included), in cores out of the machine's.
        "cpu_busy": (cpu_after[0] - cpu_before[0]) / elapsed_cpu * os.cpu_count(),
        "cpu_server": (server_after - server_before) / elapsed_cpu * os.cpu_count(),
        "cpu_generator": generator / elapsed_cpu * os.cpu_count(),
        "cpu_database": (database_after - database_before) / elapsed_cpu * os.cpu_count(),
        # CPU per request, over every request of the run (warm-up included, as the CPU is).
        "ms_server": (server_after - server_before) * 1000 / sent,
        "ms_database": (database_after - database_before) * 1000 / sent,
        "ms_generator": generator * 1000 / sent,
    }


load.server_cpu = lambda: 0.0


def _started(_):
    return os.getpid()


def percentiles(latencies: list[float]) -> dict:
    if not latencies:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(latencies)

    def at(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": ordered[-1] * 1000}


def sequential(fetch, count: int, warmup: int = 20) -> dict:
    """``fetch()`` ``count`` times one after the other (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        fetch()
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        fetch()
        latencies.append(time.perf_counter() - began)
    return {"requests": count, **percentiles(latencies)}


# --- The SQL the API runs -------------------------------------------------------------------------


def captured_sql(url: str, key: str, paths: list[str], tree: Path) -> dict[str, list[str]]:
    """The signal queries each path makes, as the text Django sends (in a child process with Django).

    Django's PostgreSQL backend binds parameters on the client, so ``mogrify`` gives the statement
    exactly as the server receives it.
    """
    code = (
        "import django, orjson, sys; django.setup()\n"
        "from django.db import connection\n"
        "from django.test import Client\n"
        "paths, key, found = orjson.loads(sys.argv[1]), sys.argv[2], {}\n"
        "def capture(execute, sql, params, many, context):\n"
        "    if 'FROM \"signals_signal\"' in sql:\n"
        "        found.setdefault(current, []).append(context['cursor'].cursor.mogrify(sql, params))\n"
        "    return execute(sql, params, many, context)\n"
        "client = Client(SERVER_NAME='127.0.0.1', HTTP_X_API_KEY=key, HTTP_X_FORWARDED_PROTO='https')\n"
        "with connection.execute_wrapper(capture):\n"
        "    for current in paths:\n"
        "        assert client.get(current).status_code == 200, current\n"
        "sys.stdout.write(orjson.dumps(found).decode())\n"
    )
    import orjson

    env = dict(
        os.environ,
        DATABASE_URL=url,
        OMEN_ENV_FILE="/dev/null",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        API_THROTTLE_RATE="1000000/min",
        DJANGO_SETTINGS_MODULE="omen_site.settings",
        PYTHONPATH=str(tree),
    )
    out = subprocess.run(
        [sys.executable, "-c", code, orjson.dumps(paths).decode(), key],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
    ).stdout
    return orjson.loads(out)


def raw_sql_fetch(url: str, sql: str):
    import psycopg

    conn = psycopg.connect(url, autocommit=True)

    def fetch():
        return conn.execute(sql).fetchall()

    fetch.conn = conn
    return fetch


# --- The run ----------------------------------------------------------------------------------------


def path_of(link: str) -> str:
    parts = urllib.parse.urlsplit(link)
    return f"{parts.path}?{parts.query}"


def walk(http, pages: int) -> tuple[str, list[float]]:
    """Follow ``next`` from page 1 to page ``pages``; the last page's path and every page's time."""
    path, times = LIST_URL, []
    for page in range(1, pages + 1):
        began = time.perf_counter()
        body = http.json(path)
        times.append(time.perf_counter() - began)
        if page < pages:
            path = path_of(body["next"])
    return path, times


def alternate(fetches: dict, count: int, warmup: int = 20) -> dict[str, dict]:
    """Each fetch ``count`` times, taking turns (so a slow moment of the machine hits them alike)."""
    for fetch in fetches.values():
        for _ in range(warmup):
            fetch()
    latencies = {name: [] for name in fetches}
    for _ in range(count):
        for name, fetch in fetches.items():
            began = time.perf_counter()
            fetch()
            latencies[name].append(time.perf_counter() - began)
    return {name: {"requests": count, **percentiles(values)} for name, values in latencies.items()}


def line(label: str, figures: dict) -> str:
    rate = f"{figures['rate']:7,.0f} req/s  " if "rate" in figures else " " * 15
    text = (
        f"  {label:<34} {rate}p50 {figures['p50']:6.2f}  p90 {figures['p90']:6.2f}  p99 {figures['p99']:6.2f}  "
        f"max {figures['max']:7.2f} ms  ({figures['requests']:,} requests"
    )
    if "errors" in figures:
        text += f", {figures['errors']} not 200"
    text += ")"
    if "cpu_busy" in figures:
        rest = figures["cpu_busy"] - figures["cpu_server"] - figures["cpu_generator"] - figures["cpu_database"]
        text += (
            f"\n  {'':<34} cores busy {figures['cpu_busy']:.2f} of {os.cpu_count()}: "
            f"gunicorn {figures['cpu_server']:.2f}, PostgreSQL {figures['cpu_database']:.2f}, "
            f"load generator {figures['cpu_generator']:.2f}, anything else {rest:.2f}\n"
            f"  {'':<34} CPU ms per request: gunicorn {figures['ms_server']:.2f}, "
            f"PostgreSQL {figures['ms_database']:.2f}, load generator {figures['ms_generator']:.2f}"
        )
    return text


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(args, url: str) -> None:
    import psycopg

    tree = Path(args.tree).resolve()
    workdir = Path(tempfile.mkdtemp(prefix="omen-bench-api-"))
    (workdir / "ledger").mkdir()
    env = server_env(url, workdir)
    # Migrations added since the build (an index, a table) reach the reused database first.
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=tree, env=env, check=True)
    key = issue_key(env, tree)
    port = free_port()
    server = start_gunicorn(env, tree, port, args.worker_class, args.workers, args.threads)
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {"X-API-Key": key, "X-Forwarded-Proto": "https"}
        wait_ready(base, headers, server)
        load.server_cpu = lambda: process_cpu_seconds(server.pid)
        with psycopg.connect(url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            count = conn.execute("SELECT count(*) FROM signals_signal").fetchone()[0]
            matching = conn.execute(
                "SELECT count(*) FROM signals_signal WHERE source = 'polymarket' AND status = 'ACTIVE'"
            ).fetchone()[0]
        memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2
        print(
            f"machine: {os.cpu_count()} cores, {memory:.1f} GiB, Python {sys.version.split()[0]}, "
            f"PostgreSQL {version}; load average {load_average()}\n"
            f"data: {count:,} signals, {matching:,} of them polymarket/ACTIVE\n"
            f"tree: {tree}\nserver: gunicorn {args.workers} x {args.worker_class} worker(s)"
            + (f", {args.threads} threads each" if args.worker_class == "gthread" else "")
            + f", OMEN_ENV=production, Redis cache, API_THROTTLE_RATE=1000000/min\n"
            f"list: {LIST_URL} (50 rows a page)",
            flush=True,
        )
        load(base, headers, MIXED_URLS, args.concurrency, 3, warmup=0)  # warm every worker

        http = Http(base, headers)
        began = time.perf_counter()
        page_n, times = walk(http, args.pages)
        walked = time.perf_counter() - began
        print(
            f"walk: page 1 to {args.pages:,} by next links in {walked:.1f} s ({walked / args.pages * 1000:.2f} ms "
            f"a page); pages 1-10 p50 {statistics.median(times[:10]) * 1000:.2f} ms, "
            f"pages {args.pages - 9:,}-{args.pages:,} p50 {statistics.median(times[-10:]) * 1000:.2f} ms",
            flush=True,
        )
        sql = captured_sql(url, key, [LIST_URL, page_n], tree)
        for path in (LIST_URL, page_n):
            if len(sql.get(path, [])) != 1:
                print(f"note: {path} ran {len(sql.get(path, []))} signal queries; timing the first", flush=True)
        print(f"the API's query (page 1):\n  {sql[LIST_URL][0]}", flush=True)
        raw_1, raw_n = raw_sql_fetch(url, sql[LIST_URL][0]), raw_sql_fetch(url, sql[page_n][0])
        for fetch, path in ((raw_1, LIST_URL), (raw_n, page_n)):
            fetch.plan = [row[0] for row in fetch.conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql[path][0])]

        def api(path):
            def fetch():
                status, body = http.get(path)
                if status != 200:
                    raise SystemExit(f"GET {path}: {status} {body[:300]!r}")

            return fetch

        rounds = []
        for number in range(1, args.rounds + 1):
            print(f"round {number} (load average {load_average()})", flush=True)
            figures = {}
            seq = alternate(
                {"api 1": api(LIST_URL), "api n": api(page_n), "sql 1": raw_1, "sql n": raw_n, "live": api(LIVE_URL)},
                args.sequential,
            )
            figures["API c=1 page 1"] = seq["api 1"]
            figures[f"API c=1 page {args.pages:,}"] = seq["api n"]
            figures["SQL c=1 page 1"] = seq["sql 1"]
            figures[f"SQL c=1 page {args.pages:,}"] = seq["sql n"]
            figures[f"c=1 {LIVE_URL} (no query)"] = seq["live"]
            c = args.concurrency
            figures[f"API c={c} page 1"] = load(base, headers, [LIST_URL], c, args.seconds)
            figures[f"API c={c} page {args.pages:,}"] = load(base, headers, [page_n], c, args.seconds)
            figures[f"API c={c} mixed filters, page 1"] = load(base, headers, MIXED_URLS, c, args.seconds)
            for level in args.sweep:
                if level != c:
                    figures[f"API c={level} page 1"] = load(base, headers, [LIST_URL], level, args.seconds)
            for label, values in figures.items():
                print(line(label, values), flush=True)
            rounds.append(figures)
        if args.rounds > 1:
            print(f"medians of {args.rounds} rounds (load average {load_average()})")
            for label in rounds[0]:
                print(line(label, {k: statistics.median(r[label][k] for r in rounds) for k in rounds[0][label]}))
        last = rounds[-1]
        p50 = {label: statistics.median(r[label]["p50"] for r in rounds) for label in last}
        c = args.concurrency
        print(
            f"API p50 / raw SQL p50, page 1: {p50['API c=1 page 1'] / p50['SQL c=1 page 1']:.1f}x at c=1, "
            f"{p50[f'API c={c} page 1'] / p50['SQL c=1 page 1']:.1f}x at c={c} (target <= 5x); "
            f"{LIVE_URL}, a Django view with no query, through the same server and client: "
            f"{p50[f'c=1 {LIVE_URL} (no query)'] / p50['SQL c=1 page 1']:.1f}x\n"
            f"page {args.pages:,} / page 1, p50: API c=1 "
            f"{p50[f'API c=1 page {args.pages:,}'] / p50['API c=1 page 1']:.2f}, API c={c} "
            f"{p50[f'API c={c} page {args.pages:,}'] / p50[f'API c={c} page 1']:.2f}, SQL "
            f"{p50[f'SQL c=1 page {args.pages:,}'] / p50['SQL c=1 page 1']:.2f}"
        )
        best = max(
            (statistics.median(r[label]["rate"] for r in rounds), label)
            for label in last
            if "rate" in last[label] and label.endswith(" page 1") and "mixed" not in label
        )
        print(f"throughput at saturation (page 1, median of rounds): {best[0]:,.0f} req/s at {best[1].split()[1]}")
        for name, fetch in (("page 1", raw_1), (f"page {args.pages:,}", raw_n)):
            print(f"plan, {name}:\n    " + "\n    ".join(fetch.plan))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help=f"drop and rebuild {BENCH_DB}")
    parser.add_argument("--signals", type=int, default=SIGNALS)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (one per core)")
    parser.add_argument("--worker-class", default="gthread", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--concurrency", type=int, default=8, help="clients of the fixed-concurrency runs")
    parser.add_argument("--sweep", type=int, nargs="*", default=[4, 16, 32], help="more concurrencies, page 1")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each concurrent run")
    parser.add_argument("--sequential", type=int, default=300, help="requests of each c=1 series")
    parser.add_argument("--pages", type=int, default=1000, help="the deep page, reached by next links")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", default=str(ROOT), help="serve this checkout (default: this one)")
    args = parser.parse_args()
    url = database_url(BENCH_DB)
    count = None if args.rebuild else filled_count(url)
    if count != args.signals:
        build(url, args.signals)
    measure(args, url)


if __name__ == "__main__":
    main()
