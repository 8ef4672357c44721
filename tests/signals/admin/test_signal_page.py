"""The signal page (the Signal change view): the contract read for people, its market's history and
rejections, the sections other apps add, the raw JSON folded away; read-only for everyone."""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group

from signals.admin import signal_page
from signals.public import SignalPageSection, signal_page_section_register, signal_page_sections
from tests.support.factories import ProbabilityPointFactory, RejectionFactory, SignalFactory

pytestmark = pytest.mark.django_db

# The analyst's page: the session, the user, their own and their group's permissions, the signal,
# its event, its history, its market's rejections, its ledger frames, and the signal's content
# type (once a process: Django caches it).
PAGE_QUERIES = 10


@pytest.fixture
def analyst(django_user_model):
    user = django_user_model.objects.create_user("ada", password="unused", is_staff=True)
    user.groups.add(Group.objects.get(name="analyst"))
    return user


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def signal():
    return SignalFactory()


def history_of(signal, hours_before: list[int]):
    """Points of the signal's event, ``hours`` before the signal was observed (0: its own point)."""
    for hours in hours_before:
        ProbabilityPointFactory(
            source_event=signal.event, observed_at=signal.observed_at - timedelta(hours=hours), probability=0.3
        )


def page_of(client, signal) -> str:
    response = client.get(page_url(signal))
    assert response.status_code == 200
    return response.content.decode()


def page_url(signal) -> str:
    return f"/admin/signals/signal/{signal.pk}/change/"


def section(html: str, key: str) -> str:
    found = re.search(rf'<section[^>]*id="section-{key}".*?</section>', html, re.S)
    assert found, f"no section {key}"
    return found.group(0)


class _Rows(HTMLParser):
    """Each <tr>'s cells as text."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in {"td", "th"}:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in {"td", "th"} and self._cell is not None:
            self.rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def table_rows(html: str) -> list[list[str]]:
    parser = _Rows()
    parser.feed(html)
    return parser.rows[1:]  # below the header


def polyline_points(html: str) -> list[tuple[str, str]]:
    found = re.search(r'<polyline class="line" points="([^"]*)"', html)
    return [tuple(pair.split(",")) for pair in found.group(1).split()] if found else []


def mark_of(html: str) -> tuple[str, str]:
    (mark,) = re.findall(r'<circle class="mark" cx="([^"]+)" cy="([^"]+)"', html)
    return mark


def test_the_contract_reads_as_fields_with_the_source_link_and_the_confidence_interval(analyst_client, signal):
    html = page_of(analyst_client, signal)
    interval = signal.contract["confidence_interval"]

    for field in ("title", "signal_type", "status", "category", "probability"):
        assert f"field-{field}" in html
    assert signal.title in html
    assert signal.get_signal_type_display() in html and signal.get_status_display() in html
    assert f'<a href="{signal.event.url}" rel="noopener noreferrer" target="_blank">' in html
    bar = re.search(r'<svg class="confidence-bar".*?</svg>', html, re.S).group(0)
    assert 'class="interval"' in bar and 'class="estimate"' in bar and "style" not in bar
    low, high = interval["lower_bound"], interval["upper_bound"]
    width = float(re.search(r'class="interval" x="([^"]+)" y="0" width="([^"]+)"', bar).group(2))
    assert width == pytest.approx((high - low) * signal_page.BAR_WIDTH, abs=0.1)
    assert f"interval {signal_page.number(low)} to {signal_page.number(high)}" in html


def test_the_explanation_table_has_a_row_per_step_of_the_contract(analyst_client, signal):
    rows = table_rows(section(page_of(analyst_client, signal), "explanation"))

    expected = [
        [str(s["step"]), s["rule"], s["rule_version"], s["status"], str(s["score"]), s["reasoning"]]
        for s in signal.contract["explanation"]
    ]
    assert len(expected) >= 3
    assert [[cell.replace("&#x27;", "'") for cell in row] for row in rows] == expected


def test_the_evidence_links_to_its_urls(analyst_client, signal):
    evidence = section(page_of(analyst_client, signal), "evidence")

    links = re.findall(r'<a href="([^"]+)" rel="noopener noreferrer"', evidence)
    assert links == [item["url"] for item in signal.contract["evidence"]]


def test_a_link_that_is_not_http_stays_text():
    assert signal_page.web_link("javascript:alert(1)", "x") == "x"


def test_the_history_chart_has_a_point_per_observation_and_marks_the_signals_own(analyst_client, signal):
    history_of(signal, [30, 20, 10, 0])
    history_of(SignalFactory(), [5, 0])  # another market's history is not drawn

    html = page_of(analyst_client, signal)

    points = polyline_points(section(html, "history"))
    assert len(points) == 4
    assert mark_of(html) == points[3]


def test_the_history_is_the_newest_points_and_a_signal_older_than_them_is_drawn_at_its_time(
    analyst_client, signal, monkeypatch
):
    monkeypatch.setattr(signal_page, "HISTORY_POINTS", 3)
    history_of(signal, [-1, -2, -3, -4, -5])  # observed after the signal

    points = polyline_points(section(page_of(analyst_client, signal), "history"))

    assert len(points) == 4  # the newest three, and the signal's own at its time, first
    assert mark_of(page_of(analyst_client, signal)) == points[0]


def test_a_signal_without_history_is_its_own_one_point(analyst_client, signal):
    html = page_of(analyst_client, signal)

    assert polyline_points(html) == []
    assert re.findall(r'<circle class="point"', section(html, "history")) and mark_of(html)


def test_rejections_of_the_same_market_are_listed_newest_first(analyst_client, signal):
    same = [
        RejectionFactory(source=signal.source, external_id=signal.event.external_id, rule=f"rule_{n}") for n in range(3)
    ]
    RejectionFactory(source=signal.source, rule="another_market")

    rows = table_rows(section(page_of(analyst_client, signal), "rejections"))

    assert [row[2].split()[0] for row in rows] == [r.rule for r in sorted(same, key=lambda r: r.created_at)][::-1]


def test_the_raw_json_is_folded_away_at_the_bottom(analyst_client, signal):
    html = page_of(analyst_client, signal)

    details = re.findall(r"<details>.*?</details>", html, re.S)
    assert any("Raw JSON" in d for d in details)
    contract = html[html.index("Raw JSON") :]
    assert f"&quot;signal_id&quot;: &quot;{signal.signal_id}&quot;" in contract
    assert html.index("section-rejections") < html.index("Raw JSON")


def test_registered_sections_render_in_their_place(analyst_client, signal, monkeypatch):
    monkeypatch.setattr("signals.public._signal_page_sections", dict.fromkeys(()))
    signal_page_section_register(SignalPageSection("echo", "Echo", lambda request, s: f"<p>echo {s.signal_id}</p>"))

    html = page_of(analyst_client, signal)

    assert [s.key for s in signal_page_sections()] == ["echo"]
    assert f"<p>echo {signal.signal_id}</p>" in section(html, "echo")
    assert html.index("section-history") < html.index("section-echo") < html.index("section-rejections")


def test_the_ledger_contributes_its_frames_section(analyst_client, signal):
    assert "ledger-frames" in [s.key for s in signal_page_sections()]
    assert "Ledger frames" in section(page_of(analyst_client, signal), "ledger-frames")


@pytest.mark.parametrize("who", ["analyst", "superuser"])
def test_nobody_adds_changes_or_deletes_a_signal(client, analyst, admin_user, signal, who):
    client.force_login(analyst if who == "analyst" else admin_user)
    html = page_of(client, signal)

    assert 'name="_save"' not in html and 'name="_continue"' not in html and "deletelink" not in html
    assert client.post(page_url(signal), {"title": "changed"}).status_code == 403
    assert client.get("/admin/signals/signal/add/").status_code == 403
    assert client.post(f"/admin/signals/signal/{signal.pk}/delete/", {"post": "yes"}).status_code == 403
    signal.refresh_from_db()
    assert signal.title != "changed"


def test_the_page_reads_a_few_rows_whatever_the_history(analyst_client, signal, django_assert_max_num_queries):
    history_of(signal, range(600))
    for _ in range(25):
        RejectionFactory(source=signal.source, external_id=signal.event.external_id)

    with django_assert_max_num_queries(PAGE_QUERIES):
        html = page_of(analyst_client, signal)

    assert len(polyline_points(html)) == signal_page.HISTORY_POINTS
    assert len(table_rows(section(html, "rejections"))) == signal_page.RELATED_REJECTIONS
