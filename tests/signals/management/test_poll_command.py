"""manage.py poll SOURCE: one poll in the foreground, said in one line."""

import subprocess
import sys
import time
from io import StringIO

import pytest
from django.core.management import call_command

from tests.support.processes import ROOT, child_env, manage
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


def test_a_source_sending_its_headers_a_byte_a_second_ends_the_command_at_the_deadline(
    source_server, fresh_database_url, tmp_path
):
    """The foreground poll, as an operator runs it: a failed run, said, and a non-zero exit."""
    source_server.route("/markets", Reply(body=b"[]", header_trickle=1.0))
    env = child_env(
        fresh_database_url(),
        tmp_path / "var",
        POLYMARKET_GAMMA_API_URL=source_server.url,
        SOURCE_POLL_DEADLINE_SECONDS="3",
    )
    manage(env, "migrate", "--no-input")
    started = time.monotonic()

    done = subprocess.run(
        [sys.executable, "manage.py", "poll", "polymarket"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert time.monotonic() - started < 3 + 5  # the process's start-up included
    assert done.returncode == 1
    assert "polymarket: Failed" in done.stdout and "no complete reply within" in done.stdout
    assert "the poll of polymarket failed" in done.stderr
