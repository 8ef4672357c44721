"""API keys, scopes and the one error shape (issue 11, points 2 and 4)."""

import io
import json
import secrets

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from omen_site.api.keys import SCOPES, ApiKey, key_digest
from tests.support.factories import SignalFactory
from tests.support.throttle_windows import away_from_a_minutes_end

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    "/api/v1/signals/",
    "/api/v1/signals/{signal_id}/",
    "/api/v1/signals/{signal_id}/history/",
    "/api/v1/signals/{signal_id}/explanation/",
    "/api/v1/rejections/",
    "/api/v1/sources/",
]


@pytest.fixture
def signal():
    return SignalFactory()


def get(client, url, key=None, **extra):
    headers = {"HTTP_X_API_KEY": key} if key is not None else {}
    return client.get(url, **headers, **extra)


def assert_error_shape(response, status, error):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details", "request_id"}
    assert body["error"] == error
    assert body["message"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_a_key_is_stored_as_a_hash_and_found_by_its_plain_text_once():
    key, raw = ApiKey.issue("dashboard", ["read:signals"])

    assert raw.startswith(f"omen_{key.prefix}_")
    assert key.digest == key_digest(raw) and raw not in key.digest
    assert ApiKey.find(raw) == key
    assert ApiKey.find(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    key.revoke()
    assert ApiKey.find(raw) is None


@pytest.mark.parametrize("raw", ["omen_ab\x00cd_secret", "omen_abcd_se\x00cret", "omen_ab\x1fcd_secret"])
def test_a_key_holding_a_control_character_is_unknown_not_a_server_error(client, raw):
    """The fault probe's X-API-Key with a NUL in its prefix, sent to runserver (gunicorn refuses
    such a header itself): the prefix went to PostgreSQL, which refuses NUL in any text
    parameter, and the request was a 500; SQLite took it and matched nothing."""
    assert ApiKey.find(raw) is None
    for reply in (
        get(client, "/api/v1/signals/", raw),
        client.post(
            "/api/v1/signals/ingest/",
            data="{}",
            content_type="application/json",
            HTTP_X_API_KEY=raw,
            HTTP_IDEMPOTENCY_KEY="k",
        ),
    ):
        assert_error_shape(reply, 401, "invalid_api_key")


def test_an_unknown_scope_is_refused_naming_it():
    with pytest.raises(ValueError, match="unknown scope.*read:everything"):
        ApiKey.issue("x", ["read:everything"])


@pytest.mark.parametrize("template", ENDPOINTS)
def test_scope_table_for_every_read_endpoint(client, signal, template):
    url = template.format(signal_id=signal.signal_id)
    _, reader = ApiKey.issue("reader", ["read:signals"])
    _, admin_key = ApiKey.issue("ops", ["admin"])
    _, other = ApiKey.issue("ledger consumer", ["read:ledger"])
    revoked, revoked_raw = ApiKey.issue("old", ["read:signals"])
    revoked.revoke()

    assert_error_shape(get(client, url), 401, "not_authenticated")
    assert_error_shape(get(client, url, "omen_nope_nope"), 401, "invalid_api_key")
    assert_error_shape(get(client, url, revoked_raw), 401, "invalid_api_key")
    body = assert_error_shape(get(client, url, other), 403, "missing_scope")
    assert "read:signals" in body["message"]
    assert get(client, url, reader).status_code == 200
    assert get(client, url, admin_key).status_code == 200


def test_a_staff_session_may_read_and_a_plain_user_may_not(client, signal):
    staff = User.objects.create_user("analyst", password="x", is_staff=True)
    plain = User.objects.create_user("someone", password="x")

    client.force_login(plain)
    assert_error_shape(client.get("/api/v1/signals/"), 403, "missing_scope")
    client.force_login(staff)
    assert client.get("/api/v1/signals/").status_code == 200


def test_the_last_use_of_a_key_is_recorded(client, signal):
    key, raw = ApiKey.issue("reader", ["read:signals"])
    assert key.last_used_at is None

    get(client, "/api/v1/signals/", raw)

    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_bad_filter_is_a_400_naming_the_field(client, signal):
    _, raw = ApiKey.issue("reader", ["read:signals"])

    body = assert_error_shape(get(client, "/api/v1/signals/?probability_min=high", raw), 400, "invalid_request")

    assert [d["field"] for d in body["details"]] == ["probability_min"]
    assert "probability_min" in body["message"]


def test_an_unknown_signal_is_a_404_in_the_error_shape(client):
    _, raw = ApiKey.issue("reader", ["read:signals"])

    assert_error_shape(get(client, "/api/v1/signals/OMEN-000000000000/", raw), 404, "not_found")


def test_the_request_id_is_echoed_when_plain_and_made_up_otherwise(client):
    echoed = client.get("/api/v1/signals/", HTTP_X_REQUEST_ID="trace-42")
    replaced = client.get("/api/v1/signals/", HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert echoed["X-Request-ID"] == "trace-42" == echoed.json()["request_id"]
    assert replaced["X-Request-ID"] != "bad id\nwith newline" and len(replaced["X-Request-ID"]) == 32


def test_the_schema_and_its_docs_are_served_without_any_network(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    docs = client.get("/api/docs/")
    redoc = client.get("/api/redoc/")

    assert schema.status_code == 200
    document = json.loads(schema.content)
    assert document["openapi"].startswith("3.")
    assert "/api/v1/signals/" in document["paths"]
    assert document["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    for page in (docs, redoc):
        html = page.content.decode()
        assert page.status_code == 200
        assert "drf_spectacular_sidecar" in html  # the UI's files are served from this site
        assert "cdn." not in html and "unpkg" not in html


def test_a_schema_format_it_does_not_have_is_a_404_in_the_error_shape(client):
    response = client.get("/api/schema/?format=bogus")

    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found" and response.json()["request_id"] == response["X-Request-ID"]


def test_the_command_creates_a_key_printed_once_lists_and_revokes_it():
    def manage(*args):
        out, err = io.StringIO(), io.StringIO()
        call_command("api_key", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    raw, note = manage("create", "dashboard", "--scopes", "read:signals", "read:stats")
    raw = raw.strip()
    prefix = raw.split("_")[1]
    listed, _ = manage("list")
    manage("revoke", prefix)

    assert raw.startswith("omen_") and "store it now" in note
    assert f"{prefix}  dashboard  read:signals read:stats  last used never  live" in listed
    assert raw not in listed
    assert "revoked" in manage("list")[0]
    with pytest.raises(CommandError, match="no key with the prefix"):
        manage("revoke", "nothere")


def api_key_command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


FORGED_LINE = "partner\nfd00465e418b  admin  admin  last used never  live"
REFUSED_NAMES = [
    pytest.param("", "name: This field cannot be blank.", id="empty"),
    pytest.param(" \t ", "name: This field cannot be blank.", id="only-whitespace"),
    pytest.param("x" * 500, "name: Ensure this value has at most 100 characters (it has 500).", id="too-long"),
    pytest.param(FORGED_LINE, "(it has U+000A)", id="newline"),
    pytest.param("part\rner", "(it has U+000D)", id="carriage-return"),
    pytest.param("a\x1b[2Jb", "(it has U+001B)", id="terminal-escape"),
    pytest.param("in\ttab", "(it has U+0009)", id="tab"),
    pytest.param("admin\u202e", "(it has U+202E)", id="bidi-override"),
    pytest.param("line\u2028two", "(it has U+2028)", id="line-separator"),
    # Letters and marks that render as nothing: a list showed these names as blank.
    pytest.param("\u3164\u3164", "(it has U+3164)", id="hangul-filler"),
    pytest.param("admin\ufe0f\u034f", "(it has U+FE0F, U+034F)", id="variation-selector-and-joiner"),
    pytest.param("\u2800\u2800", "(it has U+2800)", id="braille-blank"),  # a symbol, drawn as a space
]


@pytest.mark.parametrize(("name", "message"), REFUSED_NAMES)
def test_the_command_refuses_a_name_that_is_blank_too_long_or_not_one_visible_line(name, message):
    with pytest.raises(CommandError) as refused:
        api_key_command("create", name, "--scopes", "admin")

    assert str(refused.value).startswith("no key created: name: ")
    assert message in str(refused.value)
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(("name", "message"), REFUSED_NAMES)
def test_issue_and_any_save_refuse_the_same_names_on_name(name, message):
    with pytest.raises(ValidationError) as refused:
        ApiKey.issue(name, ["read:signals"])
    assert list(refused.value.message_dict) == ["name"]
    assert message.removeprefix("name: ") in " ".join(refused.value.message_dict["name"])

    if name.strip():  # not stripped here: a save checks the name as it is
        with pytest.raises(ValidationError, match="name"):
            ApiKey.objects.create(name=name, prefix=secrets.token_hex(6), digest="0" * 64, scopes=["admin"])
    assert not ApiKey.objects.exists()


def test_a_name_is_stripped_and_one_of_the_columns_length_is_kept():
    key, _ = ApiKey.issue("  partner  ", ["read:signals"])
    longest, _ = ApiKey.issue("é" * 100, ["read:signals"])

    assert ApiKey.objects.get(pk=key.pk).name == "partner"
    assert ApiKey.objects.get(pk=longest.pk).name == "é" * 100


def test_list_prints_one_line_per_key_even_for_a_name_stored_before_names_were_checked():
    key, _ = ApiKey.issue("partner", ["read:signals"])
    ApiKey.objects.filter(pk=key.pk).update(name=FORGED_LINE)  # as a row from before the check
    blank, _ = ApiKey.issue("blank", ["read:signals"])
    ApiKey.objects.filter(pk=blank.pk).update(name="")

    listed = api_key_command("list")[0].splitlines()

    assert listed == [
        f"{key.prefix}  partner\\nfd00465e418b  admin  admin  last used never  live"
        "  read:signals  last used never  live",
        f"{blank.prefix}  ''  read:signals  last used never  live",
    ]
    api_key_command("revoke", key.prefix)  # such a key can still be revoked
    assert ApiKey.objects.get(pk=key.pk).revoked


def test_revoking_a_revoked_key_says_since_when_and_changes_nothing():
    key, _ = ApiKey.issue("partner", ["read:signals"])
    first, _ = api_key_command("revoke", key.prefix)
    revoked_at = ApiKey.objects.get(pk=key.pk).revoked_at

    again, _ = api_key_command("revoke", f"omen_{key.prefix}_")

    assert first == f"revoked partner (omen_{key.prefix}_…)\n"
    assert again == (
        f"partner (omen_{key.prefix}_…) was already revoked, at {revoked_at:%Y-%m-%d %H:%M:%S} UTC: nothing changed\n"
    )
    assert ApiKey.objects.get(pk=key.pk).revoked_at == revoked_at


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("x" * 101, "Ensure this value has at most 100 characters (it has 101)."),
        (FORGED_LINE, "Ensure this value has no control or invisible formatting characters (it has U+000A)."),
        ("a\x1b[2Jb", "Ensure this value has no control or invisible formatting characters (it has U+001B)."),
        ("admin\u202e", "Ensure this value has no control or invisible formatting characters (it has U+202E)."),
    ],
)
def test_the_admins_creation_form_refuses_the_same_names_next_to_name(admin_client, name, message):
    response = admin_client.post("/admin/omen_site/apikey/add/", {"name": name, "scopes": ["read:signals"]})

    assert response.status_code == 200  # the form again, not the redirect of a key created
    assert response.context["adminform"].form.errors == {"name": [message]}
    assert not ApiKey.objects.exists()


def test_every_scope_is_offered_in_the_admin_and_a_created_key_is_shown_once(admin_client):
    page = admin_client.get("/admin/omen_site/apikey/add/").content.decode()
    assert all(scope in page for scope in SCOPES)

    response = admin_client.post(
        "/admin/omen_site/apikey/add/", {"name": "partner", "scopes": ["write:signals"]}, follow=True
    )

    key = ApiKey.objects.get(name="partner")
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) >= 1 and any(f"omen_{key.prefix}_" in m for m in shown)
    raw = next(m for m in shown if "omen_" in m).split(": ")[-1]
    assert ApiKey.find(raw) == key
    assert key.created_by.username == "admin"


def test_a_rate_that_is_not_one_is_refused_on_the_admin_form_naming_the_field(admin_client):
    """It used to reach ApiKey.issue in save_model, whose ValueError was a 500."""
    response = admin_client.post(
        "/admin/omen_site/apikey/add/", {"name": "partner", "scopes": ["read:signals"], "throttle_rate": "lots"}
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["throttle_rate"]
    assert "Not a rate: write N/s, N/min, N/hour or N/day" in response.content.decode()
    assert not ApiKey.objects.filter(name="partner").exists()
    admin_client.post(
        "/admin/omen_site/apikey/add/", {"name": "partner", "scopes": ["read:signals"], "throttle_rate": " 50/min "}
    )
    assert ApiKey.objects.get(name="partner").throttle_rate == "50/min"


def test_the_schema_generates_and_validates_without_a_warning(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    assert "X-API-Key" in (tmp_path / "schema.yml").read_text()


def test_a_key_past_its_rate_gets_a_429_with_retry_after_and_every_reply_says_where_it_stands(client):
    _, raw = ApiKey.issue("busy", ["read:signals"], throttle_rate="3/min")
    away_from_a_minutes_end()

    replies = [get(client, "/api/v1/signals/", raw) for _ in range(4)]

    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert [r["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0"]
    assert {r["X-RateLimit-Limit"] for r in replies} == {"3"}
    body = assert_error_shape(replies[-1], 429, "throttled")
    assert 1 <= int(replies[-1]["Retry-After"]) <= 60
    assert int(replies[-1]["X-RateLimit-Reset"]) % 60 == 0
    assert "throttled" in body["error"]


def test_the_default_rate_applies_to_keys_without_their_own(client, settings):
    settings.API_THROTTLE_RATE = "2/min"
    _, raw = ApiKey.issue("plain", ["read:signals"])
    away_from_a_minutes_end()

    codes = [get(client, "/api/v1/signals/", raw).status_code for _ in range(3)]

    assert codes == [200, 200, 429]


def unique_address() -> str:
    # The cache's counters outlive a test (and a rerun): an address of this call alone (RFC 3849).
    # A /64 of its own: callers without a key are counted by their /64.
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"


def anonymous_schema_codes(client, forwarded_for):
    remote = unique_address()
    return [
        client.get(
            "/api/schema/", HTTP_ACCEPT="application/json", HTTP_X_FORWARDED_FOR=address, REMOTE_ADDR=remote
        ).status_code
        for address in forwarded_for
    ]


def test_a_caller_without_a_key_cannot_escape_its_rate_by_making_up_forwarded_addresses(client, settings):
    settings.API_THROTTLE_RATE = "2/min"
    away_from_a_minutes_end()

    assert anonymous_schema_codes(client, [unique_address() for _ in range(3)]) == [200, 200, 429]


def test_a_caller_without_a_key_cannot_escape_its_rate_by_drawing_addresses_from_its_ipv6_line(client, settings):
    settings.API_THROTTLE_RATE = "2/min"
    away_from_a_minutes_end()
    line = unique_address().removesuffix("::1")

    codes = [
        client.get("/api/schema/", HTTP_ACCEPT="application/json", REMOTE_ADDR=f"{line}:{n:x}:0:0:{n:x}").status_code
        for n in range(1, 4)
    ]

    assert codes == [200, 200, 429]


def test_behind_a_trusted_proxy_callers_are_told_apart_by_the_address_it_saw(client, settings):
    settings.API_THROTTLE_RATE = "1/min"
    settings.TRUSTED_PROXIES = 1
    away_from_a_minutes_end()
    first, second = unique_address(), unique_address()

    # The proxy appends the address it saw; what the caller wrote before it is not believed.
    codes = anonymous_schema_codes(client, [f"1.1.1.1, {first}", f"2.2.2.2, {second}", f"3.3.3.3, {first}"])

    assert codes == [200, 200, 429]


@pytest.mark.parametrize("rate", ["fast", "0/min", "10/fortnight"])
def test_a_rate_that_is_not_one_is_refused_at_creation(rate):
    with pytest.raises(ValueError, match="a rate is N/s, N/min, N/hour or N/day"):
        ApiKey.issue("x", ["read:signals"], throttle_rate=rate)
