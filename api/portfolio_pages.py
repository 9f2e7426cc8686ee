"""The portfolio report page (/reports, Chinese first, `?lang=en`) and its two charts — the
five tiers by balance with the NPL ratio, and the roll rates month over month — SVGs drawn with
presentation attributes only (pages allow no inline style), embedded in the page or served on
their own (api/svg.py). The figures come from the same call as the API's
(api/routes/report_portfolio)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, templates
from api.i18n import language
from api.i18n_portfolio import labels
from api.pages import render
from api.routes.report_portfolio import ReportDep
from api.svg import data_image, svg_response
from reports.portfolio import PortfolioReport
from reports.scope import report_scope

router = APIRouter(include_in_schema=False, route_class=OneHopRoute)
TIER_COLOURS = ["#2f855a", "#b7791f", "#dd6b20", "#c53030", "#742a2a"]
LINE_COLOURS = ["#2b6cb0", "#2f855a", "#b7791f", "#dd6b20", "#c53030", "#742a2a"]


def pct(value: object) -> str:
    return "–" if value is None else f"{float(str(value)) * 100:.2f}%"


@router.get("/reports", response_class=HTMLResponse)
def portfolio_page(
    request: Request, report: ReportDep, clock: ClockDep, actor: ActorDep
) -> Response:
    lang = language(request)
    return render(
        request,
        "portfolio_report.html.j2",
        {
            "r": report,
            "L": labels(lang),
            "pct": pct,
            "actor": actor,
            "today": clock.today(),
            "scope": report_scope(actor),
            "tiers_src": data_image(tiers_svg(report, lang)),
            "roll_src": data_image(roll_svg(report, lang)),
        },
    )


BAR = 420  # px for 100 %


def tier_bars(r: PortfolioReport, lang: str) -> list[dict[str, object]]:
    L = labels(lang)
    return [
        {
            "y": 50 + i * 30,
            "label": L.get(t.risk_class, t.risk_class),
            "width": round(float(t.balance_share or 0) * BAR, 1),
            "fill": TIER_COLOURS[i % len(TIER_COLOURS)],
            "text": f"{pct(t.balance_share)}  {t.count} · ¥{t.balance_cents / 100:,.0f}",
        }
        for i, t in enumerate(r.tiers)
    ]


def tiers_svg(report: PortfolioReport, lang: str) -> str:
    return templates.get_template("portfolio_tiers.svg.j2").render(
        rows=tier_bars(report, lang), L=labels(lang), on=report.on, npl=pct(report.npl_ratio),
        height=70 + len(report.tiers) * 30, bar_width=BAR,
    )  # fmt: skip


@router.get("/reports/tiers.svg")
def tiers_chart(request: Request, report: ReportDep) -> Response:
    return svg_response(tiers_svg(report, language(request)))


PLOT_X, PLOT_Y, PLOT_W, PLOT_H = 60, 50, 560, 220


def roll_lines(r: PortfolioReport) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """One polyline per bucket (its balance roll rate per period), and the x-axis ticks."""
    n = len(r.roll)
    step = PLOT_W / max(n - 1, 1)
    ticks = [{"x": round(PLOT_X + i * step, 1), "text": p.end.strftime("%y-%m")}
             for i, p in enumerate(r.roll)]  # fmt: skip
    lines = []
    buckets = [c.bucket for c in r.roll[0].cells] if r.roll else []
    for k, bucket in enumerate(buckets):
        points = [
            (round(PLOT_X + i * step, 1), round(PLOT_Y + PLOT_H * (1 - float(c.balance_rate)), 1))
            for i, p in enumerate(r.roll)
            for c in p.cells
            if c.bucket == bucket and c.balance_rate is not None
        ]
        if points:
            lines.append({
                "name": f"{bucket}→{r.roll[0].cells[k].next_bucket}",
                "colour": LINE_COLOURS[k % len(LINE_COLOURS)],
                "points": " ".join(f"{x},{y}" for x, y in points),
                "dots": points,
                "legend_y": PLOT_Y + 14 + k * 18,
            })  # fmt: skip
    return lines, ticks


def roll_svg(report: PortfolioReport, lang: str) -> str:
    lines, ticks = roll_lines(report)
    return templates.get_template("portfolio_roll.svg.j2").render(
        lines=lines, ticks=ticks, L=labels(lang), on=report.on,
        x0=PLOT_X, y0=PLOT_Y, w=PLOT_W, h=PLOT_H,
    )  # fmt: skip


@router.get("/reports/roll.svg")
def roll_chart(request: Request, report: ReportDep) -> Response:
    return svg_response(roll_svg(report, language(request)))
