"""Where this process keeps its data, described for logs and reports."""

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings


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
