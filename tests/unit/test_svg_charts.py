"""The server-side SVG bar chart: well-formed, labelled for assistive technology,
bars scaled to the largest value, text escaped, bad data refused."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from webapp.system import svg_charts
from webapp.system.svg_charts import Series, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def chart(labels: list[str], *series: Series) -> ET.Element:
    markup = bar_chart(
        chart_id="chart-test",
        title="Requests per month",
        description="Requests answered per month.",
        labels=labels,
        series=list(series),
    )
    return ET.fromstring(str(markup))  # also proves it is well-formed XML


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("data-testid") == "chart-test-bar"]


def test_the_chart_is_an_image_named_by_its_title_and_description() -> None:
    root = chart(["2026-10"], Series("requests", "bar-requests", [3]))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-test-title chart-test-desc"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.get("id") == "chart-test-title"
    assert title.text == "Requests per month"
    assert desc is not None and desc.get("id") == "chart-test-desc"
    assert desc.text == "Requests answered per month."
    assert root.get("data-testid") == "chart-test"


def test_one_bar_per_label_and_series_each_with_its_figure() -> None:
    root = chart(
        ["2026-10", "2026-11"],
        Series("requests", "bar-requests", [40, 10]),
        Series("errors", "bar-errors", [2, 0]),
    )
    found = [(b.get("data-label"), b.get("data-series"), b.get("data-value")) for b in bars(root)]
    assert found == [
        ("2026-10", "requests", "40"),
        ("2026-10", "errors", "2"),
        ("2026-11", "requests", "10"),
        ("2026-11", "errors", "0"),
    ]
    titles = [b.find(f"{SVG}title").text for b in bars(root)]  # type: ignore[union-attr]
    assert titles[0] == "2026-10 · requests: 40"
    assert [b.get("class") for b in bars(root)][:2] == ["bar bar-requests", "bar bar-errors"]


def test_bars_are_scaled_to_the_largest_value() -> None:
    root = chart(["a", "b", "c", "d"], Series("requests", "bar-requests", [1000, 500, 0, 1]))
    # Percentages of the chart's width: the chart fills any screen, text keeps its size.
    widths = [b.get("width") or "" for b in bars(root)]
    assert all(width.endswith("%") for width in widths)
    percents = [float(width[:-1]) for width in widths]
    assert percents[0] == pytest.approx(svg_charts.BAR_SPAN)
    assert percents[1] == pytest.approx(svg_charts.BAR_SPAN / 2)
    assert percents[2] == 0
    assert percents[3] >= 0.5  # a small figure stays visible beside a big one
    assert "viewBox" not in root.attrib
    # Rows do not overlap.
    tops = [float(b.get("y") or "nan") for b in bars(root)]
    assert tops == sorted(tops) and len(set(tops)) == 4


def test_labels_and_names_are_escaped() -> None:
    root = chart(
        ["GET:<unmatched>", 'a"b&c'],
        Series("<script>", "bar-requests", [1, 2]),
    )
    labels = [b.get("data-label") for b in bars(root)]
    assert labels == ["GET:<unmatched>", 'a"b&c']  # parsed back: they were escaped
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "GET:<unmatched>" in texts
    assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))


def test_long_labels_are_cut_in_the_text_and_whole_in_the_title() -> None:
    route = "GET:/4/tasks/{task_id}/notification_policy/and/more/and/more"
    root = chart([route], Series("requests", "bar-requests", [1]))
    label = next(t for t in root.iter(f"{SVG}text") if (t.get("class") or "") == "label")
    assert label.text is not None and label.text.endswith("…")
    assert len(label.text) == svg_charts.LABEL_CHARS
    title = bars(root)[0].find(f"{SVG}title")
    assert title is not None and title.text is not None and route in title.text


def test_no_data_says_so() -> None:
    root = chart([], Series("requests", "bar-requests", []))
    assert bars(root) == []
    assert any(t.text == "No requests recorded yet" for t in root.iter(f"{SVG}text"))


def test_bad_data_is_refused() -> None:
    with pytest.raises(ValueError, match="2 values for 1"):
        chart(["a"], Series("requests", "bar-requests", [1, 2]))
    with pytest.raises(ValueError, match="negative"):
        chart(["a"], Series("requests", "bar-requests", [-1]))


def test_nothing_is_loaded_from_anywhere() -> None:
    markup = str(
        bar_chart(
            chart_id="c",
            title="t",
            description="d",
            labels=["a"],
            series=[Series("requests", "bar-requests", [1])],
        )
    )
    assert "href" not in markup and "<script" not in markup and "style=" not in markup
