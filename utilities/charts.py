"""Charts drawn on the server as SVG: bars per category and series, a line over time, a sparkline.

Pure Python, no script: a chart is markup a template inserts as it is. A strict
Content-Security-Policy (no inline script, no inline style) lets it through because it carries
no ``style=""`` and no ``<style>``: its parts have classes (``bar series-N``, ``line``, ``mark``,
``axis``, ``grid``, ``label``) that a static stylesheet (``omen_site/static/omen_site/charts.css``)
colours from the admin's theme variables, so the same markup reads in the light and the dark
theme. Geometry is in SVG attributes (x, y, width, height, points), which a policy leaves alone.

Each chart is one image to assistive technology (``role="img"``, named by its ``<title>``,
described by its ``<desc>``), followed by its values as a visually hidden table (bars, line) or
list (sparkline), so a screen reader can read what the picture shows. Every text a caller
passes (titles, categories, series names, formatted values) is escaped here: pass plain text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import Any

# charts.css colours series-0 ... series-5; a seventh series takes series-0's colour again.
SERIES_COLOURS = 6

# Ids name the title and description an image is labelled by: one token each, no escaping needed.
_CHART_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")

# Room for the value labels on the left and the category labels below the plot, in SVG units
# (left, right, top, bottom); a sparkline has no labels, only room for its line's width.
_LABELLED_MARGINS = (44.0, 8.0, 8.0, 22.0)
_SPARKLINE_MARGINS = (1.0, 1.0, 2.0, 2.0)
# About the width of a category label ("11-07") and a gap: fewer labels than slots when they are narrow.
_CATEGORY_LABEL_WIDTH = 40.0


class Html(str):
    """Markup built here, every text in it escaped: Django's (and Jinja's) templates insert it as it is."""

    __slots__ = ()

    def __html__(self) -> str:
        return self


@dataclass(frozen=True)
class Series:
    """One named row of values, one value per category."""

    name: str
    values: Sequence[float]


def number(value: float) -> str:
    """A value as a label: thousands separated, at most three decimals, no trailing zeros."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    category_name: str = "",
    axis_labels: Sequence[str] | None = None,
    value_format: Callable[[float], str] = number,
    width: int = 600,
    height: int = 220,
) -> Html:
    """Bars per category, one per series: side by side, or ``stacked`` one on another.

    ``description`` should say what a bar is (the image's ``<desc>``). A bar is drawn for every
    value above zero, as ``<rect class="bar series-N">`` with a ``<title>`` (its tooltip) naming
    category, series and value. ``axis_labels`` (one per category) replace the categories under
    the plot, where room is short; the table keeps the categories. Values are zero or more.
    """
    _check_id(chart_id)
    for one in series:
        if len(one.values) != len(categories):
            raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(categories)} categories")
        _check_values(one.values, at_least_zero=True)
    if axis_labels is not None and len(axis_labels) != len(categories):
        raise ValueError(f"{len(axis_labels)} axis labels for {len(categories)} categories")

    per_category = [[one.values[index] for one in series] for index in range(len(categories))]
    tallest = max((sum(values) if stacked else max(values, default=0) for values in per_category), default=0)
    frame = _Frame(width, height, low=0.0, high=_nice_ceiling(tallest))
    slot = frame.plot_width / len(categories) if categories else 0.0
    band, gap = slot * 0.8, slot * 0.1
    bars = []
    for index, (category, values) in enumerate(zip(categories, per_category, strict=True)):
        base = 0.0
        for position, (one, value) in enumerate(zip(series, values, strict=True)):
            if stacked:
                left, bar_width, bottom = frame.left + index * slot + gap, band, base
                base += value
            else:
                bar_width = band / len(series)
                left, bottom = frame.left + index * slot + gap + position * bar_width, 0.0
            if value <= 0:
                continue
            top = frame.y(bottom + value)
            bars.append(
                f'<rect class="bar {_series_class(position)}" x="{_n(left)}" y="{_n(top)}" '
                f'width="{_n(bar_width)}" height="{_n(frame.y(bottom) - top)}">'
                f"<title>{_text(category)}, {_text(one.name)}: {_text(value_format(value))}</title></rect>"
            )
    labels = list(axis_labels if axis_labels is not None else categories)
    every = max(1, math.ceil(len(labels) * _CATEGORY_LABEL_WIDTH / frame.plot_width)) if labels else 1
    category_labels = [
        f'<text class="label" x="{_n(frame.left + (index + 0.5) * slot)}" y="{_n(height - 6)}" '
        f'text-anchor="middle">{_text(label)}</text>'
        for index, label in enumerate(labels)
        if index % every == 0
    ]
    note = _note(frame, "No data" if not categories or not series else "All values are zero" if not bars else "")
    whole = all(float(value).is_integer() for values in per_category for value in values)
    axis = frame.value_axis(value_format, whole=whole)
    svg = _svg(chart_id, title, description, frame, [*axis, *bars, *category_labels, note])
    rows = [
        [_text(category), *(_text(value_format(value)) for value in values)]
        for category, values in zip(categories, per_category, strict=True)
    ]
    table = _table(title, [category_name, *(one.name for one in series)], rows)
    legend = _legend([(_series_class(position), one.name) for position, one in enumerate(series)])
    return Html(
        f'<figure class="chart chart-bar" id="{chart_id}">{svg}{legend if len(series) > 1 else ""}{table}</figure>'
    )


def line_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    points: Sequence[tuple[Any, float]],
    x_format: Callable[[Any], str] = str,
    x_name: str = "",
    y_name: str = "value",
    marked: int | None = None,
    mark_label: str = "marked",
    y_range: tuple[float, float] | None = None,
    value_format: Callable[[float], str] = number,
    width: int = 600,
    height: int = 200,
) -> Html:
    """A line through ``points`` (x, y), x ascending: datetimes, dates or numbers, placed by their distance.

    ``marked``, the index of one point, draws it as ``<circle class="mark">`` and names it with
    ``mark_label`` under the chart and in the table. ``y_range`` fixes the scale (0 to 1 for a
    probability) and must hold every value; else the scale runs from zero (or the lowest value,
    if negative) to a round number at or above the highest.
    """
    _check_id(chart_id)
    ys = [y for _, y in points]
    _check_values(ys, at_least_zero=False)
    xs = [_position(x) for x, _ in points]
    if any(later < earlier for earlier, later in zip(xs, xs[1:], strict=False)):
        raise ValueError("the points' x values must ascend")
    if marked is not None and not 0 <= marked < len(points):
        raise ValueError(f"marked point {marked} is not one of the {len(points)} points")
    if y_range is not None and not (y_range[0] < y_range[1] and all(y_range[0] <= y <= y_range[1] for y in ys)):
        raise ValueError(f"the scale {y_range} must rise and hold every value")

    frame = _Frame(width, height, *(y_range or _value_range(ys)))
    first, last = (xs[0], xs[-1]) if xs else (0.0, 0.0)

    def x_of(position: float) -> float:
        if last == first:
            return frame.left + frame.plot_width / 2
        return frame.left + frame.plot_width * (position - first) / (last - first)

    coordinates = [(x_of(position), frame.y(y)) for position, y in zip(xs, ys, strict=True)]
    parts = frame.value_axis(value_format, whole=all(float(y).is_integer() for y in ys))
    if len(coordinates) > 1:
        parts.append(f'<polyline class="line" points="{_points(coordinates)}"/>')
    elif coordinates:
        parts.append(f'<circle class="point" cx="{_n(coordinates[0][0])}" cy="{_n(coordinates[0][1])}" r="3"/>')
    if points:
        parts.append(_edge_label(frame, frame.left, "start", x_format(points[0][0])))
        if len(points) > 1:
            parts.append(_edge_label(frame, frame.left + frame.plot_width, "end", x_format(points[-1][0])))
    legend = ""
    if marked is not None:
        (x, y), (cx, cy) = points[marked], coordinates[marked]
        named = f"{_text(mark_label)}: {_text(x_format(x))}, {_text(value_format(y))}"
        parts.append(f'<circle class="mark" cx="{_n(cx)}" cy="{_n(cy)}" r="4.5"><title>{named}</title></circle>')
        legend = f'<p class="chart-legend"><span class="swatch mark" aria-hidden="true"></span> {named}</p>'
    parts.append(_note(frame, "" if points else "No data"))
    svg = _svg(chart_id, title, description, frame, parts)
    header = [x_name, y_name] + (["note"] if marked is not None else [])
    rows = []
    for index, (x, y) in enumerate(points):
        row = [_text(x_format(x)), _text(value_format(y))]
        if marked is not None:
            row.append(_text(mark_label) if index == marked else "")
        rows.append(row)
    table = _table(title, header, rows)
    return Html(f'<figure class="chart chart-line" id="{chart_id}">{svg}{legend}{table}</figure>')


def sparkline(
    *,
    chart_id: str,
    title: str,
    values: Sequence[float],
    labels: Sequence[str] | None = None,
    value_format: Callable[[float], str] = number,
    width: int = 100,
    height: int = 20,
) -> Html:
    """A word-sized line of ``values``, evenly spaced, from zero (or the lowest, if negative) up.

    Its ``<desc>`` sums it up (how many values, lowest, highest, last); the list under it holds
    every value, with its label (``labels``, one per value) when given.
    """
    _check_id(chart_id)
    _check_values(values, at_least_zero=False)
    if labels is not None and len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels for {len(values)} values")

    frame = _Frame(width, height, *_value_range(values, round_up=False), margins=_SPARKLINE_MARGINS)
    step = frame.plot_width / (len(values) - 1) if len(values) > 1 else 0.0
    coordinates = [(frame.left + index * step, frame.y(value)) for index, value in enumerate(values)]
    if len(coordinates) > 1:
        drawn = f'<polyline class="line" points="{_points(coordinates)}"/>'
    elif coordinates:
        drawn = (
            f'<circle class="point" cx="{_n(frame.left + frame.plot_width / 2)}" cy="{_n(coordinates[0][1])}" r="2"/>'
        )
    else:
        drawn = ""
    if values:
        description = (
            f"{len(values)} values: lowest {value_format(min(values))}, highest {value_format(max(values))}, "
            f"last {value_format(values[-1])}."
        )
    else:
        description = "No values."
    svg = _svg(chart_id, title, description, frame, [drawn])
    items = [
        f"<li>{_text(label)}: {_text(value_format(value))}</li>"
        if labels is not None
        else f"<li>{_text(value_format(value))}</li>"
        for label, value in zip(labels or [None] * len(values), values, strict=True)
    ] or ["<li>No values.</li>"]
    return Html(
        f'<figure class="chart sparkline" id="{chart_id}">{svg}'
        f'<ul class="chart-data" aria-label="{_text(title)}">{"".join(items)}</ul></figure>'
    )


# --------------------------------------------------------------------------- shared parts


class _Frame:
    """The drawing's size, the plot inside its margins, and the value scale from ``low`` to ``high``."""

    def __init__(self, width: float, height: float, low: float, high: float, *, margins=_LABELLED_MARGINS):
        self.width, self.height, self.low, self.high = width, height, low, high
        self.left, self.right, self.top, self.bottom = margins
        self.plot_width = width - self.left - self.right
        self.plot_height = height - self.top - self.bottom

    def y(self, value: float) -> float:
        return self.top + self.plot_height * (self.high - value) / (self.high - self.low)

    def value_axis(self, value_format: Callable[[float], str], *, whole: bool = False) -> list[str]:
        """Grid lines at the bottom, middle and top of the scale, each labelled; the axis at zero (or the bottom).

        ``whole``: the values are whole numbers (counts), and a middle line at 2.5 would read as a count.
        """
        middle = (self.low + self.high) / 2
        parts = []
        for value in (self.low, middle, self.high) if not whole or middle.is_integer() else (self.low, self.high):
            y = _n(self.y(value))
            parts.append(
                f'<line class="grid" x1="{_n(self.left)}" x2="{_n(self.width - self.right)}" y1="{y}" y2="{y}"/>'
            )
            parts.append(
                f'<text class="label" x="{_n(self.left - 4)}" y="{_n(self.y(value) + 4)}" '
                f'text-anchor="end">{_text(value_format(value))}</text>'
            )
        base = _n(self.y(min(max(0.0, self.low), self.high)))
        parts.append(
            f'<line class="axis" x1="{_n(self.left)}" x2="{_n(self.width - self.right)}" y1="{base}" y2="{base}"/>'
        )
        return parts


def _svg(chart_id: str, title: str, description: str, frame: _Frame, parts: list[str]) -> str:
    return (
        f'<svg class="chart-image" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(frame.width)} '
        f'{_n(frame.height)}" width="{_n(frame.width)}" height="{_n(frame.height)}" role="img" '
        f'aria-labelledby="{chart_id}-title" aria-describedby="{chart_id}-desc">'
        f'<title id="{chart_id}-title">{_text(title)}</title><desc id="{chart_id}-desc">{_text(description)}</desc>'
        f"{''.join(parts)}</svg>"
    )


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The values as a visually hidden table; ``rows`` are escaped already, their first cell the row's header.

    In a block of its own: a table is as wide as its cells whatever its own width, and hides nothing it overflows.
    """
    head = "".join(f'<th scope="col">{_text(name)}</th>' for name in header)
    body = (
        "".join(
            f'<tr><th scope="row">{row[0]}</th>{"".join(f"<td>{cell}</td>" for cell in row[1:])}</tr>' for row in rows
        )
        or f'<tr><td colspan="{len(header)}">No values.</td></tr>'
    )
    return (
        f'<div class="chart-data"><table><caption>{_text(title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _legend(entries: Sequence[tuple[str, str]]) -> str:
    items = "".join(
        f'<li><span class="swatch {css_class}" aria-hidden="true"></span> {_text(name)}</li>'
        for css_class, name in entries
    )
    return f'<ul class="chart-legend">{items}</ul>'


def _note(frame: _Frame, text: str) -> str:
    """A line in the middle of the plot saying why it is empty ("" draws nothing)."""
    if not text:
        return ""
    return (
        f'<text class="note" x="{_n(frame.left + frame.plot_width / 2)}" y="{_n(frame.top + frame.plot_height / 2)}" '
        f'text-anchor="middle">{_text(text)}</text>'
    )


def _edge_label(frame: _Frame, x: float, anchor: str, text: str) -> str:
    return f'<text class="label" x="{_n(x)}" y="{_n(frame.height - 6)}" text-anchor="{anchor}">{_text(text)}</text>'


def _series_class(position: int) -> str:
    return f"series-{position % SERIES_COLOURS}"


def _value_range(values: Sequence[float], *, round_up: bool = True) -> tuple[float, float]:
    """From zero, or the lowest value if negative, to the highest (rounded up to a round number)."""
    low, high = min([0.0, *values]), max([0.0, *values])
    if round_up:
        high = _nice_ceiling(high) if high > 0 else high
        low = -_nice_ceiling(-low) if low < 0 else low
    return (low, high) if high > low else (low, low + 1.0)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 and 5 times a power of ten at or above ``value`` (1 for zero): a scale's top."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(round(step * power, 12) for step in (1, 2, 2.5, 5, 10) if round(step * power, 12) >= value)


def _position(x: Any) -> float:
    if isinstance(x, datetime):
        return x.timestamp()
    if isinstance(x, date):
        return float(x.toordinal())
    return float(x)


def _check_id(chart_id: str) -> None:
    if not _CHART_ID.match(chart_id):
        raise ValueError(f"chart id {chart_id!r}: a letter, then letters, digits, '-' or '_'")


def _check_values(values: Sequence[float], *, at_least_zero: bool) -> None:
    for value in values:
        if not math.isfinite(value):
            raise ValueError(f"a value to chart is not a finite number: {value!r}")
        if at_least_zero and value < 0:
            raise ValueError(f"a bar's value is below zero: {value!r}")


def _points(coordinates: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in coordinates)


def _n(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(value: object) -> str:
    return escape(str(value), quote=True)
