"""The ledger's section of the admin's signal page: a signal's frames, and "verify this frame"."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from ledger.public import frame_verify, signal_frames
from ledger.services.writer import ledger_drain
from ledger.wal import HEADER_SIZE
from tests.support.factories import SignalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst_client(client, django_user_model):
    user = django_user_model.objects.create_user("ada", password="unused", is_staff=True)
    user.groups.add(Group.objects.get(name="analyst"))
    client.force_login(user)
    return client


@pytest.fixture
def framed_signal(settings):
    """A signal saved twice (a create frame and an update frame), both written to the ledger."""
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signal = SignalFactory()
    signal.save()
    ledger_drain()  # in this test's transaction: on_commit never fires
    return signal


def page_url(signal) -> str:
    return f"/admin/signals/signal/{signal.pk}/change/"


def verify_url(signal) -> str:
    return f"/admin/ledger/ledgerpartition/frame-verify/{signal.pk}/"


def listed_frames(html: str) -> list[str]:
    return re.findall(r'<tr class="ledger-frame" data-frame="([^"]+)">', html)


def position(frame) -> str:
    return f"{frame.partition}/{frame.segment}@{frame.offset}"


def verify(client, signal, frame_position: str) -> list[str]:
    """Press "verify this frame": the messages the signal page shows after the redirect."""
    response = client.post(verify_url(signal), {"frame": frame_position}, follow=True)
    assert response.redirect_chain == [(page_url(signal), 302)]
    return [str(message) for message in response.context["messages"]]


def test_the_page_lists_the_signals_frames_as_signal_frames_gives_them(analyst_client, framed_signal):
    frames = signal_frames(framed_signal.signal_id)
    html = analyst_client.get(page_url(framed_signal)).content.decode()

    assert len(frames) == 2
    assert listed_frames(html) == [position(frame) for frame in frames]
    for frame in frames:
        assert frame.payload_sha256 in html and f">{frame.sequence}<" in html and f">{frame.tier}<" in html
    assert html.count('formaction="/admin/ledger/ledgerpartition/frame-verify/') == 2


def test_a_signal_without_frames_still_has_its_page(analyst_client, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signal = SignalFactory()

    html = analyst_client.get(page_url(signal)).content.decode()

    assert listed_frames(html) == [] and "No frame yet" in html


def test_verify_this_frame_reports_it_intact(analyst_client, framed_signal):
    frame = signal_frames(framed_signal.signal_id)[0]

    (message,) = verify(analyst_client, framed_signal, position(frame))

    assert message.startswith(f"Frame {position(frame)} (sequence {frame.sequence}) of {framed_signal.signal_id}")
    assert "verify passed" in message and "intact" in message


def test_verify_this_frame_reports_a_flipped_byte_naming_the_frame(analyst_client, framed_signal):
    first, second = signal_frames(framed_signal.signal_id)
    segment = Path(frame_verify(second).path)
    data = bytearray(segment.read_bytes())
    data[second.offset + HEADER_SIZE + 10] ^= 0x01
    segment.write_bytes(bytes(data))

    (damaged,) = verify(analyst_client, framed_signal, position(second))
    (intact,) = verify(analyst_client, framed_signal, position(first))

    assert "verify FAILED" in damaged and position(second) in damaged and "DAMAGED" in damaged
    assert "does not match its CRC" in damaged
    assert "verify passed" in intact


def test_verify_names_only_the_signals_own_frames(analyst_client, framed_signal):
    other = SignalFactory()
    ledger_drain()
    elsewhere = position(signal_frames(other.signal_id)[0])

    (message,) = verify(analyst_client, framed_signal, elsewhere)

    assert message == f"{framed_signal.signal_id} has no frame at {elsewhere!r}."


def test_verify_is_a_post_by_someone_who_may_see_signals(client, django_user_model, framed_signal):
    frame = position(signal_frames(framed_signal.signal_id)[0])
    nobody = django_user_model.objects.create_user("staff-without-a-role", password="unused", is_staff=True)
    client.force_login(nobody)

    assert client.post(verify_url(framed_signal), {"frame": frame}).status_code == 403
    client.force_login(django_user_model.objects.create_superuser("root", "", "unused"))
    assert client.get(verify_url(framed_signal)).status_code == 403
