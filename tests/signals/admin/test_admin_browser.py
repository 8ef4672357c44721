"""The analysts' admin, driven in a real headless Chromium (Debian's, not a downloaded one)."""

import os
from io import StringIO

import pytest
from django.core.management import call_command

from signals.models import Rejection, Signal

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def analyst_page(browser, live_server, django_user_model):
    call_command("load_demo", stdout=StringIO(), stderr=StringIO())
    django_user_model.objects.create_superuser("analyst", "", "correct-horse-battery")
    page = browser.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "analyst")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    yield page
    page.close()


def test_signal_list_shows_every_signal_newest_first(analyst_page, live_server):
    page = analyst_page
    page.goto(f"{live_server.url}/admin/signals/signal/")

    rows = page.locator("#result_list tbody tr")
    assert rows.count() == Signal.objects.count() > 0
    newest = Signal.objects.newest_first().first()
    assert newest.signal_id in rows.first.inner_text()
    page.screenshot(path=os.environ.get("OMEN_SCREENSHOT", "/tmp/omen-admin-signals.png"), full_page=True)


def test_filter_by_type_and_search_by_signal_id(analyst_page, live_server):
    page = analyst_page
    target = Signal.objects.order_by("signal_id").first()
    page.goto(f"{live_server.url}/admin/signals/signal/?signal_type__exact={target.signal_type}")
    expected = Signal.objects.filter(signal_type=target.signal_type).count()
    assert page.locator("#result_list tbody tr").count() == expected

    page.fill("#searchbar", target.signal_id)
    page.press("#searchbar", "Enter")
    # Counting rows does not wait: the search's page must have loaded first (on a busy machine the
    # old page's rows are gone before the new ones are there).
    page.wait_for_url(f"**q={target.signal_id}**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert target.signal_id in rows.first.inner_text()


def test_signal_detail_shows_the_contract_and_nothing_is_editable(analyst_page, live_server):
    page = analyst_page
    signal = Signal.objects.order_by("signal_id").first()
    page.goto(f"{live_server.url}/admin/signals/signal/{signal.pk}/change/")

    contract = page.locator(".field-contract_pretty pre").inner_text()
    assert f'"signal_id": "{signal.signal_id}"' in contract
    assert '"explanation"' in contract
    assert page.locator("input[name=_save]").count() == 0


def test_rejections_list_names_rule_and_reason(analyst_page, live_server):
    page = analyst_page
    page.goto(f"{live_server.url}/admin/signals/rejection/")

    text = page.locator("#result_list").inner_text()
    rejection = Rejection.objects.filter(stage="validation").first()
    assert rejection.rule in text
    assert rejection.reason[:40] in text
