#!/usr/bin/env python
"""One Polymarket poll of 500 markets served locally: request to signals committed.

Prints the poll's wall time on each backend next to the bare HTTP fetch of the
same reply (the floor), both measured in the same run, on a fresh database.

    .venv/bin/python bench/poll.py                 # both backends, 500 markets
    .venv/bin/python bench/poll.py --backend sqlite --markets 2000
"""

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import fresh_postgres, synthetic_markets  # noqa: E402  (bench helpers)


def serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_backend(backend: str, markets: int, polls: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="omen-bench-poll-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    body = json.dumps(list(synthetic_markets(markets, markets))).encode()
    server = serve(body)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ.update(
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}" if backend == "sqlite" else fresh_postgres("omen_bench"),
        OMEN_ENV_FILE="/dev/null",
        OMEN_VAR_DIR=str(workdir),
        LOG_LEVEL="WARNING",
        DEBUG="false",
        POLYMARKET_GAMMA_API_URL=url,
        POLYMARKET_MARKET_LIMIT=str(markets),
        DJANGO_SETTINGS_MODULE="omen_site.settings",
    )
    import django
    import httpx

    django.setup()
    from django.core.management import call_command

    from signals.services.poll import source_poll
    from signals.sources.http import fetch_json

    call_command("migrate", verbosity=0)
    with httpx.Client() as client:
        started = time.perf_counter()
        fetch_json(client, f"{url}/markets")
        fetch_seconds = time.perf_counter() - started

    timings = []
    for _ in range(polls):
        started = time.perf_counter()
        run = source_poll(source="polymarket")
        timings.append(time.perf_counter() - started)
        assert run.outcome == "ok", run.error
    first = timings[0]
    print(
        f"{backend:<10} {markets} markets ({len(body) / 1e6:.1f} MB): first poll {first:.2f} s "
        f"({run.fetched} fetched; {markets / first:.0f} markets/s); repeat polls (all unchanged) "
        f"{min(timings[1:], default=first):.2f} s; bare HTTP fetch {fetch_seconds:.3f} s",
        flush=True,
    )
    server.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--markets", type=int, default=500)
    parser.add_argument("--polls", type=int, default=3)
    args = parser.parse_args()
    if args.backend == "both":
        for backend in ("sqlite", "postgresql"):
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--backend",
                    backend,
                    "--markets",
                    str(args.markets),
                    "--polls",
                    str(args.polls),
                ],
                check=True,
            )
        return
    run_backend(args.backend, args.markets, args.polls)


if __name__ == "__main__":
    main()
