"""The field readers every source parser shares: the control-character rule, read_text, excerpt."""

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signals.sources.field_readers import BadField, clean_text, excerpt, message_text, read_text

# C0 but tab, DEL and C1: what no source text may carry past the readers.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")

# Text that may hold anything, controls and escape-sequence pieces made frequent.
any_text = st.text() | st.text(
    alphabet=st.sampled_from(
        [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)] + list("[]\\;0m P_^Xa ")
    )
)
clean_texts = st.text(alphabet=st.characters(exclude_categories=["Cc"]) | st.just("\t"))
escape_sequences = st.one_of(
    # CSI, by ESC [ or by C1: parameters, an intermediate, a final byte
    st.builds(
        lambda intro, params, final: intro + params + final,
        st.sampled_from(["\x1b[", "\x9b"]),
        st.text(alphabet="0123456789;:<=>?", max_size=8),
        st.sampled_from(list("mKHJABCDhlsu@~")),
    ),
    # OSC and the other string commands, ended by BEL or ST
    st.builds(
        lambda intro, body, end: intro + body + end,
        st.sampled_from(["\x1b]", "\x1bP", "\x1b_", "\x1b^", "\x1bX", "\x9d", "\x90"]),
        st.text(alphabet=st.characters(exclude_categories=["Cc"]), max_size=20),
        st.sampled_from(["\x07", "\x1b\\", "\x9c"]),
    ),
    # two-character escapes and designations such as ESC ( B
    st.sampled_from(["\x1bc", "\x1b7", "\x1b8", "\x1bM", "\x1b(B", "\x1b)0", "\x1b=", "\x1b>"]),
)


@pytest.mark.parametrize(
    "dirty, clean",
    [
        ("\x1b[31mRed Sea\x1b[0m closed", "Red Sea closed"),
        ("\x1b[1;38;5;196mbold\x1b[m", "bold"),
        ("\x9b31mC1 CSI", "C1 CSI"),
        ("\x1b]0;pwned\x07Hormuz", "Hormuz"),
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x9d2;title\x9cSuez", "Suez"),
        ("\x1b(Bcharset", "charset"),
        ("ring\x07 the bell", "ring the bell"),
        ("Will it close?\r\nBy June", "Will it close? By June"),
        ("one\n\n\ntwo", "one two"),
        ("one \r\n two", "one two"),
        ("\r\nleading and trailing\n", "leading and trailing"),
        ("vertical\x0btab and\x0cform feed", "vertical tab and form feed"),
        ("next\x85line", "next line"),
        ("delete\x7f and C1 \x80\x9f", "delete and C1 "),
        ("NUL\x00", "NUL"),
        ("a lone ESC\x1b", "a lone ESC"),
        ("\x1b]an OSC never ended", "an OSC never ended"),
        ("tab\tstays", "tab\tstays"),
        ("Ünïcödé — 红海 ✓", "Ünïcödé — 红海 ✓"),
    ],
)
def test_clean_text_drops_escape_sequences_and_controls_and_turns_line_breaks_into_one_space(dirty, clean):
    assert clean_text(dirty) == clean


@given(text=any_text)
def test_clean_text_never_returns_a_control_character_but_tab(text):
    assert not CONTROL.search(clean_text(text))


@given(text=clean_texts)
def test_clean_text_leaves_text_without_controls_unchanged(text):
    assert clean_text(text) == text


@given(before=clean_texts, sequence=escape_sequences, after=clean_texts)
def test_clean_text_removes_an_escape_sequence_whole(before, sequence, after):
    """No "[31m" or OSC body is left behind: the text around the sequence is all that remains."""
    assert clean_text(before + sequence + after) == before + after


@pytest.mark.parametrize(
    "text",
    [
        " " * 200_000 + "\x07",
        "\x1b]" + "x" * 200_000,
        "\x90" * 200_000,
        ("\x1b[" + "1" * 50) * 4_000,
        "\x1b" + " " * 200_000,
    ],
)
def test_clean_text_is_linear_on_hostile_input(text):
    """A source's 100 000-character description cannot stall a parser in the regular expressions."""
    started = time.perf_counter()
    clean_text(text)
    assert time.perf_counter() - started < 1.0


def test_read_text_returns_the_field_cleaned():
    record = {"title": "\x1b[31mRed Sea\x07\r\nclosed\x1b[0m"}

    assert read_text(record, "title", required=True, limit=100) == "Red Sea closed"


def test_read_text_refuses_a_required_field_that_is_only_control_characters():
    with pytest.raises(BadField, match="title is empty"):
        read_text({"title": "\x1b[0m\x07\r\n"}, "title", required=True, limit=100)


def test_read_text_still_refuses_nul_rather_than_dropping_it():
    with pytest.raises(BadField, match="NUL"):
        read_text({"title": "Red Sea\x00"}, "title", required=True, limit=100)


def test_an_excerpt_shows_no_control_character_of_keys_or_values():
    record = {"\x1b[31mkey\x07": "\x1b]0;title\x07value\r\n", "n": 1}

    shown = excerpt(record)

    assert not CONTROL.search(shown)
    assert shown.startswith("{key: ")


def test_a_sources_message_is_cleaned_and_other_values_are_shown():
    assert message_text("\x1b[31mquota\x07 exceeded\r\n") == "quota exceeded"
    assert message_text(None) == "None" and message_text(429) == "429"
