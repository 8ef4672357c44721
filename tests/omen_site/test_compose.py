"""docker-compose.yml keeps every data directory the settings define on a named volume, in every service."""

import functools
import json
import os
import subprocess
import sys

import pytest

import omen_site.settings as settings_module
from tests.omen_site.commandline import GOOD_SECRET
from tests.support.processes import ROOT

# *_DIR settings that hold nothing a container must keep, and why; any other one is data.
NOT_DATA_DIRECTORIES = {
    "BASE_DIR": "the code, baked into the image",
    "VAR_DIR": "development state; in the image it holds the static files collected at build time",
    "CELERY_BROKER_DIR": "the development broker's queue; production's broker is Redis, on its own volume",
}
# What an operator's .env holds for the stack to start (docker-compose.yml's header); it also
# points every data directory elsewhere, so one the compose file does not pin is caught.
ENV_FILE_STAND_IN = {
    "SECRET_KEY": GOOD_SECRET,
    "ALLOWED_HOSTS": "omen.example.com",
    "DATABASE_URL": "postgres://omen:omen@postgres:5432/omen",
    "REDIS_URL": "redis://redis:6379/0",
    "OMEN_CACHE_BACKEND": "redis",
} | {name: f"/srv/not-a-volume/{name.lower()}" for name in settings_module.DATA_DIRECTORY_SETTINGS}


def parse_compose(text: str) -> dict:
    """The YAML subset docker-compose.yml uses: block mappings, block sequences of scalars,
    anchors, aliases and ``<<`` merges (shallow, as YAML merges). Flow sequences stay text.

    A merged mapping keeps its source under "<<", so a test can tell which services use an anchor.
    PyYAML is not a dependency; this is enough for one file the project writes itself.
    """
    lines = [(len(raw) - len(raw.lstrip()), raw.strip()) for raw in text.splitlines()]
    lines = [(indent, content) for indent, content in lines if content and not content.startswith("#")]
    anchors = {}

    def scalar(value: str):
        if value.startswith("*"):
            return anchors[value[1:]]
        return value[1:-1] if value[:1] in "\"'" and value[-1:] == value[:1] else value

    def block(i: int, indent: int):
        if lines[i][1].startswith("- "):
            items = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                item = lines[i][1][2:]
                if ": " in item or item.endswith(":"):
                    raise ValueError(f"line {item!r}: a sequence of mappings; extend parse_compose")
                items.append(scalar(item))
                i += 1
            return items, i
        mapping, merged = {}, {}
        while i < len(lines) and lines[i][0] == indent:
            key, _, rest = lines[i][1].partition(":")
            rest, anchor = rest.strip(), None
            i += 1
            if rest.startswith("&"):
                anchor, _, rest = rest[1:].partition(" ")
            if rest:
                value = scalar(rest)
            elif i < len(lines) and lines[i][0] > indent:
                value, i = block(i, lines[i][0])
            else:
                value = None
            if anchor:
                anchors[anchor] = value
            if key == "<<":
                merged = value
            mapping[key] = value
        return {**merged, **mapping}, i

    parsed, end = block(0, 0)
    assert end == len(lines), f"parse_compose stopped at {lines[end]!r}"
    return parsed


def environment_of(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(entry.split("=", 1) for entry in environment)
    return dict(environment)


def image_environment(dockerfile: str) -> dict[str, str]:
    """The Dockerfile's ENV lines (one-line form): what every container starts with."""
    return dict(
        word.split("=", 1) for line in dockerfile.splitlines() if line.startswith("ENV ") for word in line.split()[1:]
    )


@functools.cache
def directory_settings_under(environment: frozenset) -> dict[str, str]:
    """Every data directory setting as the settings resolve it in a container with this environment."""
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps({n: str(getattr(settings, n)) for n in settings.DATA_DIRECTORY_SETTINGS}))"
    )
    env = {"PATH": os.environ["PATH"], "OMEN_ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "omen_site.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env | dict(environment), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def unmounted_data_directories(compose_text: str, dockerfile: str) -> list[str]:
    """One sentence per data directory, in a service using the x-omen anchor, that is not on a named volume."""
    compose = parse_compose(compose_text)
    named_volumes = set(compose.get("volumes") or {})
    services = {name: s for name, s in compose["services"].items() if s.get("<<") is compose["x-omen"]}
    assert services, "no service uses the x-omen anchor"
    problems = []
    for name, service in services.items():
        # Compose's environment wins over env_file, which wins over the image's ENV.
        environment = image_environment(dockerfile) | ENV_FILE_STAND_IN | environment_of(service)
        mounts = {}
        for entry in service.get("volumes") or []:
            source, target = entry.split(":")[:2]
            if source in named_volumes:
                mounts[target.rstrip("/")] = source
        for setting, directory in directory_settings_under(frozenset(environment.items())).items():
            on_volume = [t for t in mounts if directory == t or directory.startswith(t + "/")]
            if not on_volume:
                problems.append(f"{name}: {setting}={directory} is on no named volume (mounts: {mounts})")
    return problems


def test_every_directory_setting_is_data_or_says_why_it_is_not():
    directory_settings = {n for n in vars(settings_module) if n.isupper() and n.endswith("_DIR")}

    unclassified = directory_settings - set(settings_module.DATA_DIRECTORY_SETTINGS) - set(NOT_DATA_DIRECTORIES)
    assert not unclassified, (
        f"{sorted(unclassified)}: add each to DATA_DIRECTORY_SETTINGS (and a volume in docker-compose.yml) "
        "or to NOT_DATA_DIRECTORIES here with the reason"
    )
    assert set(settings_module.DATA_DIRECTORY_SETTINGS) <= directory_settings


@pytest.mark.slow
def test_every_data_directory_is_on_a_named_volume_in_every_omen_service():
    compose = (ROOT / "docker-compose.yml").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert unmounted_data_directories(compose, dockerfile) == []


@pytest.mark.slow
def test_a_service_that_replaces_the_volumes_and_drops_the_archive_is_caught():
    compose = (ROOT / "docker-compose.yml").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    beat = "  beat:\n    <<: *omen\n"
    assert beat in compose
    volumes = (
        "    volumes:\n      - ledger:/var/lib/omen/ledger\n      - retention-archive:/var/lib/omen/retention-archive\n"
        "      - ledger-long-term:/var/lib/omen/ledger-long-term\n      - backups:/var/lib/omen/backups\n"
    )
    doctored = compose.replace(beat, beat + volumes)

    problems = unmounted_data_directories(doctored, dockerfile)

    assert len(problems) == 1
    assert problems[0].startswith("beat: LEDGER_ARCHIVE_DIR=/var/lib/omen/ledger-archive is on no named volume")


@pytest.mark.slow
def test_an_archive_dir_left_to_the_env_file_is_caught():
    compose = (ROOT / "docker-compose.yml").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = "    LEDGER_ARCHIVE_DIR: /var/lib/omen/ledger-archive\n"
    assert pinned in compose

    problems = unmounted_data_directories(compose.replace(pinned, ""), dockerfile)

    assert {problem.split(":")[0] for problem in problems} == {"migrate", "web", "worker", "beat"}
    assert all("LEDGER_ARCHIVE_DIR=/srv/not-a-volume/ledger_archive_dir" in problem for problem in problems)


def test_the_image_creates_each_data_volumes_mount_point_for_its_user():
    """A mount point the image lacks becomes a root-owned volume the omen user cannot write."""
    compose = parse_compose((ROOT / "docker-compose.yml").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    words = next(line for line in dockerfile.splitlines() if "mkdir -p" in line).split()
    made = words[words.index("mkdir") : words.index("&&", words.index("mkdir"))]
    owned = words[words.index("chown") + 3 :]
    targets = {entry.split(":")[1] for entry in compose["x-omen"]["volumes"]}

    assert targets
    for target in targets:
        assert target in made, f"{target}: add it to the Dockerfile's mkdir -p"
        assert any(target == path or target.startswith(path + "/") for path in owned), f"{target}: chown it to omen"


def test_every_long_running_omen_service_is_restarted_when_it_stops():
    # A worker or beat that exits (a crash, the OOM killer) would stay down: nothing else restarts it.
    compose = parse_compose((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]

    assert {name: services[name].get("restart") for name in ("web", "worker", "beat")} == dict.fromkeys(
        ("web", "worker", "beat"), "unless-stopped"
    )
    assert services["migrate"]["restart"] == "no"  # runs once, before the others start
