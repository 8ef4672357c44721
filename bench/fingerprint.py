#!/usr/bin/env python
"""What a refactor must not change: a digest of every row and frame that real and synthetic inputs produce.

Ingests the recorded replies of every source (``../shared/fixtures/recorded``) and a synthetic
Polymarket series built to trip every anomaly check, each file through ``manage.py ingest_file``
into a fresh database, then prints a SHA-256 per table (signals with their contracts, source
events with their history, probability points, rejections) and of the ledger's frames (minus
the write times and the chain hashes that depend on them). A second part feeds the pure pipeline
events with random histories and trader counts directly and digests every decision.

Run it on two checkouts and compare the lines::

    .venv/bin/python bench/fingerprint.py                       # this checkout, SQLite
    .venv/bin/python bench/fingerprint.py --tree /tmp/before --backend postgresql
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import struct
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT.parent / "shared" / "fixtures" / "recorded"
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
FETCHED_AT = "2026-02-08T12:00:00+00:00"

RECORDED_INPUTS = [
    ("polymarket_gamma_markets_active_part1.json", "polymarket"),
    ("polymarket_gamma_events_active_1event.json", "polymarket"),
    ("openmeteo_v1_forecast_hourly_tampa.json", "openmeteo"),
    ("openmeteo_v1_marine_hourly_tampa.json", "openmeteo"),
    ("newsapi_v2_everything_q_tesla_part1.json", "newsapi"),
    ("newsdata_api1_latest_size5.json", "newsdata"),
]
YAHOO_CASSETTE = "yahoo_v8_chart_AAPL_1d_2020-08-31_2020-11-07_cassette.json"

# Rows in a stable order, without the columns that record when a row was written.
TABLE_QUERIES = {
    "signals": "SELECT signal_id, source, source_event_id, input_event_hash, trace_id, ruleset_version, signal_type,"
    " status, category, confidence_level, title, probability, confidence, observed_at, generated_at, contract"
    " FROM signals_signal ORDER BY signal_id",
    "source_events": "SELECT source, external_id, title, url, first_seen_at, last_seen_at, last_probability,"
    " recent_history, latest_signal_id FROM signals_sourceevent ORDER BY source, external_id",
    "points": "SELECT e.source, e.external_id, p.observed_at, p.probability, p.volume, p.liquidity"
    " FROM signals_probabilitypoint p JOIN signals_sourceevent e ON e.id = p.source_event_id"
    " ORDER BY e.source, e.external_id, p.observed_at",
    "rejections": "SELECT source, external_id, input_hash, stage, rule, rule_version, status, reason, field, score,"
    " excerpt, observed_at FROM signals_rejection ORDER BY source, external_id, input_hash, stage",
}
# Envelope fields that depend on when the frame was written, not on the input.
UNSTABLE_ENVELOPE_FIELDS = ("ledger_written_at", "emitted_at", "prev_hash")


def adversarial_polls(markets: int = 60, polls: int = 14, seed: int = 11) -> list[list[dict]]:
    """Gamma market polls whose prices jump, stick, hit the extremes and whose volumes spike."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 10, tzinfo=UTC)
    prices = [rng.uniform(0.1, 0.9) for _ in range(markets)]
    volumes = [rng.uniform(50_000, 900_000) for _ in range(markets)]
    result = []
    for poll in range(polls):
        chunk = []
        for market in range(markets):
            style = market % 6
            if style == 0:  # a quiet walk
                prices[market] = min(0.94, max(0.06, prices[market] + rng.uniform(-0.01, 0.01)))
            elif style == 1 and poll in (10, 12):  # a jump after a quiet history
                prices[market] = 0.97 if prices[market] < 0.5 else 0.02
            elif style == 2:  # stuck at one price: zero spread in the history
                prices[market] = 0.5
            elif style == 3 and poll == 11:  # a volume spike
                volumes[market] *= 40
            elif style == 4:  # near the extremes
                prices[market] = rng.choice([0.01, 0.03, 0.97, 0.99, 0.5])
            else:
                prices[market] = min(0.99, max(0.01, prices[market] + rng.uniform(-0.2, 0.2)))
            volumes[market] += rng.uniform(0, 5_000)
            chunk.append(
                {
                    "id": str(3_000_000 + market),
                    "question": f"Will the Suez Canal close to container ships before March 2027? (#{market})",
                    "description": "Resolves Yes if transits through the Suez Canal stop for 48 hours.",
                    "slug": f"fingerprint-{market}",
                    "outcomePrices": json.dumps([f"{prices[market]:.4f}", f"{1 - prices[market]:.4f}"]),
                    "liquidityNum": 25_000 + market,
                    "volumeNum": round(volumes[market], 2),
                    "oneDayPriceChange": None if market % 5 == 0 else round(rng.uniform(-0.7, 0.7), 4),
                    "updatedAt": (start + timedelta(hours=poll)).isoformat().replace("+00:00", "Z"),
                }
            )
        result.append(chunk)
    return result


def inputs(workdir: Path) -> list[tuple[Path, str]]:
    files = [(RECORDED / name, source) for name, source in RECORDED_INPUTS]
    body = json.loads((RECORDED / YAHOO_CASSETTE).read_text())["response"]["bodyJson"]
    yahoo = workdir / "yahoo_chart.json"
    yahoo.write_text(json.dumps(body))
    files.append((yahoo, "yahoo"))
    for number, poll in enumerate(adversarial_polls()):
        path = workdir / f"adversarial-{number:02d}.json"
        path.write_text(json.dumps(poll))
        files.append((path, "polymarket"))
    return files


def fresh_database(backend: str, workdir: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'fingerprint.sqlite3'}", None
    import psycopg

    name = f"omen_fingerprint_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(name: str | None) -> None:
    if name is None:
        return
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(url: str, sql: str) -> list[tuple]:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute(sql).fetchall()


def normalised(value):
    """The same value read from SQLite (text) and PostgreSQL (datetime) digests alike."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == " ":
        return value if "." in value else value + ".000000"
    return value


def digest_rows(rows) -> tuple[int, str]:
    hasher = hashlib.sha256()
    count = 0
    for row in rows:
        hasher.update(json.dumps([normalised(v) for v in row], default=str).encode())
        count += 1
    return count, hasher.hexdigest()[:16]


def ledger_frames(ledger_dir: Path):
    """Every frame's envelope in write order, minus the fields that depend on the clock."""
    for segment in sorted(ledger_dir.glob("*/signals-*.wal")):
        data = segment.read_bytes()
        offset = 0
        while offset + 8 <= len(data):
            length, _crc = struct.unpack(">II", data[offset : offset + 8])
            envelope = json.loads(data[offset + 8 : offset + 8 + length])
            for name in UNSTABLE_ENVELOPE_FIELDS:
                envelope.pop(name, None)
            envelope.pop("ledger_partition", None)  # the UTC day of the write
            yield (json.dumps(envelope, sort_keys=True),)
            offset += 8 + length


def database_part(tree: Path, backend: str) -> dict[str, tuple[int, str]]:
    with tempfile.TemporaryDirectory(prefix="omen-fingerprint-") as tmp:
        workdir = Path(tmp)
        url, name = fresh_database(backend, workdir)
        try:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LEDGER_", "OMEN_"))},
                "DATABASE_URL": url,
                "OMEN_ENV_FILE": "/dev/null",
                "OMEN_VAR_DIR": str(workdir / "var"),
                "LOG_LEVEL": "WARNING",
                "DEBUG": "false",
            }

            def manage(*args):
                subprocess.run([sys.executable, "manage.py", *args], cwd=tree, env=env, check=True, capture_output=True)

            manage("migrate", "--no-input")
            for path, source in inputs(workdir):
                manage("ingest_file", str(path), f"--source={source}", f"--fetched-at={FETCHED_AT}")
            figures = {table: digest_rows(query(url, sql)) for table, sql in TABLE_QUERIES.items()}
            figures["ledger frames"] = digest_rows(ledger_frames(workdir / "var" / "ledger"))
            return figures
        finally:
            drop_database(name)


PURE_PART = r"""
import hashlib, json, random, sys
from datetime import UTC, datetime, timedelta
sys.path.insert(0, sys.argv[1])
from signals.pipeline import Accepted, HistoryPoint, PipelineContext, RawEvent, evaluate

rng = random.Random(5)
hasher = hashlib.sha256()
start = datetime(2026, 3, 1, tzinfo=UTC)
titles = [
    "Will Houthi attacks close the Red Sea shipping route by June?",
    "Will a port strike shut Rotterdam before May?",
    "Will the Strait of Hormuz close to tankers in 2027?",
]
for n in range(3000):
    observed = start + timedelta(hours=n % 500)
    history = []
    for k in range(rng.choice([0, 3, 9, 10, 12, 30])):
        p = rng.choice([0.5, 0.5, rng.uniform(0.0, 1.0)])
        history.append(HistoryPoint(observed - timedelta(hours=k + 1), p, rng.choice([1e5, 1e5, rng.uniform(0, 1e7)])))
    market = f"m{n % 97}"
    event = RawEvent(
        source="polymarket", external_id=market, event_id=f"polymarket-{market}", title=rng.choice(titles),
        description="Shipping through the Suez Canal.", probability=rng.choice([0.01, 0.5, 0.97, rng.random()]),
        observed_at=observed, movement=rng.choice([None, 0.0, 0.6, -0.7, rng.uniform(-1, 1)]),
        volume=rng.choice([5e3, 2e4, 1e6, rng.uniform(0, 5e7)]), liquidity=rng.choice([500.0, 5e4, 1e6]),
        trader_count=rng.choice([None, 3, 9, 50]),
    )
    outcome = evaluate(event, PipelineContext(history={event.market_key: history}))
    if isinstance(outcome, Accepted):
        text = json.dumps(outcome.signal, sort_keys=True, default=str)
    else:
        text = repr((outcome.stage, outcome.rule, outcome.rule_version, outcome.status, outcome.reason, outcome.score))
    hasher.update(text.encode())
print(hasher.hexdigest()[:16])
"""


def pure_part(tree: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PURE_PART, str(tree)], cwd=tree, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to fingerprint (default: this one)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    tree = args.tree.resolve()
    print(f"{tree} on {args.backend}")
    for table, (count, digest) in database_part(tree, args.backend).items():
        print(f"  {table:<14} {count:6d} rows  sha256 {digest}")
    print(f"  {'pipeline':<14} {3000:6d} decisions  sha256 {pure_part(tree)}")


if __name__ == "__main__":
    main()
