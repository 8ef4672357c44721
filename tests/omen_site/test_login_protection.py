"""Admin login protection (issue 13, item 7): lockouts per (username, address) with django-axes,
Argon2 password hashes, and the admin's Content-Security-Policy beside the docs pages' own."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.hashers import make_password
from django.db.models import F
from django.test import Client
from django_celery_beat.models import PeriodicTask

from omen_site.api.keys import ApiKey
from signals.models import Signal
from tests.omen_site.admin_rows import a_row_of, admin_url, viewed_admin_models
from tests.omen_site.commandline import manage
from tests.support.factories import SignalFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "correct-horse-battery-staple"
HERE, ELSEWHERE = "127.0.0.1", "10.0.0.2"


@pytest.fixture
def ann(django_user_model):
    return django_user_model.objects.create_user("ann", password=PASSWORD, is_staff=True)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password=PASSWORD, is_staff=True)


def log_in(username: str, password: str, address: str = HERE, forwarded_for: str | None = None):
    """One try at the admin's login form from ``address``, in a browser of its own."""
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    client = Client(REMOTE_ADDR=address, **headers)
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})
    response.logged_in = "_auth_user_id" in client.session
    return response


def fail(username: str, times: int, address: str = HERE, forwarded_for: str | None = None) -> list[int]:
    return [log_in(username, "wrong password", address, forwarded_for).status_code for _ in range(times)]


def time_passes(delta: timedelta) -> None:
    """Move every recorded failure back by ``delta``: to axes, as if that long had passed since.
    (The project moves no clocks; axes compares these times with now.)"""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - delta)


def text_of(response) -> str:
    return " ".join(response.content.decode().split())


def is_lockout_page(response) -> bool:
    return response.status_code == 429 and "Login locked: too many failed attempts." in text_of(response)


# --------------------------------------------------------------------------- lockouts


def test_ten_wrong_passwords_lock_that_user_out_from_that_address_even_with_the_right_password(ann, bob):
    assert fail("ann", 9) == [200] * 9  # the login form again, with its error

    tenth = log_in("ann", "wrong password")
    right = log_in("ann", PASSWORD)

    assert is_lockout_page(tenth) and is_lockout_page(right)
    assert not right.logged_in
    assert right["Retry-After"] == str(15 * 60)
    assert "The user <strong>ann</strong> failed 10 times from your address" in text_of(right)
    # The pair is locked, not the user nor the address.
    assert log_in("bob", PASSWORD).logged_in
    assert log_in("ann", PASSWORD, address=ELSEWHERE).logged_in


def test_behind_a_trusted_proxy_the_lockout_is_by_the_address_the_proxy_saw(ann, settings):
    settings.TRUSTED_PROXIES = 1
    proxy = "10.0.0.1"
    assert fail("ann", 10, proxy, forwarded_for="198.51.100.1")[-1] == 429

    assert is_lockout_page(log_in("ann", PASSWORD, proxy, forwarded_for="203.0.113.5, 198.51.100.1"))
    assert log_in("ann", PASSWORD, proxy, forwarded_for="198.51.100.2").logged_in  # ann, elsewhere


def test_with_no_trusted_proxy_a_made_up_forwarded_address_does_not_lift_a_lockout(ann):
    assert fail("ann", 10, forwarded_for="198.51.100.1")[-1] == 429

    assert is_lockout_page(log_in("ann", PASSWORD, forwarded_for="198.51.100.2"))


def test_a_locked_out_user_logs_in_again_once_the_cool_off_has_passed_since_the_last_try(ann, settings):
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)  # AXES_COOLOFF_MINUTES's default
    fail("ann", 10)

    time_passes(settings.AXES_COOLOFF_TIME - timedelta(minutes=1))
    too_soon = log_in("ann", PASSWORD)  # refused, and the wait starts again from this try
    time_passes(settings.AXES_COOLOFF_TIME - timedelta(minutes=1))
    still_too_soon = log_in("ann", PASSWORD)
    time_passes(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
    after = log_in("ann", PASSWORD)

    assert is_lockout_page(too_soon) and is_lockout_page(still_too_soon)
    assert after.status_code == 302 and after.logged_in


def test_a_successful_login_forgets_the_failures_before_it(ann):
    fail("ann", 9)
    assert log_in("ann", PASSWORD).logged_in

    assert fail("ann", 9) == [200] * 9
    assert log_in("ann", PASSWORD).logged_in


def test_superusers_see_lockouts_and_every_failure_in_the_admin(ann, admin_client):
    fail("ann", 10)

    attempts = admin_client.get("/admin/axes/accessattempt/?locked_out=yes")
    failures = admin_client.get("/admin/axes/accessfailurelog/")

    assert attempts.status_code == failures.status_code == 200
    assert [attempt.username for attempt in attempts.context["cl"].result_list] == ["ann"]
    assert AccessFailureLog.objects.filter(username="ann").count() == 10
    assert AccessFailureLog.objects.filter(username="ann", locked_out=True).count() == 1


def test_lockouts_leave_api_keys_and_force_login_alone(ann, client):
    fail("ann", 10)
    _, raw = ApiKey.issue("dashboard", ["read:signals"])

    assert client.get("/api/v1/signals/", HTTP_X_API_KEY=raw).status_code == 200
    client.force_login(ann)
    assert client.get("/admin/").status_code == 200


@pytest.mark.slow
def test_the_cool_off_comes_from_the_environment_and_must_be_a_minute_or_more():
    read = "from django.conf import settings; print(settings.AXES_COOLOFF_TIME)"

    default = manage("shell", "--no-imports", "-c", read)
    thirty = manage("shell", "--no-imports", "-c", read, AXES_COOLOFF_MINUTES="30")

    assert default.stdout.strip().splitlines()[-1] == "0:15:00", default.stderr
    assert thirty.stdout.strip().splitlines()[-1] == "0:30:00", thirty.stderr


# --------------------------------------------------------------------------- passwords


def test_new_and_changed_passwords_are_stored_as_argon2(ann):
    assert ann.password.startswith("argon2$argon2id$")

    ann.set_password("another-long-passphrase")
    ann.save()
    ann.refresh_from_db()
    assert ann.password.startswith("argon2$argon2id$") and ann.check_password("another-long-passphrase")


def test_an_older_hash_still_verifies_and_becomes_argon2_at_the_next_login(django_user_model):
    old = django_user_model.objects.create_user("carol", is_staff=True)
    old.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    old.save()

    assert log_in("carol", PASSWORD).logged_in

    old.refresh_from_db()
    assert old.password.startswith("argon2$")


# --------------------------------------------------------------------------- the admin's CSP


def policy_of(response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))


ADMIN_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "style-src-attr": "'unsafe-inline'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


class _InlineCode(HTMLParser):
    """Inline scripts and <style> elements: what the admin's policy refuses."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "style" or (tag == "script" and not attrs.get("src") and attrs.get("type") != "application/json"):
            self.found.append(tag)


def inline_code(response) -> list[str]:
    parser = _InlineCode()
    parser.feed(response.content.decode())
    return parser.found


def test_the_login_and_lockout_pages_carry_the_admin_policy(ann):
    fail("ann", 9)
    login_page = Client().get(LOGIN)
    lockout = log_in("ann", "wrong password")

    assert policy_of(login_page) == policy_of(lockout) == ADMIN_POLICY
    assert is_lockout_page(lockout)


@pytest.mark.parametrize("model", viewed_admin_models(), ids=lambda model: model._meta.label)
def test_every_admin_list_and_change_page_carries_the_policy_and_runs_no_inline_code(admin_client, model):
    row = a_row_of(model)

    for url in (admin_url(model, "changelist"), admin_url(model, "change", row.pk), "/admin/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert policy_of(response) == ADMIN_POLICY, url
        assert inline_code(response) == [], url


def test_the_docs_pages_keep_their_own_policy(client):
    policy = policy_of(client.get("/api/docs/"))

    assert policy["default-src"] == "'none'" and policy["style-src"] == "'self' 'unsafe-inline'"
    assert policy["worker-src"] == "blob:"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_admin_runs_in_chromium_under_its_policy_without_an_error_or_a_violation(
    browser, live_server, django_user_model
):
    django_user_model.objects.create_superuser("root", "", PASSWORD)
    signal = SignalFactory()
    task = PeriodicTask.objects.first()
    page = browser.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The site has no favicon; Chromium asks for one, and the 404 would be the one console error.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    # Every violation, reported or not, as the page sees it (an init script is not subject to the CSP).
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    violations = {"index": page.evaluate("window.__violations")}
    visits = {
        "signals": f"/admin/signals/signal/?q={signal.signal_id}",
        "signal": f"/admin/signals/signal/{signal.pk}/change/",
        "periodic task": f"/admin/django_celery_beat/periodictask/{task.pk}/change/",
    }
    for name, path in visits.items():
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, name
        assert "script-src 'self'" in response.headers["content-security-policy"], name
        violations[name] = page.evaluate("window.__violations")
    # The periodic task form's script ran from its file: it hides the crontab's translation row.
    translation_hidden = page.locator(".field-crontab_translation").is_hidden()
    page.goto(f"{live_server.url}{visits['signal']}")
    contract_wraps = page.locator(".field-contract_pretty pre").evaluate("pre => getComputedStyle(pre).whiteSpace")
    page.close()

    assert errors == []
    assert violations == {name: [] for name in violations}
    assert translation_hidden
    assert contract_wraps == "pre-wrap"  # an inline style attribute applies (style-src-attr)
    assert Signal.objects.filter(pk=signal.pk).exists()
