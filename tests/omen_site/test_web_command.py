"""The production web command (the Dockerfile's CMD, docker-compose's web service) under load it is
meant for: an admin export streams for as long as it takes, however long that is.

gunicorn kills a worker silent for its timeout (30 s by default). A sync worker is silent while it
serves a request: an export of a big list, or to a slow client, was cut off after 30 s. A threaded
worker reports from its main thread whatever its requests take.
"""

import json
import re
import socket
import subprocess
import sys
import time

import pytest
import yaml

from tests.support.processes import ROOT, child_env, free_port, manage, stop_process_group, wait_until

pytestmark = pytest.mark.slow

ROWS = 3000  # about 4.6 kB of contract each: far more than the sockets between the two hold


def web_command() -> list[str]:
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    return json.loads(cmd.group(1))


def test_docker_compose_runs_the_dockerfiles_web_command():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["web"]["command"] == web_command()


FILL = f"""
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from tests.signals.admin.bulk import bulk_signals

bulk_signals({ROWS})
user = get_user_model().objects.create_superuser("exporter", password="correct-horse-battery-staple")
session = SessionStore()
session.update({{SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash()}})
session.create()
print("session", session.session_key)
"""


def test_an_export_streams_past_the_worker_timeout(fresh_database_url, tmp_path):
    env = child_env(fresh_database_url(), tmp_path / "var")
    manage(env, "migrate", "--no-input")
    session = re.search(r"^session (\w+)$", manage(env, "shell", "-c", FILL), re.MULTILINE).group(1)
    port = free_port()
    command = web_command()
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    command[command.index("--workers") + 1] = "1"
    server = subprocess.Popen(
        [sys.executable, "-m", *command, "--timeout", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:

        def answers():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                return False

        wait_until(answers, 60, "gunicorn to listen")
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # the server's writes block soon
        client.connect(("127.0.0.1", port))
        client.sendall(
            b"GET /admin/signals/signal/export.jsonl HTTP/1.0\r\nHost: 127.0.0.1\r\n"
            + f"Cookie: sessionid={session}\r\n\r\n".encode()
        )
        received = [client.recv(8192)]
        time.sleep(5)  # a slow client: the export waits on it for twice the worker's timeout
        client.settimeout(30)
        while chunk := client.recv(1 << 20):
            received.append(chunk)
        client.close()
    finally:
        stop_process_group(server)

    head, _, body = b"".join(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), head
    lines = body.split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == ROWS, f"{len(lines) - 1} lines of {ROWS}"
    assert all(json.loads(line)["signal_id"].startswith("OMEN-") for line in lines[:-1])
