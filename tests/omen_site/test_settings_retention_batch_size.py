"""RETENTION_BATCH_SIZE: anything but a whole number of rows from 1 to 10,000 stops the start in one line.

0 would have a sweep delete nothing (or fail after writing an archive), a negative number fails in
the middle of a sweep, and text failed with the environment reader's traceback.
"""

import pytest

from tests.omen_site.commandline import manage

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("value", ["abc", "-5", "", "10001"])
def test_a_batch_size_that_is_no_number_of_rows_is_refused_naming_it(value):
    result = manage("check", RETENTION_BATCH_SIZE=value)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"RETENTION_BATCH_SIZE={value!r} is not a number of rows a batch may hold: "
        "set it to a whole number from 1 to 10,000 (default 1000)."
    ]


@pytest.mark.parametrize("value", ["1", "10000"])
def test_a_batch_size_within_the_range_starts(value):
    result = manage("check", RETENTION_BATCH_SIZE=value)

    assert result.returncode == 0, result.stderr
