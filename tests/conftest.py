import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from omen_site.api.access_log import access_log_discard
from tests.support.recorded import RECORDED_DIR


@pytest.fixture(autouse=True)
def access_log_of_this_test_only():
    """API access log entries a test's requests buffer are never written in another test's database."""
    access_log_discard()
    yield
    access_log_discard()


@pytest.fixture(autouse=True)
def ledger_dir(tmp_path_factory, settings) -> Path:
    """Every test writes its own ledger (and retention archive): a ledger directory belongs to one database."""
    base = tmp_path_factory.mktemp("ledger")
    settings.LEDGER_DIR = base / "ledger"
    settings.LEDGER_ARCHIVE_DIR = base / "archive"
    settings.LEDGER_LONG_TERM_DIR = base / "long-term"
    settings.RETENTION_ARCHIVE_DIR = base / "retention-archive"
    settings.BACKUP_DIR = base / "backups"
    return settings.LEDGER_DIR


@pytest.fixture(scope="session")
def recorded_dir() -> Path:
    """Replies the real services sent; read in place, never copied into the repository."""
    assert RECORDED_DIR.is_dir(), f"recorded replies are missing: expected them in {RECORDED_DIR}"
    return RECORDED_DIR


@pytest.fixture
def source_server():
    """A real HTTP server on 127.0.0.1 that tests teach to answer like a source."""
    from tests.support.recorded_server import RecordedServer

    server = RecordedServer().start()
    yield server
    server.stop()


@pytest.fixture
def fresh_database_url(tmp_path, settings):
    """A factory of URLs, each naming an empty database on the backend the suite runs on."""
    from tests.support.processes import FreshDatabases

    databases = FreshDatabases(settings.DATABASES["default"], tmp_path)
    yield databases
    databases.drop_all()


# Fixtures through which a test reaches the database the suite runs on (its own, or a child
# process's fresh one): such a test runs on SQLite and again on PostgreSQL.
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "live_server", "fresh_database_url"}


def touches_the_database(item) -> bool:
    if item.get_closest_marker("one_backend") is not None:
        return False  # its rows are beat's schedule, written alike on either backend
    return item.get_closest_marker("django_db") is not None or bool(DATABASE_FIXTURES & set(item.fixturenames))


def pytest_collection_modifyitems(config, items):
    """On the second backend's pass (``OMEN_TESTS_DATABASE_ONLY=1``, set by ``make test-postgres``),
    only the tests that touch the database run: the others (the WAL format, the parsers, the
    settings' refusals in child processes with their own environment...) cannot behave otherwise
    there, and ran on the first pass."""
    if os.environ.get("OMEN_TESTS_DATABASE_ONLY") != "1":
        return
    kept = [item for item in items if touches_the_database(item)]
    deselected = [item for item in items if not touches_the_database(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture
def view_get():
    """GET ``path`` from its view alone, as an admin key: the queries counted are the view's own.

    Authentication's queries (the key's lookup, its last use) depend on what the key cache holds
    and when the key was last used, so a count through the client would pin those too.
    """
    from django.urls import resolve
    from rest_framework.test import APIRequestFactory, force_authenticate

    from omen_site.api.auth import KeyHolder
    from omen_site.api.keys import ApiKey

    key, _ = ApiKey.issue("counted", ["admin"])
    factory = APIRequestFactory()

    def get(path):
        match = resolve(urlsplit(path).path)
        request = factory.get(path)
        force_authenticate(request, user=KeyHolder(key), token=key)
        response = match.func(request, *match.args, **match.kwargs)
        assert response.status_code == 200, response.data
        return response.data

    return get


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, driven by Playwright (nothing downloads a browser)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the tests make around it are still synchronous and safe.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()
