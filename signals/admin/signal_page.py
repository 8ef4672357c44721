"""The signal page's parts beyond its fields: the contract read for people, its market's history and
rejections, and the sections other apps register (``signals.public.SignalPageSection``).

A contract is read defensively: ``ledger import`` stores the original OMEN's contracts as they
were, so a key may be missing or hold another shape; what cannot be read is left out, never an
error page. A URL from a contract or a source becomes a link only when it is http(s).
"""

from bisect import bisect_left
from typing import NamedTuple

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from signals.models import ProbabilityPoint, Rejection, Signal
from signals.public import signal_page_sections
from utilities.charts import line_chart, number

# The newest points of the event's history on the chart: a market polled every few minutes for
# months has tens of thousands, and the chart reads them by the (event, observed_at) index.
HISTORY_POINTS = 500
RELATED_REJECTIONS = 20
# The confidence bar's size, in SVG units (and CSS pixels).
BAR_WIDTH, BAR_HEIGHT = 120, 10


class ExplanationStep(NamedTuple):
    step: object
    rule: object
    version: object
    status: object
    score: object
    reasoning: object


class EvidenceItem(NamedTuple):
    link: str  # its source and type, linked to its URL when that is http(s)
    value: object
    observed_at: object


def web_link(url, text=None):
    """``url`` as a link that opens apart from the admin (rel=noopener), or as text if not http(s)."""
    if not is_web_url(url):
        return text or url or "-"
    return format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', url, text or url)


def is_web_url(url) -> bool:
    return isinstance(url, str) and url.lower().startswith(("https://", "http://"))


def confidence_bar(signal: Signal):
    """The confidence, and its interval as a bar on 0 to 1: the interval a band, the estimate a tick."""
    interval = signal.contract.get("confidence_interval") if isinstance(signal.contract, dict) else None
    try:
        low, high = float(interval["lower_bound"]), float(interval["upper_bound"])
        estimate = float(interval.get("point_estimate", signal.confidence))
    except (TypeError, KeyError, ValueError):
        return format_html("{} ({})", number(signal.confidence), signal.get_confidence_level_display())
    low, high, estimate = (min(max(value, 0.0), 1.0) for value in (low, high, estimate))
    level = interval.get("confidence_level")
    named = f"{number(level * 100)} % interval" if isinstance(level, int | float) else "interval"
    level_name = signal.get_confidence_level_display()
    text = f"{number(signal.confidence)} ({level_name}), {named} {number(low)} to {number(high)}"
    return format_html(
        '<span class="confidence-reading">{text}</span> '
        '<svg class="confidence-bar" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'role="img" aria-label="{text}">'
        '<rect class="track" x="0" y="0" width="{w}" height="{h}"/>'
        '<rect class="interval" x="{x}" y="0" width="{width}" height="{h}"/>'
        '<rect class="estimate" x="{tick}" y="0" width="2" height="{h}"/></svg>',
        text=text,
        w=BAR_WIDTH,
        h=BAR_HEIGHT,
        x=f"{low * BAR_WIDTH:.1f}",
        width=f"{(high - low) * BAR_WIDTH:.1f}",
        tick=f"{min(estimate * BAR_WIDTH, BAR_WIDTH - 2):.1f}",
    )


def explanation_steps(contract) -> list[ExplanationStep]:
    steps = contract.get("explanation") if isinstance(contract, dict) else None
    return [
        ExplanationStep(
            step.get("step", index),
            step.get("rule", "-"),
            step.get("rule_version", step.get("version", "-")),
            step.get("status", "-"),
            step.get("score", "-"),
            step.get("reasoning", ""),
        )
        for index, step in enumerate(steps if isinstance(steps, list) else [], start=1)
        if isinstance(step, dict)
    ]


def evidence_items(contract) -> list[EvidenceItem]:
    items = contract.get("evidence") if isinstance(contract, dict) else None
    return [
        EvidenceItem(
            web_link(
                item.get("url"),
                " / ".join(str(item[key]) for key in ("source", "source_type") if item.get(key)) or "evidence",
            ),
            item.get("value", "-"),
            item.get("observed_at", "-"),
        )
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]


def probability_history(signal: Signal):
    """The event's newest HISTORY_POINTS probabilities, oldest first, the signal's own marked.

    The signal's point is the one observed when the signal was (ingest records both from the
    same observation); a history without it (pruned by retention, or an imported signal) gets
    the signal's own probability at its time, so the mark is always where the signal was.
    """
    newest = (
        ProbabilityPoint.objects.filter(source_event_id=signal.event_id)
        .order_by("-observed_at")
        .values_list("observed_at", "probability")[:HISTORY_POINTS]
    )
    points = list(reversed(newest))
    marked = bisect_left([at for at, _ in points], signal.observed_at)
    if marked == len(points) or points[marked][0] != signal.observed_at:
        points.insert(marked, (signal.observed_at, signal.probability))
    probabilities = [probability for _, probability in points]
    return line_chart(
        chart_id="probability-history",
        title=f"Probability history of {signal.source_event_id}",
        description=(
            f"The {len(points)} newest observed probabilities of the source event, oldest first; "
            "the marked point is this signal's."
        ),
        points=points,
        x_format=lambda at: f"{timezone.localtime(at):%Y-%m-%d %H:%M}",
        x_name="observed at",
        y_name="probability",
        marked=marked,
        mark_label="this signal",
        y_range=(0.0, 1.0) if all(0.0 <= p <= 1.0 for p in probabilities) else None,
    )


def related_rejections(signal: Signal) -> list[Rejection]:
    """The newest rejections of the same market (its source and id: the rejections' unique key leads with them)."""
    return list(
        Rejection.objects.filter(source=signal.source, external_id=signal.event.external_id).order_by("-created_at")[
            :RELATED_REJECTIONS
        ]
    )


def page_context(request, signal: Signal) -> dict:
    rejections = related_rejections(signal)
    return {
        "explanation_steps": explanation_steps(signal.contract),
        "evidence_items": evidence_items(signal.contract),
        "history_chart": probability_history(signal),
        "history_points": HISTORY_POINTS,
        "added_sections": [
            (section, mark_safe(section.render(request, signal)))  # rendered by its app, escaped there
            for section in signal_page_sections()
        ],
        "related_rejections": [
            (rejection, reverse("admin:signals_rejection_change", args=[rejection.pk])) for rejection in rejections
        ],
        "related_rejections_shown": RELATED_REJECTIONS,
    }
