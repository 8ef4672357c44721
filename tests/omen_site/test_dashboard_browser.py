"""The admin index's dashboard in a real headless Chromium (Debian's): the chart drawn, styled by
the theme, under a strict Content-Security-Policy."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from tests.support.artifacts import artifact_dir
from tests.support.factories import RawEventFactory, SignalFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# What django-csp will send (default-src 'self'): no inline script, no inline style.
STRICT_POLICY = "default-src 'self'; frame-ancestors 'none'"


@pytest.fixture
def analyst_page(browser, live_server, django_user_model):
    django_user_model.objects.create_superuser("analyst", "", "correct-horse-battery")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))

    def under_strict_policy(route):
        response = route.fetch(max_redirects=0)
        route.fulfill(response=response, headers=response.headers | {"content-security-policy": STRICT_POLICY})

    # Every page of the site answers with the policy, as it will once django-csp is installed.
    page.route(f"{live_server.url}/**", under_strict_policy)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "analyst")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    yield page, errors
    page.close()


def test_the_index_draws_the_chart_in_both_themes_under_a_strict_policy(analyst_page, live_server):
    today = timezone.now().astimezone(UTC).date()
    for days_ago, source, count in [(1, "polymarket", 3), (1, "openmeteo", 2), (4, "polymarket", 1)]:
        at = datetime.combine(today - timedelta(days=days_ago), time(12), UTC)
        for _ in range(count):
            SignalFactory(raw_event=RawEventFactory(source=source, observed_at=at))
    page, errors = analyst_page

    page.goto(f"{live_server.url}/admin/")
    bars = page.locator("#omen-signals-per-day svg rect.bar")
    assert bars.count() == 3
    heights = sorted(float(height) for height in bars.evaluate_all("rects => rects.map(r => r.getAttribute('height'))"))
    assert heights[0] < heights[1] < heights[2]
    # The values as text are there for a screen reader, and take no room on the screen.
    table = page.locator("#omen-signals-per-day .chart-data")
    assert table.bounding_box()["width"] <= 1
    assert "Polymarket" in table.text_content()
    page.screenshot(path=artifact_dir("dashboard") / "dashboard-light.png", full_page=True)
    light = bars.first.evaluate("rect => getComputedStyle(rect).fill")

    page.emulate_media(color_scheme="dark")
    page.reload()
    page.screenshot(path=artifact_dir("dashboard") / "dashboard-dark.png", full_page=True)
    dark = page.locator("#omen-signals-per-day svg rect.bar").first.evaluate("rect => getComputedStyle(rect).fill")

    # The stylesheet coloured the bars (an unstyled SVG fills black), differently in each theme.
    assert light != dark and "rgb(0, 0, 0)" not in (light, dark)
    assert errors == []  # a CSP violation is a console error
