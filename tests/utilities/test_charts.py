"""utilities.charts: SVG charts that escape every text, draw what they are given and say it in text too."""

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template

from utilities.charts import Series, bar_chart, line_chart, number, sparkline

SVG = "{http://www.w3.org/2000/svg}"
NASTY = "<script>alert('x')</script> & \"quoted\""


def parsed(markup: str) -> ET.Element:
    """The chart as XML: it must be well formed (every tag closed, every attribute quoted)."""
    return ET.fromstring(markup)


def bars(figure: ET.Element) -> list[ET.Element]:
    return [rect for rect in figure.iter(f"{SVG}rect") if rect.get("class", "").split()[0] == "bar"]


def hidden_table(figure: ET.Element) -> list[list[str]]:
    """The rows of the visually hidden table, header first, each cell's text."""
    table = next(element for element in figure.iter("div") if element.get("class") == "chart-data").find("table")
    return [["".join(cell.itertext()) for cell in row] for row in table.iter("tr")]


def days_chart(values, **options):
    return bar_chart(
        chart_id="per-day",
        title="Signals per day",
        description="One bar per day: the signals generated that day.",
        categories=["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"][: len(values)],
        series=[Series("Polymarket", values)],
        category_name="day",
        **options,
    )


def test_every_text_is_escaped_and_nothing_runs_or_is_styled_inline():
    markup = bar_chart(
        chart_id="nasty",
        title=NASTY,
        description=NASTY,
        categories=[NASTY],
        series=[Series(NASTY, [3]), Series("other", [1])],
        category_name=NASTY,
        value_format=lambda value: f"{value} {NASTY}",
    )
    line = line_chart(
        chart_id="nasty-line",
        title=NASTY,
        description=NASTY,
        points=[(1, 2.0)],
        x_format=lambda x: NASTY,
        marked=0,
        mark_label=NASTY,
    )
    spark = sparkline(chart_id="nasty-spark", title=NASTY, values=[1, 2], labels=[NASTY, NASTY])

    for chart in (markup, line, spark):
        assert "<script" not in chart and "alert('x')" not in chart
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in chart
        assert "style=" not in chart and "<style" not in chart
        figure = parsed(chart)
        assert figure.find(f"{SVG}svg/{SVG}title").text == NASTY  # escaped once, read back as written


def test_a_chart_is_an_image_named_by_its_title_and_described_by_its_desc():
    figure = parsed(days_chart([1, 2]))
    svg = figure.find(f"{SVG}svg")

    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").get("id") == svg.get("aria-labelledby") == "per-day-title"
    assert svg.find(f"{SVG}desc").get("id") == svg.get("aria-describedby") == "per-day-desc"
    assert svg.find(f"{SVG}desc").text == "One bar per day: the signals generated that day."
    assert figure.get("id") == "per-day"


def test_the_text_fallback_lists_every_value_under_the_title():
    figure = parsed(
        bar_chart(
            chart_id="two",
            title="Signals per day",
            description="Columns of days.",
            categories=["2026-11-01", "2026-11-02"],
            series=[Series("Polymarket", [1200, 0]), Series("Open-Meteo", [3, 4])],
            category_name="day",
            stacked=True,
        )
    )

    assert figure.find("div/table/caption").text == "Signals per day"
    assert hidden_table(figure) == [
        ["day", "Polymarket", "Open-Meteo"],
        ["2026-11-01", "1,200", "3"],
        ["2026-11-02", "0", "4"],
    ]
    assert ["".join(item.itertext()).strip() for item in figure.iter("li")] == [
        "Polymarket",
        "Open-Meteo",
    ]  # the legend


def test_a_bar_for_each_value_above_zero_its_height_in_proportion():
    figure = parsed(days_chart([4, 0, 1, 2]))

    drawn = bars(figure)
    heights = [float(rect.get("height")) for rect in drawn]
    assert len(drawn) == 3
    assert [rect.find(f"{SVG}title").text for rect in drawn] == [
        "2026-11-01, Polymarket: 4",
        "2026-11-03, Polymarket: 1",
        "2026-11-04, Polymarket: 2",
    ]
    assert heights[0] > heights[2] > heights[1] > 0
    assert heights[0] == pytest.approx(2 * heights[2], abs=0.02) == pytest.approx(4 * heights[1], abs=0.02)
    # Every bar stands on the same baseline.
    assert len({round(float(rect.get("y")) + float(rect.get("height")), 1) for rect in drawn}) == 1


def test_stacked_bars_share_their_column_and_grouped_ones_stand_side_by_side():
    options = dict(chart_id="c", title="t", description="d", categories=["a", "b"])
    series = [Series("one", [1, 2]), Series("two", [3, 4])]

    stacked = bars(parsed(bar_chart(**options, series=series, stacked=True)))
    grouped = bars(parsed(bar_chart(**options, series=series)))

    assert len(stacked) == len(grouped) == 4
    first_column = [rect for rect in stacked if rect.find(f"{SVG}title").text.startswith("a,")]
    assert len({rect.get("x") for rect in first_column}) == 1
    lower, upper = first_column
    assert float(upper.get("y")) + float(upper.get("height")) == pytest.approx(float(lower.get("y")), abs=0.02)
    assert len({rect.get("x") for rect in grouped}) == 4
    assert [rect.get("class") for rect in grouped] == ["bar series-0", "bar series-1"] * 2


def test_all_zero_data_draws_no_bar_and_says_so():
    chart = days_chart([0, 0, 0])
    figure = parsed(chart)

    assert bars(figure) == []
    assert "All values are zero" in chart
    assert hidden_table(figure)[1:] == [["2026-11-01", "0"], ["2026-11-02", "0"], ["2026-11-03", "0"]]


def test_no_category_draws_an_empty_chart_that_says_so():
    figure = parsed(days_chart([]))

    assert bars(figure) == []
    assert "No data" in "".join(figure.itertext())
    assert hidden_table(figure)[1:] == [["No values."]]


@pytest.mark.parametrize(
    "options",
    [
        {"chart_id": "has space"},
        {"chart_id": '"><script>'},
        {"series": [Series("s", [1, -1])]},
        {"series": [Series("s", [1, math.nan])]},
        {"series": [Series("s", [1])]},
        {"axis_labels": ["only one"]},
    ],
)
def test_what_cannot_be_drawn_is_refused(options):
    arguments = dict(chart_id="c", title="t", description="d", categories=["a", "b"], series=[Series("s", [1, 2])])
    with pytest.raises(ValueError):
        bar_chart(**arguments | options)


def test_a_template_inserts_a_chart_as_it_is():
    chart = days_chart([1])

    assert Template("{{ chart }}").render(Context({"chart": chart})) == chart


# --------------------------------------------------------------------------- the line chart

START = datetime(2026, 11, 1, tzinfo=UTC)


def probability_line(points, **options):
    return line_chart(
        chart_id="history",
        title="Probability of the market",
        description="Its probability at each observation.",
        points=points,
        x_format=lambda moment: f"{moment:%Y-%m-%d %H:%M}",
        x_name="observed",
        y_name="probability",
        y_range=(0, 1),
        **options,
    )


def test_no_point_draws_an_empty_chart_that_says_so():
    chart = probability_line([])
    figure = parsed(chart)

    assert figure.find(f".//{SVG}polyline") is None and figure.find(f".//{SVG}circle") is None
    assert "No data" in chart
    assert hidden_table(figure) == [["observed", "probability"], ["No values."]]


def test_one_point_is_a_dot():
    figure = parsed(probability_line([(START, 0.4)]))

    assert figure.find(f".//{SVG}polyline") is None
    assert figure.find(f".//{SVG}circle").get("class") == "point"
    assert hidden_table(figure)[1:] == [["2026-11-01 00:00", "0.4"]]


def test_many_points_are_one_line_placed_by_time_and_scaled_to_the_range():
    points = [(START, 0.0), (START + timedelta(hours=1), 1.0), (START + timedelta(hours=3), 0.5)]
    figure = parsed(probability_line(points))

    coordinates = [
        tuple(map(float, pair.split(","))) for pair in figure.find(f".//{SVG}polyline").get("points").split()
    ]
    (x0, y0), (x1, y1), (x3, y3) = coordinates
    assert x1 - x0 == pytest.approx((x3 - x0) / 3, abs=0.02)  # an hour of three
    assert y0 > y3 > y1  # 0 at the bottom, 1 at the top
    assert y3 == pytest.approx((y0 + y1) / 2, abs=0.02)
    assert hidden_table(figure)[1:] == [
        ["2026-11-01 00:00", "0"],
        ["2026-11-01 01:00", "1"],
        ["2026-11-01 03:00", "0.5"],
    ]


def test_a_marked_point_is_drawn_named_and_listed():
    points = [(START + timedelta(hours=hour), 0.1 * hour) for hour in range(5)]
    chart = probability_line(points, marked=3, mark_label="the signal")
    figure = parsed(chart)

    mark = next(circle for circle in figure.iter(f"{SVG}circle") if circle.get("class") == "mark")
    line = [tuple(map(float, pair.split(","))) for pair in figure.find(f".//{SVG}polyline").get("points").split()]
    assert (float(mark.get("cx")), float(mark.get("cy"))) == line[3]
    assert mark.find(f"{SVG}title").text == "the signal: 2026-11-01 03:00, 0.3"
    assert "the signal: 2026-11-01 03:00, 0.3" in "".join(figure.find("p").itertext())
    rows = hidden_table(figure)
    assert rows[0] == ["observed", "probability", "note"]
    assert [row[2] for row in rows[1:]] == ["", "", "", "the signal", ""]


@pytest.mark.parametrize(
    ("points", "options"),
    [
        ([(START + timedelta(hours=1), 0.1), (START, 0.2)], {}),  # out of order
        ([(START, 0.1)], {"marked": 1}),  # a mark past the points
        ([(START, 1.5)], {}),  # outside the scale of 0 to 1
    ],
)
def test_a_line_refuses_what_it_cannot_draw(points, options):
    with pytest.raises(ValueError):
        probability_line(points, **options)


def test_without_a_range_the_scale_runs_from_zero_to_a_round_number():
    figure = parsed(line_chart(chart_id="n", title="t", description="d", points=[(1, 3.0), (2, 7.0)]))

    labels = [text.text for text in figure.iter(f"{SVG}text") if text.get("text-anchor") == "end"]
    assert labels[:3] == ["0", "5", "10"]


# --------------------------------------------------------------------------- the sparkline


def test_a_sparkline_is_a_line_summed_up_in_its_desc_and_listed_in_full():
    figure = parsed(sparkline(chart_id="s", title="Polymarket per day", values=[0, 5, 2], labels=["d1", "d2", "d3"]))

    svg = figure.find(f"{SVG}svg")
    assert svg.get("role") == "img" and svg.find(f"{SVG}title").text == "Polymarket per day"
    assert svg.find(f"{SVG}desc").text == "3 values: lowest 0, highest 5, last 2."
    assert len(svg.find(f"{SVG}polyline").get("points").split()) == 3
    listed = figure.find("ul")
    assert listed.get("class") == "chart-data" and listed.get("aria-label") == "Polymarket per day"
    assert [item.text for item in listed] == ["d1: 0", "d2: 5", "d3: 2"]


@pytest.mark.parametrize(
    ("values", "drawn", "listed"),
    [([], None, ["No values."]), ([7], "circle", ["7"]), ([0, 0, 0], "polyline", ["0", "0", "0"])],
)
def test_a_sparkline_of_no_one_or_only_zero_values(values, drawn, listed):
    figure = parsed(sparkline(chart_id="s", title="t", values=values))

    shapes = [
        element.tag.removeprefix(SVG)
        for element in figure.find(f"{SVG}svg")
        if element.tag not in (f"{SVG}title", f"{SVG}desc")
    ]
    assert shapes == ([drawn] if drawn else [])
    assert [item.text for item in figure.find("ul")] == listed
    if values == [0, 0, 0]:  # a flat line along the bottom
        heights = {pair.split(",")[1] for pair in figure.find(f".//{SVG}polyline").get("points").split()}
        assert heights == {"18"}


def test_numbers_read_as_numbers():
    assert [number(value) for value in (0, 3.0, 1234567, 0.355, 2.5, 1234.5)] == [
        "0",
        "3",
        "1,234,567",
        "0.355",
        "2.5",
        "1,234.5",
    ]


@pytest.mark.parametrize(
    ("values", "labels"), [([5, 1], ["0", "5"]), ([2, 1], ["0", "1", "2"]), ([0.5, 1], ["0", "0.5", "1"])]
)
def test_counts_get_no_grid_line_between_two_counts(values, labels):
    figure = parsed(days_chart(values))

    assert [text.text for text in figure.iter(f"{SVG}text") if text.get("text-anchor") == "end"] == labels
