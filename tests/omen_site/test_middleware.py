"""StorableQueryMiddleware: a query holding NUL is a 400 on every backend, for every admin changelist."""

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.auth.models import Permission
from django.urls import reverse

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("signals", "ledger")
# Every changelist of the site, the project's and third-party apps' (users, the beat schedule).
ADMIN_MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)
PROJECT_MODELS = [model for model in ADMIN_MODELS if model._meta.app_label in PROJECT_APPS]


@pytest.fixture
def staff_client(client, django_user_model):
    """An analyst: staff, allowed to view the project's models and nothing more."""
    analyst = django_user_model.objects.create_user(username="analyst", password="unused", is_staff=True)
    analyst.user_permissions.set(
        Permission.objects.filter(codename__startswith="view_", content_type__app_label__in=PROJECT_APPS)
    )
    client.force_login(analyst)
    return client


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="root", password="unused"))
    return client


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def query_parameters(changelist) -> list[str]:
    """Every parameter a changelist turns into SQL: its list filters', its search, its date drill-down,
    and a plain lookup on each column (the admin accepts ``?source=...`` though no filter offers it)."""
    names = {name for spec in changelist.filter_specs for name in spec.expected_parameters()}
    if changelist.search_fields:
        names.add(SEARCH_VAR)
    if changelist.date_hierarchy:
        names |= {f"{changelist.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    names |= {field.name for field in changelist.model._meta.concrete_fields}
    return sorted(names)


def test_every_app_of_the_project_has_its_changelists_checked():
    assert {model._meta.app_label for model in PROJECT_MODELS} == set(PROJECT_APPS)


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda model: model._meta.label)
def test_a_nul_in_any_filter_search_or_lookup_is_a_400_not_a_server_error(superuser_client, model):
    """PostgreSQL cannot take NUL in a text parameter; SQLite can. Both answer 400 before any query."""
    url = changelist_url(model)
    listed = superuser_client.get(url)
    assert listed.status_code == 200
    parameters = query_parameters(listed.context["cl"])

    answers = {name: superuser_client.get(url, {name: "Red Sea\x00"}).status_code for name in parameters}

    assert answers == dict.fromkeys(parameters, 400)


def test_the_400_names_the_parameter_and_a_nul_in_a_parameters_name_counts_too(staff_client):
    url = changelist_url(PROJECT_MODELS[0])

    named = staff_client.get(url, {"q": "\x00"})
    nameless = staff_client.get(f"{url}?source%00=polymarket")

    assert named.status_code == nameless.status_code == 400
    assert named["Content-Type"].startswith("text/plain")
    assert "'q' holds a NUL character" in named.content.decode()
    assert "'source\\x00' holds a NUL character" in nameless.content.decode()


def test_filters_and_searches_without_nul_still_list_rows(staff_client):
    url = reverse("admin:signals_signal_changelist")

    answers = [staff_client.get(url, query).status_code for query in ({"source": "polymarket"}, {"q": "Red\tSea\x1b"})]

    assert answers == [200, 200]


@pytest.mark.parametrize("path", ["/api/v1/signals/x%00y/", "/api/v1/signals/%00/history/", "/admin/signals/%00/"])
def test_a_nul_in_the_path_is_a_400_not_a_server_error(client, path):
    """An id in the path reaches a text lookup: PostgreSQL would refuse the NUL with an error."""
    response = client.get(path)

    assert response.status_code == 400
    assert "path holds a NUL character" in response.content.decode()


def test_with_debug_on_an_api_path_that_matches_nothing_is_still_the_error_shape(client, settings):
    # DEBUG makes Django answer its technical 404 page, which skips handler404.
    settings.DEBUG = True
    reply = client.get("/api/v1/nope/", HTTP_X_REQUEST_ID="probe-1")

    assert reply.status_code == 404
    assert reply.json() == {
        "error": "not_found",
        "message": "404 Not Found for GET /api/v1/nope/.",
        "details": [],
        "request_id": "probe-1",
    }
    assert client.get("/admin/nope/").headers["Content-Type"].startswith("text/html")  # pages stay pages


def test_a_shaped_page_keeps_the_headers_the_middleware_inside_gave_it(client):
    """Shaped inside the security middleware (just inside the access log), the page keeps its Allow
    and its view's own Content-Security-Policy (the docs pages'), and gets the security headers."""
    reply = client.post("/api/docs/")  # Django's 405 page: the docs are plain Django views

    assert reply.status_code == 405 and reply.json()["error"] == "method_not_allowed"
    assert reply["Allow"] == "GET, HEAD, OPTIONS"
    assert reply["X-Content-Type-Options"] == "nosniff"
    assert reply["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in reply["Content-Security-Policy"]


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_a_host_refused_by_the_https_redirect_still_answers_with_its_request_id(client, settings, debug):
    """SecurityMiddleware reads the Host first when it redirects to HTTPS (production's default), so
    a Host not in ALLOWED_HOSTS is refused there: the request id must already be set."""
    settings.SECURE_SSL_REDIRECT = True
    settings.DEBUG = debug
    reply = client.get("/api/v1/signals/", headers={"host": "evil.example", "X-Request-ID": "probe-host"})

    assert reply.status_code == 400
    assert reply.json()["error"] == "bad_request"
    assert reply.json()["request_id"] == "probe-host"
    assert reply["X-Request-ID"] == "probe-host"


def test_an_https_redirect_carries_a_request_id_too(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    reply = client.get("/api/v1/signals/", headers={"X-Request-ID": "probe-redirect"})

    assert reply.status_code == 301 and reply["Location"].startswith("https://")
    assert reply["X-Request-ID"] == "probe-redirect"


def test_a_page_outside_the_api_missing_its_slash_keeps_djangos_301(admin_client):
    response = admin_client.get("/admin/signals/signal")
    assert response.status_code == 301 and response["Location"] == "/admin/signals/signal/"


def test_an_api_path_missing_its_slash_is_a_308_that_keeps_the_query(client):
    response = client.get("/api/v1/signals?limit=1&source=polymarket")
    assert response.status_code == 308 and response["Location"] == "/api/v1/signals/?limit=1&source=polymarket"
