"""``/api/v1/storage/``: the storage report of ``manage.py storage_report --json`` (issue 11)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from omen_site.api.keys import ApiKey
from tests.support.factories import SignalFactory

pytestmark = pytest.mark.django_db


def test_the_api_answers_what_the_command_prints(client):
    SignalFactory.create_batch(2)
    _, raw = ApiKey.issue("ops", ["read:storage"])
    out = StringIO()

    body = client.get("/api/v1/storage/", HTTP_X_API_KEY=raw).json()
    call_command("storage_report", "--json", stdout=out)

    printed = json.loads(out.getvalue())
    # The two ran a moment apart: what waits for the ledger's writer has aged in between.
    for report in (body, printed):
        report["ledger"]["writer"].pop("oldest_pending_age_seconds")
        report["ledger"]["writer"].pop("summary")
    assert body == printed
    assert body["totals"]["signals"] == 2 and body["ledger"]["saves_waiting"] == 2
    assert body["signals_by_source_and_status"][0]["source"] == "polymarket"
