"""StrictEnv: how settings read booleans, numbers and lists (test_settings.py runs settings' refusals as processes)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from omen_site.environment import StrictEnv

env = StrictEnv()


# Every word django-environ took for true, the words for false, in any case and with spaces around:
# what .env.example, the docs and docker-compose.yml write (true, false, 1) among them.
@pytest.mark.parametrize("word", ["true", "True", "TRUE", " yes ", "y", "on", "ok", "1"])
def test_the_words_for_true_read_true(monkeypatch, word):
    monkeypatch.setenv("OMEN_TEST_FLAG", word)
    assert env.bool("OMEN_TEST_FLAG", default=False) is True


@pytest.mark.parametrize("word", ["false", "False", "FALSE", "no", "n", "off", "0"])
def test_the_words_for_false_read_false(monkeypatch, word):
    monkeypatch.setenv("OMEN_TEST_FLAG", word)
    assert env.bool("OMEN_TEST_FLAG", default=True) is False


@pytest.mark.parametrize("word", ["ture", "yes-please", "enabled", "2", "-1", "", "none"])
def test_any_other_word_is_refused_naming_the_variable(monkeypatch, word):
    """django-environ read each of these as false (or "2" and "-1" as true)."""
    monkeypatch.setenv("OMEN_TEST_FLAG", word)
    with pytest.raises(ImproperlyConfigured, match=rf"^OMEN_TEST_FLAG='{word}' is neither true nor false"):
        env.bool("OMEN_TEST_FLAG", default=False)


def test_an_unset_variable_takes_its_default(monkeypatch):
    monkeypatch.delenv("OMEN_TEST_NUMBER", raising=False)
    assert env.bool("OMEN_TEST_NUMBER", default=True) is True
    assert env.int("OMEN_TEST_NUMBER", default=7, minimum=1) == 7
    assert env.float("OMEN_TEST_NUMBER", default=2.5) == 2.5


@pytest.mark.parametrize(("text", "value"), [("3", 3.0), ("0.5", 0.5), (" 2 ", 2.0), ("+1.25", 1.25), (".5", 0.5)])
def test_a_number_in_digits_is_read(monkeypatch, text, value):
    monkeypatch.setenv("OMEN_TEST_NUMBER", text)
    assert env.float("OMEN_TEST_NUMBER", default=1.0) == value


@pytest.mark.parametrize("text", ["3s", "1,5", "abc", "", "1e3", "inf", "nan", "1_000", "0x10", "--1"])
def test_anything_else_is_not_a_number(monkeypatch, text):
    """django-environ read "3s" as 3.0 and "1,5" as 1.5; Python's float takes "1e3", "inf", "1_000"."""
    monkeypatch.setenv("OMEN_TEST_NUMBER", text)
    with pytest.raises(ImproperlyConfigured, match=r"^OMEN_TEST_NUMBER='.*' is not a number: .* \(default 1\)\.$"):
        env.float("OMEN_TEST_NUMBER", default=1.0)


@pytest.mark.parametrize("text", ["1.5", "1e3", "10MB", "x", "", "١٢", "1 000"])
def test_a_whole_number_is_digits_alone(monkeypatch, text):
    monkeypatch.setenv("OMEN_TEST_NUMBER", text)
    with pytest.raises(ImproperlyConfigured, match=r"^OMEN_TEST_NUMBER='.*' is not a whole number"):
        env.int("OMEN_TEST_NUMBER", default=1)


@pytest.mark.parametrize(
    ("text", "minimum", "maximum", "expected"),
    [
        ("-5", 0, None, "a whole number 0 or more"),
        ("0", 1, None, "a whole number 1 or more"),
        ("61", 1, 60, "a whole number from 1 to 60"),
        ("11", None, 10, "a whole number at most 10"),
    ],
)
def test_a_number_out_of_its_range_is_refused_naming_the_range(monkeypatch, text, minimum, maximum, expected):
    monkeypatch.setenv("OMEN_TEST_NUMBER", text)
    with pytest.raises(ImproperlyConfigured) as refused:
        env.int("OMEN_TEST_NUMBER", default=5, minimum=minimum, maximum=maximum)
    expected = f"OMEN_TEST_NUMBER={int(text)} is out of range: set it to {expected} (default 5)."
    assert str(refused.value) == expected


def test_the_bounds_themselves_are_in_range(monkeypatch):
    monkeypatch.setenv("OMEN_TEST_NUMBER", "0.1")
    assert env.float("OMEN_TEST_NUMBER", default=3.0, minimum=0.1, maximum=60) == 0.1
    monkeypatch.setenv("OMEN_TEST_NUMBER", "60")
    assert env.float("OMEN_TEST_NUMBER", default=3.0, minimum=0.1, maximum=60) == 60


def test_list_entries_are_stripped_and_blank_ones_dropped(monkeypatch):
    monkeypatch.setenv("OMEN_TEST_LIST", " omen.example.com , ,api.example.com,")
    assert env.list("OMEN_TEST_LIST", default=[]) == ["omen.example.com", "api.example.com"]
    monkeypatch.setenv("OMEN_TEST_LIST", " ")
    assert env.list("OMEN_TEST_LIST", default=["x"]) == []
