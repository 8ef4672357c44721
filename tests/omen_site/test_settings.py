"""The production guard and the start-up line, exercised as an operator would: manage.py in a subprocess."""

import ast
import inspect

import pytest

import omen_site.environment as environment_module
import omen_site.settings as settings_module
from tests.omen_site.commandline import manage, production

pytestmark = pytest.mark.slow

# One case per refusal in settings.py: each production_problems sentence alone, then every other
# raise, then each raise of omen_site/environment.py (how settings reads booleans and numbers).
# (environment, the variable the message must name, the start of the intended sentence)
REFUSALS = [
    pytest.param(production(DATABASE_URL=None), "DATABASE_URL", "DATABASE_URL is not set", id="database-url-unset"),
    pytest.param(
        production(DATABASE_URL="sqlite:////tmp/omen.sqlite3"),
        "DATABASE_URL",
        "DATABASE_URL points at sqlite3, not PostgreSQL",
        id="database-url-not-postgresql",
    ),
    pytest.param(production(SECRET_KEY=None), "SECRET_KEY", "SECRET_KEY is not set", id="secret-key-unset"),
    pytest.param(
        production(SECRET_KEY="short-secret"), "SECRET_KEY", "SECRET_KEY is insecure", id="secret-key-insecure"
    ),
    pytest.param(production(DEBUG="true"), "DEBUG", "DEBUG is on: unset DEBUG or set DEBUG=false", id="debug-on"),
    pytest.param(production(ALLOWED_HOSTS=None), "ALLOWED_HOSTS", "ALLOWED_HOSTS is empty", id="allowed-hosts-empty"),
    pytest.param(production(ALLOWED_HOSTS="*"), "ALLOW_ANY_HOST", "ALLOWED_HOSTS is '*'", id="allowed-hosts-any"),
    pytest.param(
        production(CELERY_BROKER_URL="filesystem://"),
        "CELERY_BROKER_URL",
        "the Celery broker is not Redis",
        id="broker-not-redis",
    ),
    pytest.param(
        production(OMEN_CACHE_BACKEND="memory"),
        "OMEN_CACHE_BACKEND",
        "OMEN_CACHE_BACKEND is not redis",
        id="cache-not-redis",
    ),
    pytest.param({"OMEN_ENV": "staging"}, "OMEN_ENV", "OMEN_ENV='staging' is not a known mode", id="omen-env-unknown"),
    pytest.param({"DATABASE_URL": ""}, "DATABASE_URL", "DATABASE_URL is set but empty", id="database-url-empty"),
    pytest.param(
        {"OMEN_CACHE_BACKEND": "redis"},
        "REDIS_URL",
        "OMEN_CACHE_BACKEND=redis needs REDIS_URL",
        id="cache-no-redis-url",
    ),
    pytest.param(
        {"OMEN_CACHE_BACKEND": "memcached"},
        "OMEN_CACHE_BACKEND",
        "OMEN_CACHE_BACKEND='memcached' is not known",
        id="cache-backend-unknown",
    ),
    pytest.param(
        {"OMEN_PORTS": "Rotterdam:51.95"},
        "OMEN_PORTS",
        "OMEN_PORTS entry 'Rotterdam:51.95' is not like",
        id="omen-ports-bad-entry",
    ),
    pytest.param(
        {"AXES_COOLOFF_MINUTES": "0"},
        "AXES_COOLOFF_MINUTES",
        "AXES_COOLOFF_MINUTES=0 would lift a lockout at once",
        id="axes-cooloff-below-a-minute",
    ),
    pytest.param(
        {"API_TRUSTED_PROXIES": "1"},
        "TRUSTED_PROXIES",
        "API_TRUSTED_PROXIES is now TRUSTED_PROXIES",
        id="api-trusted-proxies-renamed",
    ),
    pytest.param(
        {"TRUSTED_PROXIES": "-1"},
        "TRUSTED_PROXIES",
        "TRUSTED_PROXIES=-1: set it to the number of proxies",
        id="trusted-proxies-negative",
    ),
    pytest.param(
        {"LEDGER_DRAIN_ON_COMMIT": "sometimes"},
        "LEDGER_DRAIN_ON_COMMIT",
        "LEDGER_DRAIN_ON_COMMIT='sometimes' is not a mode",
        id="drain-mode-unknown",
    ),
    pytest.param(
        {"RETENTION_BATCH_SIZE": "0"},
        "RETENTION_BATCH_SIZE",
        "RETENTION_BATCH_SIZE='0' is not a number of rows a batch may hold",
        id="retention-batch-size-zero",
    ),
    pytest.param(
        {"DATABASE_URL": "notaurl"},
        "DATABASE_URL",
        "DATABASE_URL is not a database URL OMEN can use (it names no database scheme)",
        id="database-url-not-a-url",
    ),
    pytest.param(
        {
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/omen",
            "DATABASE_POOL_MIN_SIZE": "5",
            "DATABASE_POOL_MAX_SIZE": "2",
        },
        "DATABASE_POOL_MAX_SIZE",
        "DATABASE_POOL_MIN_SIZE=5 is more than DATABASE_POOL_MAX_SIZE=2",
        id="database-pool-min-above-max",
    ),
    pytest.param(
        {"API_THROTTLE_RATE": "lots"},
        "API_THROTTLE_RATE",
        "API_THROTTLE_RATE='lots' is not a rate: set it to N/s, N/min, N/hour or N/day",
        id="api-throttle-rate-not-a-rate",
    ),
    pytest.param(
        {"PROMETHEUS_MULTIPROC_DIR": "/nonexistent/omen-prometheus"},
        "PROMETHEUS_MULTIPROC_DIR",
        "PROMETHEUS_MULTIPROC_DIR='/nonexistent/omen-prometheus' is not a directory",
        id="prometheus-multiproc-dir-missing",
    ),
    pytest.param(
        {"prometheus_multiproc_dir": "/nonexistent/omen-prometheus"},
        "PROMETHEUS_MULTIPROC_DIR",
        "prometheus_multiproc_dir is set: prometheus_client reads it as PROMETHEUS_MULTIPROC_DIR",
        id="prometheus-multiproc-dir-lowercase",
    ),
    pytest.param(
        production(SECURE_SSL_REDIRECT="ture"),
        "SECURE_SSL_REDIRECT",
        "SECURE_SSL_REDIRECT='ture' is neither true nor false",
        id="boolean-not-a-boolean",
    ),
    pytest.param(
        {"HEALTH_CHECK_TIMEOUT_SECONDS": "3s"},
        "HEALTH_CHECK_TIMEOUT_SECONDS",
        "HEALTH_CHECK_TIMEOUT_SECONDS='3s' is not a number: set it to a number from 0.1 to 20",
        id="number-not-a-number",
    ),
    pytest.param(
        {"HEALTH_OUTBOX_LAG_SECONDS": "-5"},
        "HEALTH_OUTBOX_LAG_SECONDS",
        "HEALTH_OUTBOX_LAG_SECONDS=-5 is out of range: set it to a whole number 0 or more",
        id="number-out-of-range",
    ),
]


def refusal_sites():
    """Each ``raise ImproperlyConfigured(...)`` and ``problems.append(...)`` in settings.py, and each
    raise in omen_site/environment.py (settings' reader of booleans and numbers)."""
    tree = ast.parse(inspect.getsource(settings_module))
    reader = ast.parse(inspect.getsource(environment_module))
    raises = [
        node
        for module in (tree, reader)
        for node in ast.walk(module)
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.func.id == "ImproperlyConfigured"
    ]
    # Any other raise there would be a refusal this count cannot see.
    others = [node for module in (tree, reader) for node in ast.walk(module) if isinstance(node, ast.Raise)]
    assert len(others) == len(raises), "settings.py or environment.py raises something but ImproperlyConfigured(...)"
    appends = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "append"
        and getattr(node.func.value, "id", None) == "problems"
    ]
    return raises, appends


def test_every_refusal_in_settings_has_a_case_in_refusals():
    raises, appends = refusal_sites()

    # The production raise carries the problems, each of which is a case of its own.
    assert len(REFUSALS) == len(raises) - 1 + len(appends), "a refusal in settings.py has no case in REFUSALS"


@pytest.mark.parametrize(("environment", "variable", "sentence"), REFUSALS)
def test_each_refusal_is_one_short_message_naming_its_variable(environment, variable, sentence):
    result = manage("check", **environment)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) <= 3, result.stderr
    assert variable in result.stderr
    assert sentence in result.stderr


# What a fault probe gave each of these before: a traceback naming no variable ("could not convert
# string to float: ''", KeyError 'ENGINE'), or a start that then failed on every request or never
# got ready. Each now stops the start with one line naming the variable and what it takes.
POSTGRES = "postgres://postgres@127.0.0.1:5432/omen"
BAD_VALUES = [
    ({"HEALTH_CHECK_TIMEOUT_SECONDS": "abc"}, "HEALTH_CHECK_TIMEOUT_SECONDS='abc' is not a number"),
    ({"HEALTH_CHECK_TIMEOUT_SECONDS": "1,5"}, "HEALTH_CHECK_TIMEOUT_SECONDS='1,5' is not a number"),
    ({"HEALTH_CHECK_TIMEOUT_SECONDS": "-1"}, "HEALTH_CHECK_TIMEOUT_SECONDS=-1 is out of range"),
    ({"HEALTH_CHECK_TIMEOUT_SECONDS": "0"}, "HEALTH_CHECK_TIMEOUT_SECONDS=0 is out of range"),
    ({"HEALTH_OUTBOX_LAG_SECONDS": "abc"}, "HEALTH_OUTBOX_LAG_SECONDS='abc' is not a whole number"),
    ({"TRUSTED_PROXIES": "x"}, "TRUSTED_PROXIES='x' is not a whole number"),
    ({"TRUSTED_PROXIES": "1.5"}, "TRUSTED_PROXIES='1.5' is not a whole number"),
    ({"AXES_COOLOFF_MINUTES": "x"}, "AXES_COOLOFF_MINUTES='x' is not a whole number"),
    ({"API_MAX_BODY_BYTES": "10MB"}, "API_MAX_BODY_BYTES='10MB' is not a whole number"),
    ({"API_MAX_BODY_BYTES": "0"}, "API_MAX_BODY_BYTES=0 is out of range"),
    ({"API_MAX_BODY_BYTES": "-1"}, "API_MAX_BODY_BYTES=-1 is out of range"),
    ({"LEDGER_STALL_AFTER_SECONDS": "1e3"}, "LEDGER_STALL_AFTER_SECONDS='1e3' is not a whole number"),
    ({"LEDGER_STALL_AFTER_SECONDS": "-5"}, "LEDGER_STALL_AFTER_SECONDS=-5 is out of range"),
    (production(SECURE_HSTS_SECONDS="abc"), "SECURE_HSTS_SECONDS='abc' is not a whole number"),
    (production(SECURE_HSTS_SECONDS="-1"), "SECURE_HSTS_SECONDS=-1 is out of range"),
    (
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:notaport/x"},
        "DATABASE_URL is not a database URL OMEN can use (its port is not a number;",
    ),
    ({"DATABASE_URL": "mysql://omen@127.0.0.1/omen"}, "OMEN can use (mysql is neither SQLite nor PostgreSQL)"),
    (production(DATABASE_POOL_MAX_SIZE="0"), "DATABASE_POOL_MAX_SIZE=0 is out of range"),
    ({"DATABASE_URL": POSTGRES, "DATABASE_POOL_MIN_SIZE": "-1"}, "DATABASE_POOL_MIN_SIZE=-1 is out of range"),
    ({"DATABASE_URL": POSTGRES, "DATABASE_POOL_TIMEOUT_SECONDS": "-1"}, "DATABASE_POOL_TIMEOUT_SECONDS=-1 is out"),
    ({"DATABASE_URL": POSTGRES, "DATABASE_POOL_TIMEOUT_SECONDS": "0"}, "DATABASE_POOL_TIMEOUT_SECONDS=0 is out"),
    (production(SECURE_SSL_REDIRECT="ture"), "SECURE_SSL_REDIRECT='ture' is neither true nor false"),
    ({"METRICS_PUBLIC": "ture"}, "METRICS_PUBLIC='ture' is neither true nor false"),
    ({"API_ACCESS_LOG": "yes-please"}, "API_ACCESS_LOG='yes-please' is neither true nor false"),
    ({"DEBUG": "enabled"}, "DEBUG='enabled' is neither true nor false"),
    ({"API_THROTTLE_RATE": "0/min"}, "API_THROTTLE_RATE='0/min' is not a rate"),
    ({"PROMETHEUS_MULTIPROC_DIR": "/etc/hostname"}, "PROMETHEUS_MULTIPROC_DIR='/etc/hostname' is not a directory"),
]


@pytest.mark.parametrize(("environment", "sentence"), BAD_VALUES, ids=[sentence for _, sentence in BAD_VALUES])
def test_a_value_its_variable_cannot_take_stops_the_start_in_one_line_naming_it(environment, sentence):
    result = manage("check", **environment)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == result.stderr.strip().splitlines()[0], result.stderr
    assert sentence in result.stderr


# The second: a / in the password (base64 makes them) turns what precedes it into the "port".
@pytest.mark.parametrize(
    "url", ["postgres://omen:s3cret-pw@127.0.0.1:notaport/omen", "postgres://omen:s3cret-pw/xyz@db:5432/omen"]
)
def test_a_database_url_that_cannot_be_read_is_refused_without_repeating_its_password(url):
    result = manage("check", DATABASE_URL=url)

    assert result.returncode == 1
    assert "DATABASE_URL is not a database URL" in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_allowed_hosts_of_blanks_is_empty_and_refused_in_production():
    result = manage("check", **production(ALLOWED_HOSTS=" , "))

    assert result.returncode == 1
    assert "ALLOWED_HOSTS is empty" in result.stderr


def test_production_keeps_every_answer_under_the_request_id_and_whitenoise_right_after_security():
    code = "from django.conf import settings; print(*settings.MIDDLEWARE[:3])"
    result = manage("shell", "--no-imports", "-c", code, **production())

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == [
        "omen_site.middleware.RequestIdMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]


def test_values_in_range_and_booleans_as_the_docs_write_them_start(tmp_path):
    result = manage(
        "check",
        **production(
            LEDGER_DIR=str(tmp_path / "ledger"),
            ALLOWED_HOSTS=" omen.example.com , ",
            DEBUG="false",
            SECURE_PROXY_SSL_HEADER_ENABLED="true",
            SECURE_HSTS_SECONDS="0",
            SECURE_HSTS_PRELOAD="False",
            SECURE_HSTS_INCLUDE_SUBDOMAINS="no",
            METRICS_PUBLIC="1",
            API_ACCESS_LOG="off",
            HEALTH_CHECK_TIMEOUT_SECONDS="0.5",
            HEALTH_OUTBOX_LAG_SECONDS="0",
            API_THROTTLE_RATE="1000000/min",
            DATABASE_POOL_MIN_SIZE="0",
            DATABASE_POOL_MAX_SIZE="1",
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        ),
    )

    assert result.returncode == 0, result.stderr


def test_a_refusal_shows_its_traceback_with_the_traceback_flag():
    result = manage("check", "--traceback", **production(DEBUG="true"))

    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ImproperlyConfigured: OMEN_ENV=production refuses to start: DEBUG is on" in result.stderr


def test_production_accepts_any_host_when_allow_any_host_says_it_is_meant(tmp_path):
    result = manage(
        "check", **production(ALLOWED_HOSTS="*", ALLOW_ANY_HOST="true", LEDGER_DIR=str(tmp_path / "ledger"))
    )

    assert result.returncode == 0, result.stderr


def test_production_without_any_configuration_lists_every_refusal_one_line_each():
    result = manage("check", OMEN_ENV="production")
    problems = (
        "DATABASE_URL is not set",
        "SECRET_KEY is not set",
        "ALLOWED_HOSTS is empty",
        "the Celery broker is not Redis",
        "OMEN_CACHE_BACKEND is not redis",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "OMEN_ENV=production refuses to start:"
    assert len(lines) == 1 + len(problems)
    for line, problem in zip(lines[1:], problems, strict=True):
        assert line.startswith(f"  - {problem}")


@pytest.mark.parametrize(
    "secret",
    ["django-insecure-" + "x1y2z3" * 10, "short-secret", "a" * 60],
    ids=["django-insecure-prefix", "too-short", "too-few-distinct-characters"],
)
def test_production_refuses_insecure_secret_key(secret):
    result = manage("check", **production(SECRET_KEY=secret))
    assert result.returncode != 0
    assert "SECRET_KEY is insecure" in result.stderr


def test_production_refuses_unwritable_ledger_dir():
    result = manage("check", **production(LEDGER_DIR="/etc/hostname/ledger"))
    assert result.returncode != 0
    assert "ledger.E001" in result.stderr
    assert "LEDGER_DIR /etc/hostname/ledger cannot be created" in result.stderr


def test_production_refuses_an_archive_dir_it_cannot_create(tmp_path):
    result = manage("check", **production(LEDGER_DIR=str(tmp_path / "ledger"), LEDGER_ARCHIVE_DIR="/etc/hostname/cold"))
    assert result.returncode != 0
    assert "ledger.E002" in result.stderr
    assert "LEDGER_ARCHIVE_DIR /etc/hostname/cold cannot be created" in result.stderr


def test_a_webhook_lock_a_live_delivery_can_outlast_stops_the_start_naming_both_settings(tmp_path):
    result = manage("check", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", WEBHOOK_LOCK_SECONDS="15")
    assert result.returncode != 0
    assert "ledger.E004" in result.stderr
    assert "WEBHOOK_LOCK_SECONDS (15)" in result.stderr and "WEBHOOK_TIMEOUT_SECONDS, 5" in result.stderr
    assert "Set WEBHOOK_LOCK_SECONDS to 16 or more" in result.stderr


def test_valid_production_configuration_passes_check_deploy_without_warnings(tmp_path):
    result = manage("check", "--deploy", **production(LEDGER_DIR=str(tmp_path / "ledger")))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_every_process_logs_one_startup_line_naming_its_storage(tmp_path):
    ledger_dir = tmp_path / "ledger"
    result = manage("check", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", LEDGER_DIR=str(ledger_dir))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "omen.startup" in line]
    assert len(lines) == 1
    line = lines[0]
    assert f"database=sqlite:{tmp_path / 'db.sqlite3'}" in line
    assert "broker=filesystem:" in line
    assert "cache=LocMemCache" in line
    assert f"ledger_dir={ledger_dir}" in line


def test_database_url_options_are_kept_and_an_empty_url_is_named():
    kept = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'].get('sslmode'))",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/omen?sslmode=disable",
    )
    empty = manage("check", DATABASE_URL="")

    assert kept.stdout.strip().endswith("disable"), kept.stderr
    assert empty.returncode != 0
    assert "DATABASE_URL is set but empty" in empty.stderr


def test_startup_line_hides_passwords():
    result = manage(
        "check",
        DATABASE_URL="postgres://omen:s3cret-pw@127.0.0.1:5432/omen",
        REDIS_URL="redis://:r3dis-pw@127.0.0.1:6379/0",
        OMEN_CACHE_BACKEND="redis",
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret-pw" not in result.stderr
    assert "r3dis-pw" not in result.stderr
    assert "broker=redis://:***@127.0.0.1:6379/0" in result.stderr


def test_the_embedded_database_opens_in_a_var_dir_that_does_not_exist_yet(tmp_path):
    # A fresh clone has no var/: whichever code opens the database first (a system check, in
    # Django's unordered check registry) must find its directory there.
    var_dir = tmp_path / "fresh" / "var"
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.db import connection; connection.ensure_connection(); print(connection.settings_dict['NAME'])",
        OMEN_VAR_DIR=str(var_dir),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(str(var_dir / "omen.sqlite3"))
