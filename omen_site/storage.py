"""Where this process keeps its data, described for logs and reports."""

import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone

from ledger.public import ledger_summary
from retention.models import Backup
from retention.public import policy_status
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

    Where the data is, whether it survives a restart, how much there is, the ledger's state, and
    the backups and retention policies the text report shows: a monitor reading this must see a
    failed or unproven backup (``backups.problem``) as an operator reading the text does.
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
        "backups": backup_report(),
        "retention": retention_report(),
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


def backup_report(now=None) -> dict:
    """The newest backup and the newest proven one, with their ages; ``problem`` says, in a
    sentence, why the newest cannot be counted on (none yet, failed, not proven), else None."""
    now = now or timezone.now()
    newest = Backup.objects.order_by("-started_at", "-id").first()
    proven = Backup.objects.filter(status=Backup.Status.OK, proven_at__isnull=False).order_by("-started_at", "-id")

    def facts(backup: Backup | None) -> dict | None:
        if backup is None:
            return None
        return {
            "id": backup.pk,
            "started_at": backup.started_at.isoformat(),
            "age_hours": round((now - backup.started_at).total_seconds() / 3600, 1),
            "status": backup.status,
            "proven_at": backup.proven_at.isoformat() if backup.proven_at else None,
            "path": str(backup.directory) if backup.directory else None,
            "bytes": backup.bytes,
            "error": backup.error,
        }

    if newest is None:
        problem = "no backup yet: run `manage.py backup` (the beat schedule makes one a day)"
    elif newest.status == Backup.Status.FAILED:
        problem = f"the newest backup FAILED: {newest.error}"
    elif not newest.proven:
        problem = "the newest backup is NOT PROVEN yet (still running, or its process was killed)"
    else:
        problem = None
    return {"newest": facts(newest), "newest_proven": facts(proven.first()), "problem": problem}


def retention_report(now=None) -> list[dict]:
    """Each retention policy: what it keeps, its oldest record, what has expired now, its last run."""
    rows = []
    for status in policy_status(now):
        policy, run = status.policy, status.last_run
        rows.append(
            {
                "policy": policy.name,
                "keep_for_days": round(policy.keep_for.total_seconds() / 86400, 2),
                "max_per_key": policy.max_per_key,
                "enabled": policy.enabled,
                "oldest": status.oldest.isoformat() if status.oldest else None,
                "expired": status.expired,
                "last_run": None
                if run is None
                else {"started_at": run.started_at.isoformat(), "status": run.status, "deleted": run.deleted},
            }
        )
    return rows
