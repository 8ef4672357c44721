"""The write surface: typed rows of the signals tables and the bulk statements every bulk path shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.models import LedgerOutbox
from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent
from signals.services.rows import (
    PointRow,
    RejectionRow,
    SignalRow,
    SourceEventObservations,
    points_insert,
    rejections_insert,
    signals_delete,
    signals_insert,
    signals_replace,
    source_events_upsert,
)
from tests.support.factories import RejectionFactory, SignalFactory
from utilities.bulk_sql import datetime_adapter

START = datetime(2026, 11, 1, tzinfo=UTC)
KEY = ("polymarket", "517310")


def same(value):
    return value


# --------------------------------------------------------------------------- observations (pure)


def observe(observations, hours, *, title, probability, signal_id=None):
    observations.observe(
        KEY,
        title=title,
        url=f"https://polymarket.com/event/{title}",
        observed_at=START + timedelta(hours=hours),
        probability=probability,
        signal_id=signal_id,
    )


def test_the_newest_observation_names_the_event_in_whatever_order_they_come():
    observations = SourceEventObservations()
    observe(observations, 5, title="newest", probability=0.5, signal_id="OMEN-5")
    observe(observations, 1, title="oldest", probability=0.1, signal_id="OMEN-1")
    observe(observations, 3, title="middle", probability=0.3, signal_id="OMEN-3")

    (row,) = observations.rows(same)

    assert (row.title, row.last_probability, row.latest_signal_id) == ("newest", 0.5, "OMEN-5")
    assert (row.first_seen_at, row.last_seen_at) == (START + timedelta(hours=1), START + timedelta(hours=5))
    assert row.recent_history == "[]"


def test_a_rejected_observation_moves_the_price_but_keeps_the_latest_signal():
    observations = SourceEventObservations()
    observe(observations, 1, title="accepted", probability=0.3, signal_id="OMEN-1")
    observe(observations, 2, title="rejected", probability=0.9)

    (row,) = observations.rows(same)

    assert (row.title, row.last_probability, row.latest_signal_id) == ("rejected", 0.9, "OMEN-1")


def test_rows_come_in_key_order_with_the_history_given_and_titles_cut_to_the_column():
    observations = SourceEventObservations()
    for external_id in ("b", "a", "c"):
        observations.observe(("polymarket", external_id), title="t" * 600, url="", observed_at=START, probability=0.2)

    rows = observations.rows(same, {("polymarket", "c"): "[[1.0, 0.2, 3.0]]"})

    assert [row.external_id for row in rows] == ["a", "b", "c"]
    assert {len(row.title) for row in rows} == {500}
    assert [row.recent_history for row in rows] == ["[]", "[]", "[[1.0, 0.2, 3.0]]"]


# --------------------------------------------------------------------------- source events


def upsert(hours, *, title, history, restoring, signal_id=None):
    observations = SourceEventObservations()
    observe(observations, hours, title=title, probability=hours / 10, signal_id=signal_id)
    return source_events_upsert(observations.rows(datetime_adapter(), {KEY: history}), restoring=restoring)


@pytest.mark.django_db
def test_observing_an_older_reply_never_rolls_the_event_back_and_replaces_its_history():
    pks = upsert(5, title="newer", history="[[5.0, 0.5, 1.0]]", restoring=False)
    again = upsert(1, title="older", history="[[1.0, 0.1, 1.0], [5.0, 0.5, 1.0]]", restoring=False)

    event = SourceEvent.objects.get()
    assert pks == again == {KEY: event.pk}
    assert (event.title, event.last_probability, event.last_seen_at) == ("newer", 0.5, START + timedelta(hours=5))
    assert event.first_seen_at == START + timedelta(hours=5)  # observing: the first sighting stays
    assert event.recent_history == "[[1.0, 0.1, 1.0], [5.0, 0.5, 1.0]]"  # merged by the caller, taken


@pytest.mark.django_db
def test_restoring_an_older_frame_moves_the_first_sighting_back_and_keeps_the_history():
    upsert(5, title="newer", history="[[5.0, 0.5, 1.0]]", restoring=False)
    upsert(1, title="older", history="[]", restoring=True)

    event = SourceEvent.objects.get()
    assert (event.title, event.last_seen_at) == ("newer", START + timedelta(hours=5))
    assert event.first_seen_at == START + timedelta(hours=1)
    assert event.recent_history == "[[5.0, 0.5, 1.0]]"


# --------------------------------------------------------------------------- signals


def signal_row(signal: Signal, **changes) -> SignalRow:
    to_db = datetime_adapter()
    values = {name: getattr(signal, name) for name in SignalRow._fields if name != "contract"}
    values.update(contract=Signal._meta.get_field("contract").get_prep_value(signal.contract))
    values.update({name: to_db(values[name]) for name in ("observed_at", "generated_at", "created_at")})
    values.update(changes)
    return SignalRow(**values)


@pytest.fixture
def template(db):
    """A real signal's columns, then the signal removed: rows to insert again."""
    signal = SignalFactory()
    rows = [(signal.event_id, signal_row(signal)), (signal.event_id, signal_row(signal, signal_id="OMEN-00000000000A"))]
    signals_delete([signal.signal_id])
    LedgerOutbox.objects.all().delete()
    return rows


@pytest.mark.django_db
def test_new_signals_are_inserted_once_and_returned_by_primary_key(template):
    created = signals_insert(template)
    again = signals_insert(template)

    assert [signal_id for _, signal_id in created] == [row.signal_id for _, row in template]
    assert created == sorted(created)
    assert again == []  # the idempotency every bulk path relies on
    assert Signal.objects.count() == 2
    assert LedgerOutbox.objects.count() == 0  # no post_save: the caller announces what it inserted


@pytest.mark.django_db
def test_replacing_rewrites_every_column_but_the_key_and_when_the_row_was_made(template):
    signals_insert(template[:1])
    event_pk, row = template[0]
    created_at = Signal.objects.get().created_at

    signals_replace([(event_pk, row._replace(title="Rewritten", created_at=datetime_adapter()(START)))])

    signal = Signal.objects.get()
    assert signal.title == "Rewritten"
    assert signal.created_at == created_at


@pytest.mark.django_db
def test_deleting_clears_the_events_pointer_and_fires_no_post_delete():
    signal = SignalFactory()
    SourceEvent.objects.filter(pk=signal.event_id).update(latest_signal=signal.signal_id)
    LedgerOutbox.objects.all().delete()

    signals_delete([signal.signal_id])

    assert not Signal.objects.exists()
    assert SourceEvent.objects.get().latest_signal_id is None
    assert LedgerOutbox.objects.count() == 0


# --------------------------------------------------------------------------- history and rejections


@pytest.mark.django_db
def test_a_point_already_recorded_for_a_moment_is_skipped(template):
    event_pk = template[0][0]
    point = PointRow(datetime_adapter()(START), 0.4, 10.0, 20.0)

    points_insert([(event_pk, point), (event_pk, point._replace(observed_at=datetime_adapter()(START + timedelta(1))))])
    points_insert([(event_pk, point._replace(probability=0.9))])

    assert sorted(ProbabilityPoint.objects.values_list("probability", flat=True)) == [0.4, 0.4]


@pytest.mark.django_db
def test_the_same_rejection_of_the_same_input_is_written_once():
    existing = RejectionFactory()
    row = RejectionRow(
        *(getattr(existing, name) for name in RejectionRow._fields[:-2]),
        observed_at=datetime_adapter()(existing.observed_at),
        created_at=datetime_adapter()(existing.created_at),
    )

    rejections_insert([row, row._replace(input_hash="f" * 64)])

    assert Rejection.objects.count() == 2
