"""The analysts' admin, driven in a real headless Chromium (Debian's, not a downloaded one)."""

import csv
import importlib
import io
import os
import re
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection

from ledger.public import signal_frames
from ledger.services.writer import ledger_drain
from signals.admin.signal import SignalAdmin
from signals.models import Rejection, Signal
from tests.signals.admin.bulk import bulk_signals, list_order
from tests.support.artifacts import artifact_dir
from tests.support.factories import ProbabilityPointFactory, SignalFactory

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

    page.click("summary:has-text('Raw JSON')")  # folded away at the bottom
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


def signal_ids_shown(page) -> list[str]:
    return [cell.inner_text().strip() for cell in page.locator("#result_list tbody .field-signal_id").all()]


def test_an_analyst_filters_searches_pages_by_position_and_downloads_the_list(analyst_page, live_server, monkeypatch):
    monkeypatch.setattr(SignalAdmin, "list_per_page", 5)
    bulk_signals(300)
    matching = list_order(
        Signal.objects.filter(source="polymarket", confidence_level="HIGH", title__icontains="hormuz")
    )
    assert len(matching) > 10  # three pages at least
    artifacts = artifact_dir("signal-list")
    page = analyst_page
    page.goto(f"{live_server.url}/admin/signals/signal/")

    page.click('#changelist-filter details[data-filter-title="source"] a:text-is("Polymarket")')
    page.wait_for_url("**source__exact=polymarket**")
    page.click('#changelist-filter details[data-filter-title="confidence level"] a:text-is("High")')
    page.wait_for_url("**confidence_level__exact=HIGH**")
    page.fill("#searchbar", "hormuz")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=hormuz**")
    seen = {"first": signal_ids_shown(page)}
    page.screenshot(path=artifacts / "1-filtered.png", full_page=True)
    for step, link in (("older", "a.keyset-older"), ("older again", "a.keyset-older"), ("newer", "a.keyset-newer")):
        with page.expect_navigation():
            page.click(link)
        seen[step] = signal_ids_shown(page)
        page.screenshot(path=artifacts / f"{len(seen)}-{step.replace(' ', '-')}.png", full_page=True)
    with page.expect_download() as download:
        page.click("a.export-link:text-is('Export list as CSV')")
    exported = download.value.path().read_text(encoding="utf-8-sig")

    assert seen == {
        "first": matching[:5],
        "older": matching[5:10],
        "older again": matching[10:15],
        "newer": matching[5:10],
    }
    assert all(param in page.url for param in ("source__exact=polymarket", "confidence_level__exact=HIGH", "q=hormuz"))
    rows = list(csv.reader(io.StringIO(exported, newline="")))
    assert rows[0][:2] == ["signal id", "title"]
    assert [row[0] for row in rows[1:]] == matching
    assert download.value.suggested_filename.endswith("_confidence_level=HIGH,search=hormuz,source=polymarket.csv")


def test_an_analyst_reads_a_signal_page_and_verifies_its_ledger_frame(
    browser, live_server, django_user_model, settings
):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signal = SignalFactory()
    for hours in range(12, -1, -1):  # twelve hours of history, the last point the signal's own
        ProbabilityPointFactory(
            source_event=signal.event, observed_at=signal.observed_at - timedelta(hours=hours), probability=0.3
        )
    ledger_drain()
    (frame,) = signal_frames(signal.signal_id)
    # A transactional test's database is emptied before it, the migration's groups too: made again.
    importlib.import_module("omen_site.migrations.0005_roles").roles_create(
        apps, SimpleNamespace(connection=connection)
    )
    analyst = django_user_model.objects.create_user("ada", password="correct-horse-battery", is_staff=True)
    analyst.groups.add(Group.objects.get(name="analyst"))
    artifacts = artifact_dir("signal-page")
    page = browser.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # the site has none
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    page.goto(f"{live_server.url}/admin/signals/signal/{signal.pk}/change/")
    steps = page.locator("#section-explanation table.explanation tbody tr")
    rules = [steps.nth(n).locator("th").inner_text() for n in range(steps.count())]
    line = page.locator("#section-history svg polyline.line")
    drawn = len(line.get_attribute("points").split())
    marked = page.locator("#section-history svg circle.mark").count()
    frames = page.locator("#section-ledger-frames tr.ledger-frame")
    listed = [frames.nth(n).get_attribute("data-frame") for n in range(frames.count())]
    chart_box = page.locator("#section-history svg").bounding_box()
    page.screenshot(path=artifacts / "1-signal-page.png", full_page=True)
    with page.expect_navigation():
        frames.first.locator("button.verify-frame").click()
    message = page.locator("ul.messagelist li").inner_text()
    page.screenshot(path=artifacts / "2-frame-verified.png", full_page=True)
    page.close()

    assert rules == [step["rule"] for step in signal.contract["explanation"]]
    assert drawn == 13 and marked == 1
    assert chart_box["width"] > 300
    assert listed == [f"{frame.partition}/{frame.segment}@{frame.offset}"]
    assert re.match(
        rf"Frame {re.escape(listed[0])} \(sequence {frame.sequence}\) of {signal.signal_id}: verify passed", message
    )
    assert errors == []
