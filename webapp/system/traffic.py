"""The request statistics as the system page shows them: totals per month, and
per route in one month, each drawn as a bar chart (webapp/system/svg_charts.py).

Worked out from `stats.routes_stats` of luna_sys_info, already loaded for the
page, so the charts cost no query of their own. An "error" is an answer that
carried an error code (the same errors luna_sys_info counts by code).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from webapp.system.svg_charts import Series, bar_chart

MONTHS_SHOWN = 12
ROUTES_CHARTED = 20
"""The busiest routes of the month get a bar; the table below lists them all."""


@dataclass
class Total:
    label: str
    """A month ('2026-11') or a route ('GET:/4/accounts')."""
    requests: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    error_codes: dict[str, int] = field(default_factory=dict)


def _add(total: Total, item: dict[str, Any]) -> None:
    for stat in item["request_stats"]:
        total.requests += stat["count"]
        total.statuses[stat["status_code"]] = (
            total.statuses.get(stat["status_code"], 0) + stat["count"]
        )
    for error in item["errors"]:
        total.errors += error["count"]
        total.error_codes[error["error_code"]] = (
            total.error_codes.get(error["error_code"], 0) + error["count"]
        )


def per_month(routes_stats: Sequence[dict[str, Any]]) -> list[Total]:
    """The last MONTHS_SHOWN months that have requests, oldest first."""
    months: dict[str, Total] = {}
    for item in routes_stats:
        _add(months.setdefault(item["month"], Total(item["month"])), item)
    return sorted(months.values(), key=lambda total: total.label)[-MONTHS_SHOWN:]


def per_route(routes_stats: Sequence[dict[str, Any]], month: str) -> list[Total]:
    """Every route requested in `month`, the busiest first."""
    routes: dict[str, Total] = {}
    for item in routes_stats:
        if item["month"] == month:
            _add(routes.setdefault(item["route"], Total(item["route"])), item)
    return sorted(routes.values(), key=lambda total: (-total.requests, total.label))


def _series(totals: Sequence[Total]) -> list[Series]:
    return [
        Series("requests", "bar-requests", [total.requests for total in totals]),
        Series("errors", "bar-errors", [total.errors for total in totals]),
    ]


def _summary(totals: Sequence[Total]) -> str:
    return "; ".join(f"{t.label}: {t.requests:,} requests, {t.errors:,} errors" for t in totals)


def month_chart(months: Sequence[Total]) -> Markup:
    return bar_chart(
        chart_id="chart-months",
        title="Requests and errors per month",
        description=(
            "Requests answered and those answered with an error code, per month (UTC). "
            + (_summary(months) or "No requests recorded yet.")
        ),
        labels=[total.label for total in months],
        series=_series(months),
    )


def route_chart(routes: Sequence[Total], month: str) -> Markup:
    charted = list(routes[:ROUTES_CHARTED])
    return bar_chart(
        chart_id="chart-routes",
        title=f"Requests and errors per route in {month}",
        description=(
            f"The {len(charted)} busiest routes of {month}: requests answered and those "
            "answered with an error code. "
            + (_summary(charted) or "No requests recorded in this month.")
        ),
        labels=[total.label for total in charted],
        series=_series(charted),
    )
