"""The operator's dashboard: a few of the event store's reports (store/reports.py, through
ReturnsClient.report as the API's /v1/reports) drawn as server-rendered SVG bar charts, each with
its figures as a table and its CSV download, over a chosen range of days."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi.responses import HTMLResponse, Response

from api.auth import Role
from console.desk import Desk, admits, pages
from starter.errors import InvalidReturnInput
from store.reports import Report, ReportName
from web.formats import money
from web.session import secure_page

BAR_WIDTH = 260  # px of the longest bar
TOP_SKUS = 12  # a shop has thousands: the chart shows those returned most (the CSV has every one)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # what the bar's length shows
    shown: str  # the figure written beside it

    def width(self, longest: float) -> int:
        return round(BAR_WIDTH * self.value / longest) if longest > 0 else 0


@dataclass(frozen=True)
class Chart:
    report: ReportName
    title: str
    bars: Callable[[Report], list[Bar]]


def _duration(seconds: Any) -> str:
    """Seconds in the unit that reads best: 42 s, 12 min, 5.5 h, 3.2 d."""
    seconds = float(seconds or 0)
    for unit, size, below in (("s", 1, 120), ("min", 60, 7_200), ("h", 3_600, 172_800)):
        if seconds < below:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds / 86_400:.2g} d"


def _rated(report: Report) -> list[dict[str, Any]]:
    """A return-rate report's rows that have a rate (something was sold)."""
    return [row for row in report.rows if row["return_rate"] is not None]


def _rate_bars(key: str, rows: list[dict[str, Any]]) -> list[Bar]:
    """A bar per row of a return-rate report, named by `key` (category, month, SKU) and currency."""
    return [
        Bar(
            f"{row[key]} ({row['currency']})",
            row["return_rate"],
            f"{row['return_rate']:.1%} · {row['units_returned']} of {row['units_sold']}",
        )
        for row in rows
    ]


CHARTS = (
    Chart(
        ReportName.returns_by_reason,
        "Units returned by reason",
        lambda report: [
            Bar(f"{row['reason']} ({row['currency']})", row["units"] or 0, str(row["units"] or 0))
            for row in report.rows
        ],
    ),
    Chart(
        ReportName.return_rate_by_category,
        "Return rate by category (units returned of units sold)",
        lambda report: _rate_bars("category", _rated(report)),
    ),
    Chart(
        ReportName.return_rate_by_month,
        "Return rate by month (units returned of units sold)",
        lambda report: _rate_bars("month", _rated(report)),
    ),
    Chart(
        ReportName.return_rate_by_sku,
        f"Return rate of the {TOP_SKUS} SKUs returned most (units returned of units sold)",
        lambda report: _rate_bars(
            "sku", sorted(_rated(report), key=lambda row: (-row["units_returned"], row["sku"]))[:TOP_SKUS]
        ),
    ),
    Chart(
        ReportName.money,
        "Refunds, credit and retained revenue",
        lambda report: [
            Bar(
                f"{figure.replace('_', ' ')} ({row['currency']})",
                row[figure] or 0,
                money(row[figure] or 0, row["currency"]),
            )
            for row in report.rows
            for figure in ("refunded", "credited", "exchanged", "fees_kept", "retained_revenue")
        ],
    ),
    Chart(
        ReportName.durations,
        "Time per stage (p90; p50 beside it)",
        lambda report: [
            Bar(
                f"{row['metric'].replace('_', ' ')} ({row['method']})",
                float(row["p90_seconds"] or 0),
                f"p90 {_duration(row['p90_seconds'])} · p50 {_duration(row['p50_seconds'])} · {row['returns']} returns",
            )
            for row in report.rows
        ],
    ),
    Chart(
        ReportName.dispositions,
        "Units by disposition",
        lambda report: [
            Bar(
                f"{row['disposition']} ({row['currency']})",
                row["units"],
                f"{row['units']} units · recovers ~{money(row['recovery_estimate'], row['currency'])}",
            )
            for row in report.rows
        ],
    ),
    Chart(
        ReportName.needs_attention_trend,
        "Flagged for attention per day (flags cleared beside it)",
        lambda report: [
            Bar(row["day"], row["flagged"], f"{row['flagged']} flagged · {row['cleared']} cleared")
            for row in report.rows
        ],
    ),
    Chart(
        ReportName.needs_attention,
        "Needing attention now, by failed step",
        lambda report: [
            Bar(f"{row['step'] or 'decision'} · {row['error_type'] or '-'}", row["returns"], str(row["returns"]))
            for row in report.rows
        ],
    ),
)
CHART_BY_REPORT = {chart.report.value: chart for chart in CHARTS}


def _days(desk: Desk) -> tuple[date | None, date | None]:
    """The range the operator chose (both days included); InvalidReturnInput for what isn't a date."""
    chosen = []
    for field in ("from", "to"):
        text = desk.request.query_params.get(field) or None
        try:
            chosen.append(date.fromisoformat(text) if text else None)
        except ValueError as error:
            raise InvalidReturnInput(field, "a day is written YYYY-MM-DD") from error
    return chosen[0], chosen[1]


async def _report(desk: Desk, chart: Chart, start: date | None, end: date | None) -> Report:
    if chart.report is ReportName.needs_attention:  # a snapshot of now, whatever the range
        return await desk.returns.report(chart.report)
    return await desk.returns.report(chart.report, start, end)


@pages.get("/dashboard", response_class=HTMLResponse)
@admits(Role.operator)
async def dashboard(desk: Desk) -> Response:
    try:
        start, end = _days(desk)
        reports = await asyncio.gather(*(_report(desk, chart, start, end) for chart in CHARTS))
    except InvalidReturnInput as error:
        return desk.message(400, "Check the days", f"{error.field}: {error.message}")
    drawn = []
    for chart, report in zip(CHARTS, reports, strict=True):
        bars = chart.bars(report)
        longest = max((bar.value for bar in bars), default=0)
        drawn.append((chart, report, [(bar, bar.width(longest)) for bar in bars]))
    period = next((report.parameters for report in reports if report.parameters.get("start")), {})
    return desk.render("dashboard.html", drawn=drawn, start=start, end=end, period=period)


@pages.get("/dashboard/{name}.csv")
@admits(Role.operator)
async def report_csv(desk: Desk, name: str) -> Response:
    chart = CHART_BY_REPORT.get(name)
    if chart is None:
        return desk.message(404, "No such report", f"The dashboard has no report {name!r}.")
    try:
        start, end = _days(desk)
        report = await _report(desk, chart, start, end)
    except InvalidReturnInput as error:
        return desk.message(400, "Check the days", f"{error.field}: {error.message}")
    disposition = f'attachment; filename="{report.name}.csv"'
    return secure_page(Response(report.to_csv(), media_type="text/csv", headers={"Content-Disposition": disposition}))
