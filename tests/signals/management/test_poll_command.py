"""manage.py poll SOURCE: one poll in the foreground, said in one line."""

import subprocess
import sys
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.support.factories import SourceStateFactory
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


def test_poll_of_a_source_without_its_key_says_disabled_and_exits_5(settings):
    """It exited 0, as a poll does: cron could not tell a source never polled from one polled."""
    settings.NEWSAPI_KEY = ""
    out = StringIO()

    with pytest.raises(CommandError, match="newsapi was not polled: it is disabled") as refused:
        call_command("poll", "newsapi", stdout=out)

    assert refused.value.returncode == 5
    assert "newsapi: Disabled" in out.getvalue()
    assert "NEWSAPI_KEY is not set" in out.getvalue()
    assert "source health: disabled" in out.getvalue()


def test_poll_while_another_poll_of_the_source_runs_exits_3(source_server, settings):
    """It exited 0 after polling nothing, as a poll that fetched does."""
    settings.POLYMARKET_GAMMA_API_URL = source_server.url
    SourceStateFactory(source="polymarket", polling_since=timezone.now())
    out = StringIO()

    with pytest.raises(CommandError, match="polymarket was not polled: another poll of it is running") as refused:
        call_command("poll", "polymarket", stdout=out)

    assert refused.value.returncode == 3
    assert "polymarket: Skipped: already being polled" in out.getvalue()
    assert source_server.requests == []


def test_poll_of_a_source_whose_circuit_is_open_exits_4(source_server, settings):
    settings.POLYMARKET_GAMMA_API_URL = source_server.url
    SourceStateFactory(source="polymarket", breaker="open", consecutive_failures=5, opened_at=timezone.now())
    out = StringIO()

    with pytest.raises(CommandError, match="polymarket was not polled: its circuit is open") as refused:
        call_command("poll", "polymarket", stdout=out)

    assert refused.value.returncode == 4
    assert source_server.requests == []


def test_poll_help_gives_every_exit_status(capsys):
    with pytest.raises(SystemExit):
        call_command("poll", "--help")
    text = " ".join(capsys.readouterr().out.split())

    for words in [
        "0 polled",
        "1 the poll failed",
        "3 not polled: another poll",
        "4 not polled: its circuit",
        "5 not polled: the source is disabled",
    ]:
        assert words in text


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
