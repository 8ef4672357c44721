"""Fixtures for tests that run OMEN's Celery worker and beat as real processes on the real Redis."""

import os
import shutil
import signal
import subprocess
import time

import pytest
import redis

from tests.support.broker import REDIS_URL
from tests.support.processes import child_env, free_port, manage, query, start_celery, wait_until
from tests.support.recorded_server import Reply


@pytest.fixture
def broker():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not running on 127.0.0.1:6379; .ci/run starts it")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def omen(fresh_database_url, tmp_path, source_server, broker, recorded_dir):
    """A migrated database, the env for OMEN's processes (``omen.env``, theirs to extend before
    starting one), and a way to start them."""
    database_url = fresh_database_url()
    env = child_env(
        database_url,
        tmp_path / "var",
        CELERY_BROKER_URL=REDIS_URL,
        POLYMARKET_GAMMA_API_URL=source_server.url,
        SOURCE_POLL_INTERVAL_SECONDS="3",
        CELERY_VISIBILITY_TIMEOUT_SECONDS="3",
        CELERY_UNACKED_RESTORE_INTERVAL_SECONDS="1",
        CELERY_UNACKED_RESTORE_THROTTLE="1",
    )
    manage(env, "migrate", "--no-input")
    markets = (recorded_dir / "polymarket_gamma_markets_active_part1.json").read_bytes()
    source_server.route("/markets", Reply(body=markets))
    processes = []

    class Omen:
        url = database_url

        def __init__(self):
            self.env = env

        def start(self, *celery_args):
            # Each process logs to the test's tmp_path, for a failed run to be read.
            process = start_celery(self.env, tmp_path / f"{celery_args[0]}-{len(processes)}.log", *celery_args)
            processes.append(process)
            return process

        def worker(self, name, concurrency: int | None = 1):
            """A worker with ``concurrency`` slots, or the settings' default (as ``make run``) for None."""
            slots = [] if concurrency is None else [f"--concurrency={concurrency}"]
            return self.start("worker", f"--hostname={name}@%h", *slots, "--without-gossip")

        def count(self, sql):
            return query(database_url, sql)[0][0]

        def wait_for(self, sql, expected, timeout=60):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.count(sql) >= expected:
                    return
                time.sleep(0.3)
            pytest.fail(f"timed out waiting for {sql!r} to reach {expected}")

    yield Omen()
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class PrivateRedis:
    """A redis-server of the test's own, on a port of its own, that the test may stop and start again:
    the shared one on 6379 is never stopped (other suites use it)."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = tmp_path / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=open(self.log, "a"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        """Gone at once, as a crashed broker is: SIGKILL, no shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def _answers(self) -> bool:
        try:
            return self.client().ping()
        except redis.ConnectionError:
            return False


@pytest.fixture
def private_redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
