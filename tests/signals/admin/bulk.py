"""Many signals at once for the list and export tests: copies of one real signal, written in bulk.

The copies skip ``Signal.save`` (and so the ledger): what these tests read is the admin's lists.
"""

from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import Permission

from signals.models import Signal
from tests.support.factories import SignalFactory

START = datetime(2026, 11, 1, tzinfo=UTC)
HORMUZ = "Will Iran close the Strait of Hormuz to tankers before July 2027? (market {n})"
RED_SEA = "Will Houthi attacks close the Red Sea to container ships by 2027? (market {n})"


def bulk_signals(count, *, same_time=3, title=None, source=None, level=None):
    """``count`` signals (and no other), newest last, ``same_time`` of them at each generated_at (one batch).

    ``title``, ``source`` and ``level`` are functions of the row's number n (from 0); by default
    the titles alternate Hormuz / Red Sea, the sources polymarket / newsapi / openmeteo and the
    levels HIGH / MEDIUM / LOW.
    """
    title = title or (lambda n: (HORMUZ if n % 2 == 0 else RED_SEA).format(n=n))
    source = source or (lambda n: ("polymarket", "newsapi", "openmeteo")[n % 3])
    level = level or (lambda n: ("HIGH", "MEDIUM", "LOW")[(n // 3) % 3])
    template = SignalFactory()
    rows = []
    for n in range(count):
        generated_at = START + timedelta(minutes=n // same_time)
        signal_id = f"OMEN-{n + 1:012X}"
        rows.append(
            Signal(
                signal_id=signal_id,
                event=template.event,
                source=source(n),
                source_event_id=f"{source(n)}-{600000 + n}",
                input_event_hash=f"{n:064x}",
                trace_id=f"{n:016x}",
                ruleset_version=template.ruleset_version,
                signal_type=template.signal_type,
                status=template.status,
                category=template.category,
                confidence_level=level(n),
                title=title(n),
                probability=round(0.01 * (n % 100), 2),
                confidence=0.5,
                observed_at=generated_at - timedelta(minutes=5),
                generated_at=generated_at,
                created_at=generated_at,
                contract={**template.contract, "signal_id": signal_id, "title": title(n)},
            )
        )
    Signal.objects.bulk_create(rows)
    template.delete()  # its event stays, holding the copies


def list_order(queryset=None):
    """Signal ids as the list shows them: newest first, the id breaking ties."""
    queryset = Signal.objects.all() if queryset is None else queryset
    return list(queryset.order_by("-generated_at", "-id").values_list("signal_id", flat=True))


def staff_user(django_user_model, *codenames, username="analyst"):
    """A staff user holding just these permissions of the signals app (e.g. view_signal, export_signal)."""
    user = django_user_model.objects.create_user(username=username, password="correct-horse-battery", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="signals", codename__in=codenames))
    return user
