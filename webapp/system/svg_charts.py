"""Bar charts drawn on the server as inline SVG: no script, nothing from other hosts.

One kind of chart: horizontal bars, one group per label (a month, a route),
the label above its group and one bar per series (requests, errors), every
bar scaled to the largest value. Lengths are percentages of the chart's width
and text has a fixed size, so the chart fills a phone or a wide screen with
text that stays readable (a viewBox would shrink the text with the chart).
Colours come from CSS classes (`.chart .bar-<series>` in static/css/app.css,
built on the theme's variables), so charts follow the light and dark themes.

Accessibility: the <svg> is an image labelled by its <title> and <desc>;
every bar carries a <title> ("GET:/version · requests: 12") that screen readers
and a hovering mouse both get. Pages show the same figures as a table too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

BAR_SPAN = 80.0
"""Percent of the width the longest bar takes; the rest is room for its figure."""
LABEL_HEIGHT = 16
BAR_HEIGHT = 14
BAR_GAP = 2
GROUP_GAP = 10
LEGEND_HEIGHT = 24
LABEL_CHARS = 48
"""Longer labels are cut with an ellipsis; the bar's <title> has them whole."""


@dataclass(frozen=True)
class Series:
    name: str
    """Shown in the legend and in each bar's title ("requests")."""
    css_class: str
    """The class that colours its bars ("bar-requests")."""
    values: Sequence[int]
    """One per label, not negative."""


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def bar_chart(
    *, chart_id: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series]
) -> Markup:
    """An <svg> of horizontal grouped bars; `chart_id` makes its element ids unique
    on the page (it is also its data-testid)."""
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(labels)}")
        if any(value < 0 for value in one.values):
            raise ValueError(f"series {one.name!r} has a negative value")
    cid = escape(chart_id)
    group_height = LABEL_HEIGHT + len(series) * (BAR_HEIGHT + BAR_GAP) + GROUP_GAP
    height = LEGEND_HEIGHT + max(len(labels), 1) * group_height
    largest = max((value for one in series for value in one.values), default=0)

    parts = [
        f'<svg class="chart" role="img" data-testid="{cid}" aria-labelledby="{cid}-title '
        f'{cid}-desc" width="100%" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(description)}</desc>',
        *_legend(series),
    ]
    if not labels:
        parts.append(
            f'<text class="empty" x="0" y="{LEGEND_HEIGHT + LABEL_HEIGHT}">'
            "No requests recorded yet</text>"
        )
    for row, label in enumerate(labels):
        top = LEGEND_HEIGHT + row * group_height
        parts.append(
            f'<text class="label" x="0" y="{top + LABEL_HEIGHT - 4}">{escape(_short(label))}</text>'
        )
        for index, one in enumerate(series):
            value = one.values[row]
            length = 0.0 if largest == 0 else BAR_SPAN * value / largest
            if value and length < 0.5:
                length = 0.5  # a small figure stays visible beside a huge one
            y = top + LABEL_HEIGHT + index * (BAR_HEIGHT + BAR_GAP)
            parts.append(
                f'<rect class="bar {escape(one.css_class)}" x="0" y="{y}" width="{length:.2f}%" '
                f'height="{BAR_HEIGHT}" data-testid="{cid}-bar" data-label="{escape(label)}" '
                f'data-series="{escape(one.name)}" data-value="{value}"><title>{escape(label)} · '
                f"{escape(one.name)}: {value:,}</title></rect>"
            )
            parts.append(
                f'<text class="value" x="{length + 1:.2f}%" y="{y + BAR_HEIGHT - 3}">'
                f"{value:,}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend(series: Sequence[Series]) -> list[str]:
    parts = ['<g class="legend" aria-hidden="true">']
    x = 0
    for one in series:
        parts.append(
            f'<rect class="bar {escape(one.css_class)}" x="{x}" y="4" width="12" height="12"/>'
        )
        parts.append(f'<text x="{x + 16}" y="14">{escape(one.name)}</text>')
        x += 28 + 8 * len(one.name)
    parts.append("</g>")
    return parts
