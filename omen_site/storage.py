"""Where this process keeps its data, described for logs and reports."""

import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from ledger.public import ledger_summary
from signals.public import signal_counts_by_source_and_status, signal_time_range, storage_totals


@dataclass(frozen=True)
class StorageDescription:
    mode: str
    database_engine: str
    database: str
    persistent: bool
    broker: str
    cache: str
    ledger_dir: str


def redact_url(url: str) -> str:
    """Hide the password of a URL so it can be logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def describe_storage() -> StorageDescription:
    db = settings.DATABASES["default"]
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        name = str(db["NAME"])
        # An in-memory SQLite database (tests) is gone when the process exits.
        persistent = not (name == ":memory:" or "mode=memory" in name)
        location = f"sqlite:{name}"
    else:
        persistent = True
        host, port = db.get("HOST") or "localhost", db.get("PORT") or ""
        location = f"{engine}://{db.get('USER') or ''}@{host}:{port}/{db['NAME']}"
    broker = redact_url(settings.CELERY_BROKER_URL)
    if broker.startswith("filesystem://"):
        broker = f"filesystem:{settings.CELERY_BROKER_DIR}"
    cache_backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    cache_location = settings.CACHES["default"].get("LOCATION", "")
    cache = f"{cache_backend} {redact_url(cache_location)}".strip()
    return StorageDescription(
        mode=settings.OMEN_ENV,
        database_engine=engine,
        database=location,
        persistent=persistent,
        broker=broker,
        cache=cache,
        ledger_dir=str(settings.LEDGER_DIR),
    )


def storage_report() -> dict:
    """What ``manage.py storage_report --json`` prints and ``/api/v1/storage/`` answers.

    Where the data is, whether it survives a restart, how much there is, and the ledger's state.
    """
    storage = describe_storage()
    time_range = signal_time_range()
    return {
        "mode": storage.mode,
        "database_engine": storage.database_engine,
        "database": storage.database,
        "persists_across_restarts": storage.persistent,
        "broker": storage.broker,
        "cache": storage.cache,
        "ledger_dir": storage.ledger_dir,
        "ledger": _ledger_facts(Path(settings.LEDGER_DIR)) | ledger_summary(),
        "totals": storage_totals(),
        "signals_by_source_and_status": signal_counts_by_source_and_status(),
        "oldest_signal_at": time_range["oldest"].isoformat() if time_range["oldest"] else None,
        "newest_signal_at": time_range["newest"].isoformat() if time_range["newest"] else None,
    }


def _ledger_facts(ledger_dir: Path) -> dict:
    if not ledger_dir.exists():
        return {"exists": False, "writable": False, "files": 0, "bytes": 0}
    files = total = 0
    for path in ledger_dir.rglob("*"):
        try:
            stat = path.stat()
        except FileNotFoundError:  # compressed or archived by a tier task since it was listed
            continue
        if S_ISREG(stat.st_mode):
            files, total = files + 1, total + stat.st_size
    return {
        "exists": True,
        "writable": os.access(ledger_dir, os.W_OK | os.X_OK),
        "files": files,
        "bytes": total,
    }
