"""Operations: health, metrics, error pages, security headers and CORS (omen_site/operations/)."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ledger.models import LedgerWriterState
from ledger.services.writer import ledger_drain
from omen_site import urls as site_urls
from omen_site.api.keys import ApiKey
from omen_site.operations.health import run_checks
from signals.models import Signal, SourceRun
from tests.omen_site.commandline import OMEN_VARS
from tests.support.factories import (
    LedgerOutboxFactory,
    RejectionFactory,
    SignalFactory,
    SourceRunFactory,
    SourceStateFactory,
)
from tests.support.processes import ROOT, child_env, free_port, stop_process_group, wait_until

# --------------------------------------------------------------------------- a URLconf for the failures
# The site's own URLs and handlers, plus views that fail the ways no real view should.


def _raises(request):
    raise RuntimeError("a secret detail that must not reach the client")


def _forbidden(request):
    raise PermissionDenied


urlpatterns = [
    path("api/v1/boom/", _raises),
    path("boom/", _raises),
    path("api/v1/forbidden/", _forbidden),
    *site_urls.urlpatterns,
]
handler400, handler403 = site_urls.handler400, site_urls.handler403
handler404, handler500 = site_urls.handler404, site_urls.handler500

ERROR_SHAPE = {"error", "message", "details", "request_id"}


@pytest.fixture
def broker_folders(settings, tmp_path):
    """The filesystem broker in a folder of the test's own, not var/."""
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "broker" / "queue"),
        "data_folder_out": str(tmp_path / "broker" / "queue"),
        "processed_folder": str(tmp_path / "broker" / "processed"),
        "control_folder": str(tmp_path / "broker" / "control"),
    }
    return tmp_path / "broker"


def scrape(client, **headers) -> dict[str, dict[tuple, float]]:
    """/metrics parsed: sample name -> {sorted label pairs: value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def labels(**pairs) -> tuple:
    return tuple(sorted(pairs.items()))


# --------------------------------------------------------------------------- health


def test_live_answers_without_the_database(client):
    """No django_db mark: a query here would fail the request."""
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_ready_is_200_when_every_part_answers(client, broker_folders, ledger_dir):
    ledger_dir.mkdir(parents=True)

    response = client.get("/health/ready")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "cache", "ledger_dir", "outbox"}
    assert all(check["ok"] for check in body["checks"].values())
    assert (broker_folders / "queue").is_dir()  # made, as Celery makes them
    assert not any(ledger_dir.iterdir()) and not any((broker_folders / "queue").iterdir())  # probes removed


@pytest.mark.django_db(transaction=True)
def test_ready_is_503_naming_each_failing_part_and_why_within_its_deadline(client, settings, ledger_dir):
    # A broker that accepts the connection and never answers, a ledger directory that is gone,
    # a save waiting in the outbox for ten minutes.
    silent = socket.create_server(("127.0.0.1", 0))
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.5
    settings.HEALTH_OUTBOX_LAG_SECONDS = 300
    LedgerOutboxFactory(saved_at=timezone.now() - timedelta(minutes=10))

    started = time.monotonic()
    with silent:
        response = client.get("/health/ready")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["broker", "ledger_dir", "outbox"]
    checks = body["checks"]
    assert checks["database"]["ok"] and checks["cache"]["ok"]
    assert "Timeout" in checks["broker"]["detail"] or "no answer within" in checks["broker"]["detail"]
    assert checks["ledger_dir"]["detail"] == f"LEDGER_DIR {ledger_dir} does not exist (is its volume mounted?)"
    assert "1 save(s) wait in the ledger outbox, the oldest for 600 s" in checks["outbox"]["detail"]
    assert "HEALTH_OUTBOX_LAG_SECONDS=300" in checks["outbox"]["detail"]
    assert elapsed < 2


def test_a_check_that_hangs_fails_at_the_deadline_and_the_others_still_answer(settings):
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.2

    started = time.monotonic()
    results = run_checks({"hangs": lambda: time.sleep(1) or "late", "answers": lambda: "fine"})

    assert time.monotonic() - started < 0.6
    assert results["hangs"] == {
        "ok": False,
        "detail": "no answer within HEALTH_CHECK_TIMEOUT_SECONDS=0.2",
        "seconds": 0.2,
    }
    assert results["answers"]["ok"] and results["answers"]["detail"] == "fine"


def test_probes_at_once_share_a_hung_check_and_never_blame_the_others(settings):
    """Two checks that hang (as database and outbox do with a silent database) and three that
    answer, probed 12 times at once and again while the first runs still hang: the hanging ones
    run once each, in one thread each, and the others are never reported failing."""
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.5
    release, runs = threading.Event(), []

    def hangs():
        runs.append("hangs")
        release.wait(30)
        return "late"

    def hangs_too():
        runs.append("hangs_too")
        release.wait(30)
        return "late"

    checks = {"hangs": hangs, "hangs_too": hangs_too, "a": lambda: "fine", "b": lambda: "fine", "c": lambda: "fine"}
    try:
        with ThreadPoolExecutor(max_workers=12) as probes:
            for wave in range(2):
                started = time.monotonic()
                answers = list(probes.map(lambda _: run_checks(checks), range(12)))
                assert time.monotonic() - started < 1.5
                for results in answers:
                    assert [name for name, result in results.items() if not result["ok"]] == ["hangs", "hangs_too"]
                    assert all(results[name]["detail"] == "fine" for name in "abc")
                    assert results["hangs"]["detail"].startswith("no answer within HEALTH_CHECK_TIMEOUT_SECONDS=0.5")
                if wave == 1:  # no probe of this wave started the runs: each says since when they hang
                    assert all("; still checking since " in results["hangs"]["detail"] for results in answers)
        assert sorted(runs) == ["hangs", "hangs_too"]
        hung_threads = [t.name for t in threading.enumerate() if t.name.startswith("omen-health")]
        assert sorted(hung_threads) == ["omen-health-hangs", "omen-health-hangs_too"]
    finally:
        release.set()
    # Once a run has ended, the next probe runs the check again.
    wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("omen-health")], 5, "the runs to end")
    assert run_checks(checks)["hangs"] == {"ok": True, "detail": "late", "seconds": pytest.approx(0, abs=0.5)}


class SilentServer:
    """A TCP listener that accepts every connection and never answers: a hung database."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.held.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()
        self.thread.join(5)


def _get(url: str, timeout: float) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body), time.monotonic() - started


def test_concurrent_probes_against_a_hung_database_name_only_the_parts_that_hang(tmp_path):
    """The probe's case: a database that accepts and never answers, a gunicorn worker of 8 threads,
    waves of 8 probes at once. Only database and outbox (which reads the database) may fail, each
    for its own silence, every answer within its deadline; the healthy parts never do."""
    silent = SilentServer()
    port = free_port()
    (tmp_path / "ledger").mkdir()
    env = child_env(
        f"postgres://postgres@127.0.0.1:{silent.port}/omen_x",
        tmp_path / "var",
        LEDGER_DIR=str(tmp_path / "ledger"),
        HEALTH_CHECK_TIMEOUT_SECONDS="1",
        DATABASE_POOL_TIMEOUT_SECONDS="30",  # each database check hangs far past the deadline
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "omen_site.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "8", "--timeout", "120"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def answers_live():
            try:
                return _get(f"{base}/health/live", timeout=2)[0] == 200
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                return False

        wait_until(answers_live, 60, "gunicorn to answer /health/live")
        with ThreadPoolExecutor(max_workers=8) as probes:
            for _wave in range(3):  # the later waves find the first wave's checks still hanging
                answers = list(probes.map(lambda _: _get(f"{base}/health/ready", timeout=20), range(8)))
                for status, body, elapsed in answers:
                    assert status == 503, body
                    assert body["failing"] == ["database", "outbox"], body
                    for name in ("broker", "cache", "ledger_dir"):
                        assert body["checks"][name]["ok"], body
                    assert "no answer within HEALTH_CHECK_TIMEOUT_SECONDS=1" in body["checks"]["database"]["detail"]
                    assert elapsed < 3, body
    finally:
        stop_process_group(server)
        silent.close()


# --------------------------------------------------------------------------- metrics


@pytest.mark.django_db
def test_metrics_report_what_the_database_holds(client):
    signals = SignalFactory.create_batch(3)
    Signal.objects.filter(pk=signals[0].pk).update(status="RESOLVED")
    RejectionFactory.create_batch(2)
    RejectionFactory(source="news", stage="parse", rule="parse_error")
    started = timezone.now() - timedelta(hours=1)
    SourceRunFactory(started_at=started, finished_at=started + timedelta(seconds=1))
    SourceRunFactory(started_at=started, finished_at=started + timedelta(seconds=45), outcome=SourceRun.Outcome.FAILED)
    SourceRunFactory(started_at=started, finished_at=started, outcome=SourceRun.Outcome.SKIPPED_BUSY)
    SourceRunFactory(started_at=started, finished_at=None, outcome=SourceRun.Outcome.RUNNING)
    SourceStateFactory(breaker="open", consecutive_failures=4)
    ledger_drain()  # frames the three signals: one batch, one fsync
    LedgerOutboxFactory(saved_at=timezone.now() - timedelta(seconds=120))

    samples = scrape(client)

    kind = {"source": "polymarket", "signal_type": signals[0].signal_type}
    assert samples["omen_signals_stored"] == {
        labels(**kind, status=signals[1].status): 2,
        labels(**kind, status="RESOLVED"): 1,
    }
    assert samples["omen_rejections_stored"] == {
        labels(source="polymarket", stage="validation", rule="semantic_relevance"): 2,
        labels(source="news", stage="parse", rule="parse_error"): 1,
    }
    assert samples["omen_source_polls_total"] == {
        labels(source="polymarket", outcome=outcome): 1 for outcome in ("ok", "failed", "skipped_busy")
    }
    assert samples["omen_source_polls_running"] == {labels(source="polymarket"): 1}
    polymarket = ("source", "polymarket")
    buckets = samples["omen_source_poll_duration_seconds_bucket"]
    assert [buckets[(("le", le), polymarket)] for le in ("0.5", "1.0", "30.0", "45.0", "+Inf")] == [0, 1, 1, 2, 2]
    assert samples["omen_source_poll_duration_seconds_count"] == {(polymarket,): 2}
    assert samples["omen_source_poll_duration_seconds_sum"] == {(polymarket,): 46}
    last_failed = samples["omen_source_last_poll_timestamp_seconds"][labels(source="polymarket", outcome="failed")]
    assert last_failed == (started + timedelta(seconds=45)).timestamp()
    assert samples["omen_source_circuit_open"] == {(polymarket,): 1}
    assert samples["omen_source_consecutive_failures"] == {(polymarket,): 4}

    assert samples["omen_ledger_frames_written_total"] == {(): 3}
    assert samples["omen_ledger_fsyncs_total"] == {(): 1}
    state = LedgerWriterState.objects.get()
    assert samples["omen_ledger_fsync_seconds_total"] == {(): state.fsync_seconds} and state.fsync_seconds > 0
    assert samples["omen_ledger_last_fsync_seconds"] == {(): state.last_fsync_seconds}
    assert samples["omen_ledger_outbox_pending"] == {(): 1}
    assert 119 < samples["omen_ledger_outbox_oldest_age_seconds"][()] < 130
    assert samples["omen_ledger_writer_failing"] == {(): 0}
    assert samples["omen_metrics_database_up"] == {(): 1}


@pytest.mark.django_db
def test_metrics_read_the_database_in_a_fixed_handful_of_queries(client):
    def queries_of_a_scrape() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/metrics").status_code == 200
        # Reads only: PostgreSQL adds a savepoint and a statement timeout around them.
        return sum(query["sql"].startswith("SELECT") for query in captured.captured_queries)

    RejectionFactory()
    SourceRunFactory()
    few = queries_of_a_scrape()
    RejectionFactory.create_batch(5, rule="min_confidence")
    SourceRunFactory.create_batch(5, source="news", outcome=SourceRun.Outcome.FAILED)
    SourceStateFactory(source="news")
    SourceStateFactory(source="yahoo")
    more = queries_of_a_scrape()

    assert few == more <= 8


@pytest.mark.django_db
def test_request_latency_is_labelled_by_route_never_by_path(client):
    live = labels(method="GET", route="health/live", status="200")
    before = scrape(client)["omen_http_request_duration_seconds_count"].get(live, 0)  # the process's, so far
    client.get("/health/live")
    client.get("/api/v1/signals/OMEN-0000DEADBEEF/")
    client.get("/no/such/page/")

    counts = scrape(client)["omen_http_request_duration_seconds_count"]

    routes = {dict(pairs)["route"] for pairs in counts}
    assert {"health/live", "unmatched"} <= routes
    assert any("signal_id" in route for route in routes)
    assert not any("DEADBEEF" in route or "no/such" in route for route in routes)
    assert counts[live] == before + 1


@pytest.mark.django_db
def test_metrics_outside_development_need_a_key_with_read_stats_or_admin(client, settings):
    settings.METRICS_PUBLIC = False
    _, stats = ApiKey.issue("prometheus", ["read:stats"])
    _, admin = ApiKey.issue("operator", ["admin"])
    _, signals_only = ApiKey.issue("dashboard", ["read:signals"])

    refused = {
        "no key": client.get("/metrics"),
        "unknown key": client.get("/metrics", headers={"X-API-Key": "omen_0000_nope"}),
        "wrong scope": client.get("/metrics", headers={"X-API-Key": signals_only}),
    }
    allowed = [
        client.get("/metrics", headers={"X-API-Key": stats}),
        client.get("/metrics", headers={"X-API-Key": admin}),
        client.get("/metrics", headers={"Authorization": f"Bearer {stats}"}),  # Prometheus's own way
    ]

    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 403)
    assert [r.json()["error"] for r in refused.values()] == ["not_authenticated", "invalid_api_key", "missing_scope"]
    assert all(set(r.json()) == ERROR_SHAPE and r.json()["request_id"] == r["X-Request-ID"] for r in refused.values())
    assert [r.status_code for r in allowed] == [200, 200, 200]
    settings.METRICS_PUBLIC = True
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_in_multiprocess_mode_a_scrape_sums_every_workers_requests(client, tmp_path, monkeypatch):
    """Two processes answer a request each; a third process's scrape counts both."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in OMEN_VARS}
    env.update(OMEN_ENV_FILE="/dev/null", PROMETHEUS_MULTIPROC_DIR=str(directory), LOG_LEVEL="WARNING")
    code = (
        "import django; django.setup(); from django.test import Client; "
        "assert Client(HTTP_HOST='localhost').get('/health/live').status_code == 200"
    )
    workers = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env) for _ in range(2)]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))

    counts = scrape(client)["omen_http_request_duration_seconds_count"]

    assert counts[labels(method="GET", route="health/live", status="200")] == 2


# --------------------------------------------------------------------------- the error shape outside DRF


@pytest.mark.django_db
def test_an_unknown_api_path_is_a_json_404_carrying_the_request_id(client):
    response = client.get("/api/v1/nope/", headers={"X-Request-ID": "probe-404"})

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "not_found",
        "message": "Nothing is at /api/v1/nope/: the endpoints are listed at /api/docs/.",
        "details": [],
        "request_id": "probe-404",
    }
    assert response["X-Request-ID"] == "probe-404"


@pytest.mark.django_db
def test_outside_the_api_a_missing_page_is_djangos_html_404(client):
    response = client.get("/nope/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_an_exception_under_the_api_is_a_json_500_without_its_traceback(caplog):
    client = Client(raise_request_exception=False)

    response = client.get("/api/v1/boom/")
    page = client.get("/boom/")

    assert response.status_code == 500
    body = response.json()
    assert set(body) == ERROR_SHAPE and body["error"] == "server_error" and body["details"] == []
    assert body["request_id"] == response["X-Request-ID"]
    assert "secret detail" not in response.content.decode() and "Traceback" not in response.content.decode()
    assert f"server error answered to request {body['request_id']}" in caplog.text
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_a_bad_host_and_a_refusal_under_the_api_are_json_400_and_403(client):
    bad_host = client.get("/api/v1/signals/", headers={"host": "evil.example"})
    refused = client.get("/api/v1/forbidden/")

    assert (bad_host.status_code, bad_host.json()["error"]) == (400, "bad_request")
    assert (refused.status_code, refused.json()["error"]) == (403, "permission_denied")
    assert set(bad_host.json()) == set(refused.json()) == ERROR_SHAPE


def test_a_nul_under_the_api_is_a_json_400_naming_the_parameter(client):
    """No database: the refusal comes before any view."""
    in_query = client.get("/api/v1/signals/", {"source": "poly\x00market"})
    in_path = client.get("/api/v1/signals/x%00y/")

    assert in_query.status_code == in_path.status_code == 400
    assert in_query.json()["error"] == "invalid_request"
    assert in_query.json()["details"] == [
        {
            "field": "source",
            "message": "The query parameter 'source' holds a NUL character, which no column can store or match.",
            "code": "null_characters_not_allowed",
        }
    ]
    assert in_path.json()["message"] == "The path holds a NUL character, which no column can store or match."


# --------------------------------------------------------------------------- headers


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.inline, self.links = [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.sources.append(attrs["src"])
            else:
                self.inline += 1
        self.links += [value for name, value in attrs.items() if name in {"src", "href"} and value]


@pytest.mark.django_db
def test_the_docs_pages_run_no_inline_script_and_load_nothing_from_elsewhere(client):
    for url in ("/api/docs/", "/api/redoc/"):
        response = client.get(url)
        assert response.status_code == 200
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'" and policy["default-src"] == "'none'"
        page = _Scripts()
        page.feed(response.content.decode())
        assert page.inline == 0 and page.sources, url
        assert all(link.startswith("/") for link in page.links), page.links

    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


def test_every_answer_says_nosniff_and_may_not_be_framed(client):
    response = client.get("/health/live")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


# --------------------------------------------------------------------------- CORS


@pytest.mark.django_db
def test_cors_answers_only_allowed_origins_and_only_under_the_api(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://dashboard.example.com"]
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"}

    def origin(value, method="get", url="/api/v1/signals/", **headers):
        return getattr(client, method)(url, headers={"Origin": value, **headers})

    allowed = origin("https://dashboard.example.com")
    allowed_preflight = origin("https://dashboard.example.com", "options", **preflight)
    refused = origin("https://evil.example")
    refused_preflight = origin("https://evil.example", "options", **preflight)
    outside_api = origin("https://dashboard.example.com", url="/health/live")

    assert allowed["Access-Control-Allow-Origin"] == "https://dashboard.example.com"
    assert "X-Request-ID" in allowed["Access-Control-Expose-Headers"]
    assert allowed_preflight.status_code == 200
    assert allowed_preflight["Access-Control-Allow-Origin"] == "https://dashboard.example.com"
    assert "x-api-key" in allowed_preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in allowed_preflight
    for response in (refused, refused_preflight, outside_api):
        assert "Access-Control-Allow-Origin" not in response
