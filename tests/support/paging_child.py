"""The processes of the concurrent-paging test: seed signals, insert more until killed, walk the API.

Run as ``python -m tests.support.paging_child seed|insert|walk`` with the environment of
``tests.support.processes.child_env`` (a migrated fresh database). ``seed`` makes signals that
share ``generated_at`` four by four, and a key, and prints ``{"key", "signal_ids"}``; ``insert``
inserts a signal at, just after and just before existing moments, printing ``inserted N`` after
each commit, until killed; ``walk`` follows every cursor page of a filtered list through the
real API stack (Django's test client in this process) and prints the ids it saw, in order.
"""

import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import django

MOMENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
URL = "/api/v1/signals/?source=polymarket&limit=5"


def main(mode: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
    django.setup()
    from django.test import Client

    from omen_site.api.keys import ApiKey
    from signals.models import Signal
    from tests.support.factories import RawEventFactory, SignalFactory

    def signal_at(moment, market):
        return SignalFactory(raw_event=RawEventFactory(observed_at=moment, market=market))

    if mode == "seed":
        signals = [signal_at(MOMENT + timedelta(minutes=i // 4), f"seed-{i}") for i in range(40)]
        _, key = ApiKey.issue("paging", ["read:signals"], throttle_rate="100000/min")
        print(json.dumps({"key": key, "signal_ids": [s.signal_id for s in signals]}), flush=True)
    elif mode == "insert":
        moments = list(Signal.objects.values_list("generated_at", flat=True))
        chooser = random.Random(7)
        for inserted in range(1, 100_000):
            moment = chooser.choice(moments) + chooser.choice(
                [timedelta(0), timedelta(seconds=30), -timedelta(seconds=30)]
            )
            signal_at(moment, f"inserted-{inserted}")
            print(f"inserted {inserted}", flush=True)
    elif mode == "walk":
        client = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=sys.stdin.readline().strip())
        seen, url = [], URL
        while url:
            body = client.get(url).json()
            seen.extend(row["signal_id"] for row in body["results"])
            url = body["next"]
            time.sleep(0.05)  # the inserter's commits land between pages
        print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
