"""prompt_thread_switching: a shorter GIL switch interval while it is held, the old one after."""

import sys
import threading

import pytest

from utilities.threads import prompt_thread_switching


@pytest.fixture(autouse=True)
def default_interval():
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(before)


def test_the_interval_is_shortened_inside_and_restored_after():
    with prompt_thread_switching(0.001):
        assert sys.getswitchinterval() == pytest.approx(0.001)

    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_it_is_restored_when_the_body_raises():
    with pytest.raises(RuntimeError), prompt_thread_switching(0.001):
        raise RuntimeError("boom")

    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_an_interval_already_shorter_is_kept():
    sys.setswitchinterval(0.0005)

    with prompt_thread_switching(0.001):
        assert sys.getswitchinterval() == pytest.approx(0.0005)


def test_overlapping_users_restore_the_interval_only_when_the_last_one_leaves():
    entered, release = threading.Event(), threading.Event()

    def other_user():
        with prompt_thread_switching(0.001):
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=other_user)
    thread.start()
    entered.wait(5)
    with prompt_thread_switching(0.001):
        pass
    during = sys.getswitchinterval()  # this user left, the other has not
    release.set()
    thread.join(5)

    assert during == pytest.approx(0.001)
    assert sys.getswitchinterval() == pytest.approx(0.005)
