"""OMEN settings: one module, driven by the environment.

Development (the default) needs nothing set: SQLite under ``var/``, no broker
server, local-memory cache. ``OMEN_ENV=production`` refuses to start unless
the configuration can keep the durability promise (PostgreSQL, a real secret,
DEBUG off); every refusal names the variable and the fix.
"""

import os
import warnings
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as cors_default_headers
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from omen_site.api.rates import parse_rate
from omen_site.environment import StrictEnv

BASE_DIR = Path(__file__).resolve().parent.parent

# Booleans and numbers are read strictly (omen_site/environment.py): DEBUG=ture, a unit after a
# number or a value out of its range stops the start naming the variable, rather than reading as
# false, as the digits before the unit, or as a value that fails on every request.
env = StrictEnv()
# An env file is optional; real environment variables always win over it.
_env_file = Path(env.str("OMEN_ENV_FILE", default=str(BASE_DIR / ".env")))
if _env_file.is_file():
    environ.Env.read_env(_env_file, overwrite=False)

OMEN_ENV = env.str("OMEN_ENV", default="development")
if OMEN_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"OMEN_ENV={OMEN_ENV!r} is not a known mode: set OMEN_ENV to 'development' or 'production'."
    )
IS_PRODUCTION = OMEN_ENV == "production"

VAR_DIR = Path(env.str("OMEN_VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
# Development gets a fixed, visibly insecure key; production has no default.
SECRET_KEY = env.str("SECRET_KEY", default="" if IS_PRODUCTION else "django-insecure-omen-development-only")
# Entries are stripped and blank ones dropped (StrictEnv.list): ALLOWED_HOSTS=" " is empty.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
# Production refuses ALLOWED_HOSTS=* unless this says it is meant (a proxy in front checks Host).
ALLOW_ANY_HOST = env.bool("ALLOW_ANY_HOST", default=False)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "corsheaders",
    "axes",
    "csp",
    "omen_site.apps.OmenSiteConfig",
    "signals.apps.SignalsConfig",
    "ledger.apps.LedgerConfig",
    "retention.apps.RetentionConfig",
]

MIDDLEWARE = [
    # Outermost, so that every answer carries an X-Request-ID and an API error names the request,
    # even a refusal of SecurityMiddleware's (a Host not in ALLOWED_HOSTS meets its HTTPS redirect).
    "omen_site.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer: CONTENT_SECURITY_POLICY below, or a view's own.
    "csp.middleware.CSPMiddleware",
    # Operations: times every request (by route), then CORS before anything that may answer early.
    "omen_site.operations.metrics.RequestLatencyMiddleware",
    # Logs every request under /api/ (timed from here), buffered and written in bulk.
    "omen_site.api.access_log.ApiAccessLogMiddleware",
    # Error pages under /api/ in the error shape before the log above records their size.
    "omen_site.middleware.ApiErrorPageMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's CommonMiddleware, with a 308 for an API path missing its slash (keeps a POST's body).
    "omen_site.middleware.SlashRedirectMiddleware",
    "omen_site.middleware.StorableQueryMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "omen_site.api.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "omen_site.urls"
WSGI_APPLICATION = "omen_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Admin access: roles, lockouts, passwords (docs/operations.md, "Admin access") ----------------
# The roles are groups made by omen_site/migrations/0005_roles.py.

# django-axes refuses a login, before any password is checked, once a username has failed
# AXES_FAILURE_LIMIT times from one address within the cool-off, and records every failure.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 10
# Locked: the pair (username, address). Guessing at one name locks out neither its owner elsewhere
# nor the other users behind the same address (an office's NAT). The address is the one the API's
# throttle and access log read (TRUSTED_PROXIES below): with proxies in front of the site and the
# setting left at 0 it is the proxy's, and a lockout then covers the name everywhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "omen_site.client_address.client_address"
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
if AXES_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured(
        f"AXES_COOLOFF_MINUTES={AXES_COOLOFF_MINUTES} would lift a lockout at once: set it to 1 or more (default 15)."
    )
# Counted from the last failure: each attempt while locked, even with the right password, starts it again.
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_RESET_ON_SUCCESS = True  # a login that succeeds forgets that pair's earlier failures
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # shared by every process, no cache needed
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure kept (admin: Axes -> Access failures)
AXES_LOCKOUT_CALLABLE = "omen_site.admin_access.lockout_response"
AXES_VERBOSE = False  # no start-up line of its own: OMEN's one line names what matters

# New and changed passwords are hashed with Argon2; the others verify the hashes made before,
# and each is rehashed with Argon2 at its user's next login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# The admin's Content-Security-Policy (django-csp), sent with every answer whose view sets none
# (the API's docs pages set their own: omen_site/operations/docs.py). Every script of the admin is
# a file from this site, Django's and ours, so no script may run inline. Inline style attributes
# are allowed (style-src-attr), inline <style> elements are not: our read-only pages style single
# elements (the contract's <pre>, a paused webhook), and an attribute runs no code and, having no
# selectors and no fetch beyond img-src, reads nothing out of the page.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
if IS_PRODUCTION:
    # Serves the admin's collected static files without a separate server;
    # in development runserver serves them.
    # Right after SecurityMiddleware, as WhiteNoise asks.
    _security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware")
    MIDDLEWARE.insert(_security + 1, "whitenoise.middleware.WhiteNoiseMiddleware")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Checks an operator has judged harmless for this deployment, e.g. signals.W001 when polls run
# on several workers (comma-separated ids).
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# --- Database ---------------------------------------------------------------

if env.str("DATABASE_URL", default="unset") == "":
    raise ImproperlyConfigured(
        "DATABASE_URL is set but empty: unset it (SQLite under var/) or set DATABASE_URL=postgres://USER@HOST:5432/NAME."
    )
if "DATABASE_URL" not in os.environ:
    # The embedded default lives in var/, which a fresh clone lacks. Creating it here, not in a
    # system check, because Django runs checks in no fixed order (a set) and a database check
    # may open the file first. A directory that cannot be made is reported on first connect.
    try:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
with warnings.catch_warnings():
    # django-environ warns of a URL it cannot read by printing what it parsed, password included.
    warnings.simplefilter("ignore")
    try:
        _db = env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'omen.sqlite3'}")
        _db_problem = "" if _db.get("ENGINE") else "it names no database scheme"
        if _db.get("ENGINE") not in {"", None, "django.db.backends.sqlite3", "django.db.backends.postgresql"}:
            _db_problem = f"{_db['ENGINE'].rsplit('.', 1)[-1]} is neither SQLite nor PostgreSQL"
    except ValueError:
        # Not the error's text: "Port could not be cast to integer value as 'x'" quotes what came
        # before the host, and an unencoded / or ? in the password makes that the password's start.
        _db_problem = (
            "its port is not a number; in the user name or password, write / ? # @ and : as %2F %3F %23 %40 and %3A"
        )
if _db_problem:
    # The message never repeats the URL: it holds the password.
    raise ImproperlyConfigured(
        f"DATABASE_URL is not a database URL OMEN can use ({_db_problem}): "
        "set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME or sqlite:///PATH, or unset it (SQLite under var/)."
    )
DATABASES = {"default": _db}
# Options from the URL (?sslmode=require) are kept; these are added to them.
_db_options = _db.setdefault("OPTIONS", {})
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db_options.update(
        {
            # WAL lets the admin read while a worker writes; synchronous stays at
            # SQLite's default FULL so an acknowledged commit survives power loss.
            # A 64 MiB page cache (SQLite's default is 2 MiB) keeps the signal
            # indexes in memory during bulk ingest, and checkpointing the WAL
            # every 64 MiB instead of 4 MiB spares ingest a stall every few
            # batches (bench/ingest.py: ~5,000 -> ~5,400 signals/s).
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=16384;",
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers wait
            # for the busy timeout instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=20, minimum=0),
        }
    )
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3 connection pool; it replaces persistent connections. psycopg_pool would refuse these
    # only at the first connection, a request's 500: connections kept open (0 or more), at most
    # this many (1 or more, and no fewer than the minimum), and a wait for one of at least a second.
    _db_options["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1, minimum=0),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10, minimum=1),
        "timeout": env.int("DATABASE_POOL_TIMEOUT_SECONDS", default=10, minimum=1),
    }
    if _db_options["pool"]["min_size"] > _db_options["pool"]["max_size"]:
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MIN_SIZE={_db_options['pool']['min_size']} is more than "
            f"DATABASE_POOL_MAX_SIZE={_db_options['pool']['max_size']}: the pool keeps at least the one "
            "and at most the other open; lower DATABASE_POOL_MIN_SIZE or raise DATABASE_POOL_MAX_SIZE."
        )
    _db["CONN_MAX_AGE"] = 0
    # Not CONN_HEALTH_CHECKS (a round trip on every checkout): the pool checks each connection it
    # hands out by its socket instead (omen_site/database.py, check_idle_connection).

# --- Cache, broker, ledger ----------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
OMEN_CACHE_BACKEND = env.str("OMEN_CACHE_BACKEND", default="memory")
if OMEN_CACHE_BACKEND == "memory":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif OMEN_CACHE_BACKEND == "redis":
    if not REDIS_URL:
        raise ImproperlyConfigured(
            "OMEN_CACHE_BACKEND=redis needs REDIS_URL: set REDIS_URL=redis://host:6379/0 "
            "or set OMEN_CACHE_BACKEND=memory."
        )
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    raise ImproperlyConfigured(
        f"OMEN_CACHE_BACKEND={OMEN_CACHE_BACKEND!r} is not known: set it to 'memory' or 'redis'."
    )

# --- Celery: every setting in one block ----------------------------------------
# Without a broker server, Celery uses kombu's filesystem transport under var/.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
        # Exchange tables (broadcasts, remote control): without this kombu writes them to
        # control/ in the working directory, which is the checkout.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacknowledged task (its whole worker died) is redelivered after this; longer than any
    # task may run (the sweep and the backup an hour: retention.W001), or a task still running is
    # delivered again. A pool process killed alone puts its task back at once (reject_on_worker_lost).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3900),
        # Sweep for abandoned messages every interval x throttle seconds (kombu: 10 x 10).
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL_SECONDS", default=10),
        "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
    }
# Two queues: "celery" for polls and everything else, "ledger" for the writer's tasks (drain,
# seal, tiers). A worker started without -Q consumes both, the single-machine default; scaled
# out, the one worker that holds the ledger volume runs with -Q ledger and the others with -X ledger.
CELERY_TASK_QUEUES = (Queue("celery"), Queue("ledger"))
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"ledger.tasks.*": {"queue": "ledger"}}
# One worker slot per source (five) plus one for the ledger's tasks. The poll lock lets a source
# run one poll at a time, so with a slot each, a source that hangs never holds up another
# (signals.W001 warns when there are fewer slots than sources + 1).
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=6)
CELERY_TASK_ACKS_LATE = True  # a task killed mid-run is redelivered; tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A broker that goes away is waited for, however long (tries 2 to 30 s apart, one line each):
# Celery's 100 tries ended a worker some 46 minutes into an outage, and it stayed down.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TIMEZONE = "UTC"
CELERY_TASK_IGNORE_RESULT = True  # runs are recorded as SourceRun rows, not task results
# The schedule lives in the database (django-celery-beat) so operators can edit
# it; omen_site/schedule.py defines it and syncs it in after every migrate.
CELERY_BEAT_SCHEDULER = "omen_site.beat:Scheduler"
# Each run written to its row as it is sent, not every three minutes: a beat taking over from one
# that was killed reads the rows, and would send again each run they did not hold yet.
CELERY_BEAT_SYNC_EVERY = 1

LEDGER_DIR = Path(env.str("LEDGER_DIR", default=str(VAR_DIR / "ledger")))
# Expired signals' daily archive files and their lock (retention/services/archive.py).
RETENTION_ARCHIVE_DIR = Path(env.str("RETENTION_ARCHIVE_DIR", default=str(VAR_DIR / "retention-archive")))
# Database backups (`manage.py backup`, retention/services/backup.py): one directory per backup.
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(VAR_DIR / "backups")))
# Cold partitions move here (may be another volume); same layout as LEDGER_DIR.
LEDGER_ARCHIVE_DIR = Path(env.str("LEDGER_ARCHIVE_DIR", default=str(LEDGER_DIR.parent / "ledger-archive")))
# Partitions older than LEDGER_LONG_TERM_AFTER_DAYS move here from the archive, and the tombstones
# of purged ones stay here (ledger/services/tiers.py); same layout as LEDGER_DIR.
LEDGER_LONG_TERM_DIR = Path(env.str("LEDGER_LONG_TERM_DIR", default=str(LEDGER_DIR.parent / "ledger-long-term")))
# Directories whose contents must outlive a container: docker-compose.yml mounts a named volume
# on each (tests/omen_site/test_compose.py holds it to that, and to every *_DIR setting being
# either listed here or explained there).
DATA_DIRECTORY_SETTINGS = (
    "LEDGER_DIR",
    "LEDGER_ARCHIVE_DIR",
    "LEDGER_LONG_TERM_DIR",
    "RETENTION_ARCHIVE_DIR",
    "BACKUP_DIR",
)
# Rotation: the original OMEN's thresholds.
LEDGER_SEGMENT_MAX_BYTES = env.int("LEDGER_SEGMENT_MAX_BYTES", default=10 * 1024 * 1024)
LEDGER_SEGMENT_MAX_FRAMES = env.int("LEDGER_SEGMENT_MAX_FRAMES", default=10_000)
# Frames per writer transaction, and so per fsync (group commit).
LEDGER_BATCH_FRAMES = env.int("LEDGER_BATCH_FRAMES", default=2000)
# After a commit with ledgered saves: "inline" drains in the committing process, "task" sends
# the ledger_drain task to the worker that holds the ledger volume, "off" leaves it to the
# periodic drain.
LEDGER_DRAIN_ON_COMMIT = env.str("LEDGER_DRAIN_ON_COMMIT", default="inline")
LEDGER_DRAIN_INTERVAL_SECONDS = env.int("LEDGER_DRAIN_INTERVAL_SECONDS", default=30)
# The writer is stalled when a save has waited in the outbox longer than this, or a drain failed:
# `ledger verify` exits 3 and the storage report says so.
LEDGER_STALL_AFTER_SECONDS = env.int("LEDGER_STALL_AFTER_SECONDS", default=300, minimum=1)
# How long a committing process waits for another writer before leaving its rows to the periodic drain.
LEDGER_LOCK_TIMEOUT_SECONDS = env.float("LEDGER_LOCK_TIMEOUT_SECONDS", default=10.0)
# Webhooks (ledger/services/webhooks.py): subscriptions with frames to deliver are looked for
# this often; each delivery run works at most the budget, each POST waits at most the timeout,
# and a claim not renewed for the lock's length belongs to a dead worker.
# Retention (retention/policies.py holds the table): RETENTION_KEEP_<POLICY>=90d|168h|7y overrides
# a policy's default; a value set in the admin overrides both. A sweep deletes this many rows per
# transaction, each batch short enough that readers never wait on it.
RETENTION_KEEP = {
    name[len("RETENTION_KEEP_") :].lower(): value
    for name, value in os.environ.items()
    if name.startswith("RETENTION_KEEP_")
}
_retention_batch_size = env.str("RETENTION_BATCH_SIZE", default="1000")
# A batch is one short transaction (and on SQLite one statement's parameters): at most this many rows.
RETENTION_BATCH_SIZE_MAX = 10_000
# Read as text, so "abc" and "-5" get the same one-line refusal as 0 (which would sweep nothing).
RETENTION_BATCH_SIZE = int(_retention_batch_size) if _retention_batch_size.strip().isdecimal() else 0
if not 1 <= RETENTION_BATCH_SIZE <= RETENTION_BATCH_SIZE_MAX:
    raise ImproperlyConfigured(
        f"RETENTION_BATCH_SIZE={_retention_batch_size!r} is not a number of rows a batch may hold: "
        f"set it to a whole number from 1 to {RETENTION_BATCH_SIZE_MAX:,} (default 1000)."
    )
WEBHOOK_DISPATCH_INTERVAL_SECONDS = env.int("WEBHOOK_DISPATCH_INTERVAL_SECONDS", default=5)
WEBHOOK_DELIVERY_BUDGET_SECONDS = env.float("WEBHOOK_DELIVERY_BUDGET_SECONDS", default=60.0)
# The longest one delivery try takes, from resolving the host to the answer's head (of its body, 64 KiB at most).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# A delivery's claim on a subscription, renewed before every try and at every saved cursor: it must be
# longer than one try and the longest wait before the next, WEBHOOK_TIMEOUT_SECONDS + 10 s (ledger.E004).
WEBHOOK_LOCK_SECONDS = env.int("WEBHOOK_LOCK_SECONDS", default=240)
# Whether webhooks may go to loopback, private, link-local or other non-public addresses
# (ledger/webhook_targets.py): yes in development (a receiver on this machine), no in production.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=not IS_PRODUCTION)
# A day's partition is sealed this long after the day ends (UTC).
LEDGER_SEAL_AFTER_HOURS = env.int("LEDGER_SEAL_AFTER_HOURS", default=2)
# Tiers (OMEN retention table): hot 7 days, warm (compressed) to 30 days, cold (archived) to 365,
# then long-term until retention's "ledger" policy purges them, leaving tombstones.
LEDGER_WARM_AFTER_DAYS = env.int("LEDGER_WARM_AFTER_DAYS", default=7)
LEDGER_COLD_AFTER_DAYS = env.int("LEDGER_COLD_AFTER_DAYS", default=30)
LEDGER_LONG_TERM_AFTER_DAYS = env.int("LEDGER_LONG_TERM_AFTER_DAYS", default=365)

# --- Sources ----------------------------------------------------------------------
# Base URLs come from the environment so tests (and mirrors) can point them elsewhere.
POLYMARKET_GAMMA_API_URL = env.str("POLYMARKET_GAMMA_API_URL", default="https://gamma-api.polymarket.com")
POLYMARKET_MARKET_LIMIT = env.int("POLYMARKET_MARKET_LIMIT", default=500)
OPENMETEO_API_URL = env.str("OPENMETEO_API_URL", default="https://api.open-meteo.com/v1")
OPENMETEO_MARINE_API_URL = env.str("OPENMETEO_MARINE_API_URL", default="https://marine-api.open-meteo.com/v1")
NEWSAPI_API_URL = env.str("NEWSAPI_API_URL", default="https://newsapi.org/v2")
NEWSAPI_KEY = env.str("NEWSAPI_KEY", default="")
NEWSDATA_API_URL = env.str("NEWSDATA_API_URL", default="https://newsdata.io/api/1")
NEWSDATA_KEY = env.str("NEWSDATA_KEY", default="")
YAHOO_CHART_API_URL = env.str("YAHOO_CHART_API_URL", default="https://query1.finance.yahoo.com/v8/finance/chart")


def _entries(variable, default, example):
    """Parse "NAME:number[:number]" entries; a bad one stops start-up naming the variable."""
    parsed = {}
    for entry in env.list(variable, default=default):
        name, *numbers = entry.split(":") if variable == "STOCK_WATCHLIST" else entry.rsplit(":", 2)
        try:
            parsed[name.strip()] = tuple(float(n) for n in numbers)
        except ValueError:
            numbers = []
        if not name.strip() or len(numbers) != example.count(":"):
            raise ImproperlyConfigured(f"{variable} entry {entry!r} is not like {example!r}: fix {variable}.")
    return parsed


# Ports whose weather and sea state are watched: "Name:latitude:longitude", comma-separated.
OMEN_PORTS = _entries(
    "OMEN_PORTS",
    ["Rotterdam:51.95:4.14", "Singapore:1.26:103.84", "Shanghai:31.23:121.47", "Los Angeles:33.74:-118.26"]
    + ["Port Said:31.26:32.30"],
    "Rotterdam:51.95:4.14",
)
# Symbols and their spike thresholds in percent: "SYMBOL:threshold", comma-separated.
STOCK_WATCHLIST = {
    symbol: threshold
    for symbol, (threshold,) in _entries(
        "STOCK_WATCHLIST", ["^GSPC:2", "^VIX:15", "CL=F:4", "GC=F:2", "BZ=F:4", "NG=F:5"], "CL=F:4"
    ).items()
}
NEWS_QUERIES = env.list(
    "NEWS_QUERIES",
    default=[
        "red sea shipping",
        "suez canal",
        "panama canal",
        "port strike",
        "shipping disruption",
        "freight rates",
        "supply chain disruption",
    ],
)
# Every source is polled this often (seconds); operators change it per source in the admin.
SOURCE_POLL_INTERVAL_SECONDS = env.int("SOURCE_POLL_INTERVAL_SECONDS", default=120)
# Every fetch of a poll, connect to last byte and retries included, ends by this deadline
# (seconds from the poll's start): shorter than the soft time limit below, so a slow source
# fails its own run and counts toward its breaker instead of running into the limit.
SOURCE_POLL_DEADLINE_SECONDS = env.float("SOURCE_POLL_DEADLINE_SECONDS", default=60)
# A poll is stopped after this (Celery's soft time limit; its run is recorded as failed), shorter
# than the poll period: a source that hangs gives its worker slot back before its next poll.
SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS = env.int("SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS", default=90)
# A poll holding the lock longer than this is taken to have died; the next one goes ahead.
# Longer than the hard time limit (soft + 30 s): a live poll's lock is never taken from it.
SOURCE_POLL_LOCK_SECONDS = env.int("SOURCE_POLL_LOCK_SECONDS", default=180)
CELERY_TASK_ANNOTATIONS = {
    "signals.tasks.source_poll": {
        "soft_time_limit": SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS,
        "time_limit": SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS + 30,
    }
}

# --- Production hardening -----------------------------------------------------

if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # 0 sends no HSTS header; a negative max-age is no valid header at all.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000, minimum=0)
    # Defaults satisfy `check --deploy`; a host that cannot commit its
    # subdomains to HTTPS (or to the preload list) turns them off.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("SECURE_PROXY_SSL_HEADER_ENABLED", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True


def production_problems(*, debug, secret_key, database, allowed_hosts, allow_any_host, broker_url, cache_backend):
    """Return one sentence per setting that breaks the production promise."""
    problems = []
    if "DATABASE_URL" not in env.ENVIRON:
        problems.append("DATABASE_URL is not set: set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME.")
    elif database["ENGINE"] != "django.db.backends.postgresql":
        problems.append(
            f"DATABASE_URL points at {database['ENGINE'].rsplit('.', 1)[-1]}, not PostgreSQL: "
            "set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME."
        )
    if not secret_key:
        problems.append(
            "SECRET_KEY is not set: set SECRET_KEY to a random string of 50+ characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    elif secret_key.startswith("django-insecure") or len(secret_key) < 50 or len(set(secret_key)) < 5:
        problems.append(
            "SECRET_KEY is insecure (shorter than 50 characters, too few distinct characters, or a "
            "'django-insecure' key): set SECRET_KEY to a random string of 50+ characters."
        )
    if debug:
        problems.append("DEBUG is on: unset DEBUG or set DEBUG=false.")
    if not allowed_hosts:
        problems.append("ALLOWED_HOSTS is empty: set ALLOWED_HOSTS=omen.example.com (comma-separated).")
    elif "*" in allowed_hosts and not allow_any_host:
        problems.append(
            "ALLOWED_HOSTS is '*', so any Host header is trusted (and ends up in links the site sends): "
            "set ALLOWED_HOSTS=omen.example.com, or ALLOW_ANY_HOST=true if a proxy in front checks Host."
        )
    if not broker_url.startswith(("redis://", "rediss://")):
        problems.append(
            "the Celery broker is not Redis (the filesystem broker is per machine, so web, workers and beat "
            "would not share it): set REDIS_URL=redis://HOST:6379/0 or CELERY_BROKER_URL=redis://HOST:6379/1."
        )
    if cache_backend != "redis":
        problems.append(
            "OMEN_CACHE_BACKEND is not redis (a per-process memory cache cannot throttle across processes): "
            "set OMEN_CACHE_BACKEND=redis and REDIS_URL."
        )
    return problems


if IS_PRODUCTION:
    _problems = production_problems(
        debug=DEBUG,
        secret_key=SECRET_KEY,
        database=_db,
        allowed_hosts=ALLOWED_HOSTS,
        allow_any_host=ALLOW_ANY_HOST,
        broker_url=CELERY_BROKER_URL,
        cache_backend=OMEN_CACHE_BACKEND,
    )
    if _problems:
        # One problem on one line; several listed, so an operator fixes them all before the next try.
        listed = f" {_problems[0]}" if len(_problems) == 1 else "".join(f"\n  - {p}" for p in _problems)
        raise ImproperlyConfigured(f"OMEN_ENV=production refuses to start:{listed}")

# --- API ------------------------------------------------------------------------

# How many proxies in front of the site append to X-Forwarded-For: the caller's address is the
# entry the farthest of them appended (omen_site/client_address.py), for the API's throttle, its
# access log and the admin's login lockouts alike. 0 (the default) reads REMOTE_ADDR alone.
if "API_TRUSTED_PROXIES" in os.environ:
    # The earlier name, for the throttle alone: read silently as 0, it would undo a deployment's proxies.
    raise ImproperlyConfigured(
        "API_TRUSTED_PROXIES is now TRUSTED_PROXIES (throttle, access log, lockouts): rename it."
    )
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
if TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured(
        f"TRUSTED_PROXIES={TRUSTED_PROXIES}: set it to the number of proxies in front of the site (0 or more)."
    )
REST_FRAMEWORK = {
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # A key in X-API-Key; a staff user's admin session may read (omen_site/api/auth.py).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "omen_site.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["omen_site.api.auth.ScopePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["omen_site.api.throttle.KeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["omen_site.api.renderers.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["omen_site.api.parsers.NestingSafeJSONParser"],
    "EXCEPTION_HANDLER": "omen_site.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The throttle reads omen_site.client_address; this is for any DRF class that reads it
    # itself: DRF's own default trusts the whole X-Forwarded-For header, which any caller can
    # set to a new value per request and never be throttled.
    "NUM_PROXIES": TRUSTED_PROXIES,
}
# Requests per key (an API key's own throttle_rate overrides it), per user or per address. Read
# here, not at the first request: a rate the throttle cannot read would make every request a 500.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="300/min")
try:
    parse_rate(API_THROTTLE_RATE)
except ValueError:
    raise ImproperlyConfigured(
        f"API_THROTTLE_RATE={API_THROTTLE_RATE!r} is not a rate: set it to N/s, N/min, N/hour or N/day "
        "with N a whole number of 1 or more, or unset it (default 300/min)."
    ) from None
# An API request body over this is a 413 (omen_site/api/idempotency.py); Django reads up to it,
# in memory, for every form (the admin's too): from 64 KiB, under which ordinary posts fail, to 1 GiB.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=10 * 1024 * 1024, minimum=64 * 1024, maximum=1024**3)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# The API access log (omen_site/api/access_log.py): every request under /api/ but the docs pages,
# kept in each process's memory and written in bulk once this many wait or the oldest has
# waited this long (checked as an API response closes), and at exit. A hard kill loses what waits.
API_ACCESS_LOG = env.bool("API_ACCESS_LOG", default=True)
API_ACCESS_LOG_FLUSH_ROWS = env.int("API_ACCESS_LOG_FLUSH_ROWS", default=200)
API_ACCESS_LOG_FLUSH_SECONDS = env.float("API_ACCESS_LOG_FLUSH_SECONDS", default=5.0)
SPECTACULAR_SETTINGS = {
    "TITLE": "OMEN API",
    "DESCRIPTION": "Probability signals, their history and the ledger. Send your key in the X-API-Key header.",
    "VERSION": "1",
    # Swagger UI and Redoc served from the installed sidecar package: no CDN, no network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    # Every operation's 4xx answers, in the one error shape (omen_site/api/errors.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "omen_site.api.errors.document_error_responses",
    ],
    # Two choice sets are both called "status": name them after what they are.
    "ENUM_NAME_OVERRIDES": {
        "SignalStatusEnum": "signals.models.choices.SignalStatus",
        "RejectionStatusEnum": "signals.models.choices.RejectionStatus",
        "SourceEnum": "signals.models.choices.Source",
        "SignalTypeEnum": "signals.models.choices.SignalType",
        "CategoryEnum": "signals.models.choices.Category",
        "ConfidenceLevelEnum": "signals.models.choices.ConfidenceLevel",
        "IngestSourceEnum": "signals.api.ingest.INGEST_SOURCES",
    },
}

# --- Operations: health, metrics, security headers, CORS (docs/operations.md) -----------------

# /health/ready: each check must answer within this (seconds); they run side by side.
# From 0.1 (a round trip to the database or Redis) to 20: a probe waits this long, and gunicorn
# kills a sync worker silent for 30 s (its default timeout).
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=3.0, minimum=0.1, maximum=20)
# /health/ready fails while a save has waited in the ledger outbox longer than this (seconds);
# by default when the writer counts as stalled. 0 leaves the outbox out of readiness.
HEALTH_OUTBOX_LAG_SECONDS = env.int("HEALTH_OUTBOX_LAG_SECONDS", default=LEDGER_STALL_AFTER_SECONDS, minimum=0)
# prometheus_client's multiprocess mode (omen_site/operations/metrics.py): every request writes its
# latency there, /health/live included, so a directory that is not there would make each one a 500.
# Refused here, not in a system check: gunicorn's workers, which write it, run no checks. Not a
# setting: prometheus_client reads the variable from the environment itself.
# Its deprecated lowercase name still turns that mode on in prometheus_client, unchecked here.
if "prometheus_multiproc_dir" in os.environ and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    raise ImproperlyConfigured(
        "prometheus_multiproc_dir is set: prometheus_client reads it as PROMETHEUS_MULTIPROC_DIR, "
        "its deprecated lowercase name; rename it to PROMETHEUS_MULTIPROC_DIR (checked at start) or unset it."
    )
_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _multiproc_dir is not None:
    if not os.path.isdir(_multiproc_dir):
        _multiproc_problem = "is not a directory"
    elif not os.access(_multiproc_dir, os.W_OK | os.X_OK):
        _multiproc_problem = "is not writable by this process"
    else:
        _multiproc_problem = ""
    if _multiproc_problem:
        raise ImproperlyConfigured(
            f"PROMETHEUS_MULTIPROC_DIR={_multiproc_dir!r} {_multiproc_problem}, and every request writes its "
            "latency there: create it (empty, before the workers start) or unset PROMETHEUS_MULTIPROC_DIR."
        )
# /metrics without an API key (read:stats or admin): open in development, refused in production.
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=not IS_PRODUCTION)
# Probes reach the web process over plain HTTP from inside the network: no redirect to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]  # probes and scrapes inside the network
# Browser origins allowed to call /api/ (comma-separated, e.g. https://dashboard.example.com);
# none by default. Keys travel in a header, never in cookies, so credentials stay off.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (*cors_default_headers, "x-api-key", "x-request-id", "idempotency-key")
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "Idempotent-Replayed",
]

# --- Logging ----------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Failed logins and lockouts (warnings); successful ones are in the admin (Axes -> Access logs).
        "axes": {"level": "WARNING"},
    },
}

if LEDGER_DRAIN_ON_COMMIT not in {"inline", "task", "off"}:
    raise ImproperlyConfigured(
        f"LEDGER_DRAIN_ON_COMMIT={LEDGER_DRAIN_ON_COMMIT!r} is not a mode: use inline, task or off."
    )
