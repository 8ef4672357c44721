"""A worker or beat stops on a system check's error as manage.py does (Celery's Django fixup runs the
checks and ignores them): a RETENTION_KEEP_* it cannot read never reaches a sweep."""

import pytest

from tests.omen_site.commandline import run

pytestmark = pytest.mark.slow

REFUSAL = (
    "(retention.E001) RETENTION_KEEP_SIGNALS: 'ninety days' is not a duration: write a whole number and a unit, "
    "e.g. 90d, 168h or 7y Fix or unset the variable; `manage.py retention status` lists the policies."
)


@pytest.mark.parametrize("program", ["worker", "beat"])
def test_a_worker_or_beat_with_a_check_error_stops_naming_it(program, tmp_path):
    result = run(
        ["-m", "celery", "-A", "omen_site", program, "--loglevel=WARNING"],
        OMEN_VAR_DIR=str(tmp_path),
        RETENTION_KEEP_SIGNALS="ninety days",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == REFUSAL
    assert "ready" not in result.stderr and "ready" not in result.stdout
