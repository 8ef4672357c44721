"""The API access log (issue 12): what a request under /api/ leaves, what is left out, when the
buffer is written, and that the log never costs a response."""

from datetime import timedelta

import pytest
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from omen_site.api import access_log
from omen_site.api.access_log import ApiAccessLogEntry, access_log_flush
from omen_site.api.keys import ApiKey
from tests.support.factories import SignalFactory
from tests.support.processes import child_env, manage, query

pytestmark = pytest.mark.django_db

TABLE = ApiAccessLogEntry._meta.db_table


@pytest.fixture(autouse=True)
def each_entry_written_as_its_response_closes(settings):
    settings.API_ACCESS_LOG = True
    settings.API_ACCESS_LOG_FLUSH_ROWS = 1
    settings.API_ACCESS_LOG_FLUSH_SECONDS = 3600


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(access_log, "clock", lambda: now[0])
    return now


def with_queries(request):
    """A request's response and the SQL it ran (each request starts by emptying Django's query log)."""
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        response = request()
    return response, [query["sql"] for query in captured.captured_queries]


def entries(*fields):
    return list(ApiAccessLogEntry.objects.order_by("id").values_list(*fields))


def test_a_keyed_request_leaves_one_entry_with_its_fields(client):
    key, raw = ApiKey.issue("dashboard", ["read:signals"])
    before = timezone.now()

    response = client.get("/api/v1/signals/?source=polymarket", HTTP_X_API_KEY=raw, HTTP_X_REQUEST_ID="trace-42")

    assert response.status_code == 200
    entry = ApiAccessLogEntry.objects.get()
    assert (entry.method, entry.path, entry.query_string, entry.status_code) == (
        "GET",
        "/api/v1/signals/",
        "source=polymarket",
        200,
    )
    assert entry.route == response.resolver_match.route and "signals" in entry.route
    assert (entry.api_key, entry.api_key_prefix, entry.user) == (key, key.prefix, None)
    assert entry.client_address == "127.0.0.1"
    assert entry.request_id == response["X-Request-ID"] == "trace-42"
    assert entry.response_bytes == len(response.content) > 0
    assert before <= entry.created_at <= timezone.now()
    assert 0 < entry.duration_ms < 60_000


def test_an_error_page_answered_under_the_api_is_logged_at_the_size_of_the_error_shape_sent(client, settings):
    settings.DEBUG = True  # Django's debug 404 page, which no error handler sees, becomes the error shape

    response = client.get("/api/v1/nothing-here/")

    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    entry = ApiAccessLogEntry.objects.get()
    assert entry.response_bytes == len(response.content)  # not the HTML page's, some 8 KB


@pytest.mark.parametrize(
    ("remote_addr", "stored"),
    [
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),  # as Django's field writes it, on SQLite too
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("not an address", None),
    ],
)
def test_the_client_address_is_stored_as_djangos_field_stores_it(client, remote_addr, stored):
    client.get("/api/v1/signals/", REMOTE_ADDR=remote_addr)
    access_log_flush()
    assert entries("client_address") == [(stored,)]


@pytest.mark.parametrize(("proxies", "stored"), [(0, "198.51.100.9"), (1, "203.0.113.7"), (2, "192.0.2.1")])
def test_behind_trusted_proxies_the_address_is_the_one_the_outermost_saw(client, settings, proxies, stored):
    settings.TRUSTED_PROXIES = proxies
    client.get("/api/v1/signals/", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.7")
    access_log_flush()
    assert entries("client_address") == [(stored,)]


def test_a_staff_sessions_read_leaves_the_user_and_no_key(client, django_user_model):
    analyst = django_user_model.objects.create_user(username="analyst", password="unused", is_staff=True)
    client.force_login(analyst)

    assert client.get("/api/v1/sources/").status_code == 200

    assert entries("user", "api_key", "api_key_prefix", "status_code") == [(analyst.pk, None, "", 200)]


def test_refusals_are_logged_with_their_status_and_whoever_was_authenticated(client):
    key, raw = ApiKey.issue("busy", ["read:signals"], throttle_rate="1/day")

    statuses = [
        client.get("/api/v1/nowhere/", HTTP_X_API_KEY=raw).status_code,  # no view: nobody authenticated
        client.get("/api/v1/signals/OMEN-000000000000/", HTTP_X_API_KEY=raw).status_code,
        client.get("/api/v1/signals/").status_code,
        client.get("/api/v1/signals/", HTTP_X_API_KEY=raw).status_code,  # the day's one request, used up
    ]

    assert statuses == [404, 404, 401, 429]
    assert entries("path", "status_code", "api_key_prefix") == [
        ("/api/v1/nowhere/", 404, ""),
        ("/api/v1/signals/OMEN-000000000000/", 404, key.prefix),
        ("/api/v1/signals/", 401, ""),
        ("/api/v1/signals/", 429, key.prefix),
    ]
    assert entries("route")[0] == ("",)


def test_a_path_holding_nul_is_logged_as_the_400_it_got_on_every_backend(client):
    response = client.get("/api/v1/signals/a%00b/")

    assert response.status_code == 400
    assert entries("path", "status_code") == [("/api/v1/signals/a%00b/", 400)]


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/login/", "/health/live", "/metrics", "/api/schema/", "/api/docs/", "/api/redoc/"]
)
def test_pages_outside_the_api_and_its_docs_pages_are_not_logged(client, path):
    assert client.get(path).status_code in {200, 302}
    access_log_flush()

    assert not ApiAccessLogEntry.objects.exists()


def test_the_buffer_is_written_once_it_holds_flush_rows_entries(client, settings):
    settings.API_ACCESS_LOG_FLUSH_ROWS = 3

    client.get("/api/v1/signals/")
    client.get("/api/v1/signals/")
    held = ApiAccessLogEntry.objects.count()
    client.get("/api/v1/signals/")

    assert held == 0
    assert ApiAccessLogEntry.objects.count() == 3


def test_the_buffer_is_written_once_its_oldest_entry_is_flush_seconds_old(client, settings, clock):
    settings.API_ACCESS_LOG_FLUSH_ROWS = 1000
    settings.API_ACCESS_LOG_FLUSH_SECONDS = 5

    client.get("/api/v1/signals/")
    clock[0] += 4.9
    client.get("/api/v1/signals/")
    held = ApiAccessLogEntry.objects.count()
    clock[0] += 0.1
    client.get("/api/v1/signals/")

    assert held == 0
    assert ApiAccessLogEntry.objects.count() == 3


def test_a_forced_flush_writes_what_waits_in_one_bulk_write(client, settings, monkeypatch):
    settings.API_ACCESS_LOG_FLUSH_ROWS = 1000
    for _ in range(5):
        client.get("/api/v1/signals/")
    writes = []
    append_rows = access_log.append_rows
    monkeypatch.setattr(access_log, "append_rows", lambda *args: writes.append(len(args[2])) or append_rows(*args))

    written = access_log_flush()

    assert written == 5 and ApiAccessLogEntry.objects.count() == 5
    assert writes == [5]  # one COPY (PostgreSQL) or one prepared INSERT (SQLite), not one per entry
    assert access_log_flush() == 0


def test_a_database_failure_while_writing_is_logged_and_the_request_still_succeeds(client, caplog):
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}")  # undone with the test's transaction

    response = client.get("/api/v1/signals/")

    assert response.status_code == 401
    assert "API access log: 1 entries not written" in caplog.text
    assert client.get("/health/live").status_code == 200  # the connection is still usable
    assert access_log_flush() == 0  # the failed batch was dropped, not kept


def test_the_log_is_off_when_the_setting_says_so(client, settings):
    settings.API_ACCESS_LOG = False

    assert client.get("/api/v1/signals/").status_code == 401

    assert access_log_flush() == 0
    assert not ApiAccessLogEntry.objects.exists()


@pytest.mark.slow
def test_a_process_writes_what_it_buffered_as_it_exits(fresh_database_url, tmp_path):
    database_url = fresh_database_url()
    env = child_env(database_url, tmp_path / "var", API_ACCESS_LOG_FLUSH_ROWS="1000")
    manage(env, "migrate", "-v0")

    printed = manage(
        env,
        "shell",
        "--no-imports",
        "-c",
        "from django.test import Client; "
        "from omen_site.models import ApiAccessLogEntry; "
        "print(Client(HTTP_HOST='localhost').get('/api/v1/nowhere/').status_code, ApiAccessLogEntry.objects.count())",
    )

    assert printed.split() == ["404", "0"]  # nothing written while the process ran
    assert query(database_url, f"SELECT path, status_code FROM {TABLE}") == [("/api/v1/nowhere/", 404)]


def test_the_admin_lists_entries_read_only_and_drills_down_by_date_without_distinct(admin_client, client):
    key, raw = ApiKey.issue("dashboard", ["read:signals"])
    SignalFactory()
    client.get("/api/v1/signals/", HTTP_X_API_KEY=raw)
    client.get("/api/v1/nowhere/")
    for days_ago, entry in zip([40, 0], ApiAccessLogEntry.objects.order_by("id"), strict=True):
        entry.created_at = timezone.now() - timedelta(days=days_ago)
        entry.save()
    key.delete()  # its entries keep its prefix
    url = reverse("admin:omen_site_apiaccesslogentry_changelist")

    listed, listing_queries = with_queries(lambda: admin_client.get(url))
    filtered, filtering_queries = with_queries(lambda: admin_client.get(url, {"status_class": "4", "method": "GET"}))
    today = timezone.localdate()
    by_day, by_day_queries = with_queries(
        lambda: admin_client.get(url, {"created_at__year": today.year, "created_at__month": today.month})
    )

    assert listed.status_code == filtered.status_code == by_day.status_code == 200
    page = listed.content.decode()
    assert f"key {key.prefix} (deleted)" in page and "/api/v1/nowhere/" in page
    assert [entry.path for entry in filtered.context["cl"].result_list] == ["/api/v1/nowhere/"]
    assert f"created_at__day={today.day}" in by_day.content.decode()
    log_queries = [sql for sql in listing_queries + filtering_queries + by_day_queries if TABLE in sql]
    assert log_queries and not any("DISTINCT" in sql for sql in log_queries)
    assert f"{url}add/" not in page and admin_client.get(f"{url}add/").status_code == 403
    entry = ApiAccessLogEntry.objects.first()
    assert admin_client.post(reverse("admin:omen_site_apiaccesslogentry_delete", args=[entry.pk])).status_code == 403
