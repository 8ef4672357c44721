"""manage.py and celery as an operator runs them: a child process whose environment holds only what a test sets."""

import os
import subprocess
import sys

from tests.support.processes import ROOT

GOOD_SECRET = "q8Vn3kLx0pWz7RbT2yHc5MfJ9sGd4AeU1oKi6NlQwErTyUiOpAsDfGhJk"
# Variables a developer's shell may hold that would change what the child does.
OMEN_VARS = (
    "OMEN_ENV",
    "DATABASE_URL",
    "DATABASE_POOL_TIMEOUT_SECONDS",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "ALLOW_ANY_HOST",
    "LEDGER_DIR",
    "LEDGER_ARCHIVE_DIR",
    "LEDGER_DRAIN_ON_COMMIT",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "OMEN_CACHE_BACKEND",
    "OMEN_PORTS",
    "STOCK_WATCHLIST",
    "LOG_LEVEL",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "AXES_COOLOFF_MINUTES",
    "RETENTION_BATCH_SIZE",
    "TRUSTED_PROXIES",
    "API_TRUSTED_PROXIES",
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES",
    "WEBHOOK_LOCK_SECONDS",
    "WEBHOOK_TIMEOUT_SECONDS",
    "DATABASE_POOL_MIN_SIZE",
    "DATABASE_POOL_MAX_SIZE",
    "PROMETHEUS_MULTIPROC_DIR",
    "prometheus_multiproc_dir",
    "HEALTH_CHECK_TIMEOUT_SECONDS",
    "HEALTH_OUTBOX_LAG_SECONDS",
    "LEDGER_STALL_AFTER_SECONDS",
    "API_MAX_BODY_BYTES",
    "API_THROTTLE_RATE",
    "API_ACCESS_LOG",
    "METRICS_PUBLIC",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_PROXY_SSL_HEADER_ENABLED",
)


def run(command, *args, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in OMEN_VARS}
    env["OMEN_ENV_FILE"] = "/dev/null"
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, *command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def manage(*args, **env_overrides):
    return run(["manage.py"], *args, **env_overrides)


def production(**overrides):
    """A production environment that starts; a value of None leaves that variable out."""
    env = {
        "OMEN_ENV": "production",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/omen",
        "SECRET_KEY": GOOD_SECRET,
        "ALLOWED_HOSTS": "omen.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "OMEN_CACHE_BACKEND": "redis",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}
