"""manage.py poll SOURCE: one poll in the foreground, said in one line."""

from io import StringIO

import pytest
from django.core.management import call_command

from tests.support.recorded_server import Reply

pytestmark = pytest.mark.django_db


def test_poll_prints_what_it_did(source_server, settings, recorded_dir):
    settings.POLYMARKET_GAMMA_API_URL = source_server.url
    source_server.route(
        "/markets", Reply(body=(recorded_dir / "polymarket_gamma_markets_active_part1.json").read_bytes())
    )
    out = StringIO()

    call_command("poll", "polymarket", stdout=out)

    text = out.getvalue()
    assert "polymarket: OK in" in text
    assert "1 requests" in text and "250 records ->" in text
    assert "source health: healthy" in text


def test_poll_of_a_source_without_its_key_says_disabled(settings):
    settings.NEWSAPI_KEY = ""
    out = StringIO()

    call_command("poll", "newsapi", stdout=out)

    assert "newsapi: Disabled" in out.getvalue()
    assert "NEWSAPI_KEY is not set" in out.getvalue()
    assert "source health: disabled" in out.getvalue()
