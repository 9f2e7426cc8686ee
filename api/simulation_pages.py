"""The simulation page (/reports/simulation, Chinese first, `?lang=en`): a simulated year as a
credit officer reads it — the NPL ratio month by month (a server-drawn SVG), the five tiers at
each month end, roll rates, late inspections per branch, approval chains, escalations, ladders,
and every check that must hold. Figures from the run's record (api/routes/report_simulation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import ActorDep
from api.deps import OneHopRoute, SessionDep, templates
from api.i18n import REQUEST_KINDS, REQUEST_STATES, in_language, language, lookup
from api.pages import render
from api.routes.report_simulation import RunId, load_run, public, require_whole_bank
from api.svg import data_image

router = APIRouter(include_in_schema=False, route_class=OneHopRoute)
CLASSES = ("pass", "special_mention", "substandard", "doubtful", "loss")

LABELS: dict[str, tuple[str, str]] = {
    "title": ("模拟运行报告", "Simulation report"),
    "run": ("模拟编号", "Run"),
    "params": ("参数", "Parameters"),
    "loans": ("贷款笔数", "Loans"),
    "from": ("起始日", "From"),
    "days": ("天数", "Days"),
    "seed": ("随机种子", "Seed"),
    "reached": ("已模拟至", "Simulated to"),
    "finished": ("已完成", "Finished"),
    "unfinished": (
        "未完成，可用 postloan simulate --resume 继续",
        "Not finished: resume with postloan simulate --resume",
    ),
    "seconds": ("用时（秒）", "Time (s)"),
    "npl_chart": ("月末不良贷款率", "NPL ratio at month ends"),
    "tiers": ("月末五级分类（笔数）", "Five tiers at month ends (count)"),
    "month_end": ("月末", "Month end"),
    "pass": ("正常", "Pass"),
    "special_mention": ("关注", "Special mention"),
    "substandard": ("次级", "Substandard"),
    "doubtful": ("可疑", "Doubtful"),
    "loss": ("损失", "Loss"),
    "npl_ratio": ("不良率", "NPL ratio"),
    "bad_debt": ("预期损失", "Expected bad debt"),
    "roll": ("迁徙率（笔数，迁入下一档或更差）", "Roll rates (count, to the next bucket or worse)"),
    "period": ("期间", "Period"),
    "late": ("检查逾期（按登记日期考核）", "Late inspections (assessed on the registration date)"),
    "branch": ("机构", "Branch"),
    "due": ("应完成", "Due"),
    "on_time": ("按时完成", "On time"),
    "done_late": ("逾期完成", "Done late"),
    "open_late": ("逾期未完成", "Open, late"),
    "late_rate": ("逾期率", "Late rate"),
    "chains": ("审批链", "Approval chains"),
    "kind": ("申请类型", "Request"),
    "filed": ("提交", "Filed"),
    "decided": ("已决", "Decided"),
    "outcomes": ("结果", "Outcomes"),
    "days_p50": ("用时中位数（天）", "Days, median"),
    "days_p95": ("用时 P95（天）", "Days, p95"),
    "escalations": ("超时升级", "SLA escalations"),
    "ladders": ("催收梯度", "Collection ladders"),
    "bots": ("机器人完成的任务", "Tasks the bots completed"),
    "checks": ("每日检查", "Checks on every day"),
    "all_held": (
        "全部通过：月末无贷款优于监管底线；应开检查均已开立；逾期登记均被标记；日志验证通过；回放等于存储状态",
        "All held: no loan better than its floor at a month end; every inspection due opened; every late one flagged; the journal verifies; replay equals the stored state",
    ),  # fmt: skip
    "failed": ("未通过", "Failed"),
    "none": ("暂无数据", "No data yet"),
    "step_1": ("提醒经办人", "reminded"),
    "step_2": ("移交机构负责人", "to the unit's head"),
    "step_3": ("上报上一级", "one level up"),
    "cases": ("催收案件", "cases"),
    "closed": ("已结案", "closed"),
    "reached_legal": ("进入法律诉讼", "reached legal action"),
    "assigned by a head": ("负责人分派", "assigned by a head"),
    "late_completions": ("其中逾期完成", "of them done late"),
}


def _ladder_steps() -> dict[str, tuple[str, str]]:
    from cases.ladder import ladder

    return {f"ladder_step_{step.number}": (step.name_zh, step.name_en) for step in ladder()}


def _pct(value: Any) -> str:
    return "–" if value is None else f"{float(value):.2f}%"


def npl_svg(months: list[dict[str, Any]], lang: str) -> str:
    top = max([m["npl_ratio_pct"] or 0 for m in months] + [1.0])
    points = [
        {"x": 60 + i * 48, "y": round(200 - (m["npl_ratio_pct"] or 0) / top * 160, 1),
         "label": m["on"][:7], "text": _pct(m["npl_ratio_pct"])}
        for i, m in enumerate(months)
    ]  # fmt: skip
    return templates.get_template("simulation_npl.svg.j2").render(
        points=points,
        width=100 + max(len(points), 1) * 48,
        title=in_language(LABELS, lang)["npl_chart"],
    )


def namer(lang: str):  # type: ignore[no-untyped-def]
    """A figure's key as the reader's language names it: request kinds and states, SLA steps,
    ladder steps, task kinds (their form's title)."""
    from forms import FORMS

    words = {**LABELS, **_ladder_steps(), **REQUEST_KINDS, **REQUEST_STATES}
    words |= {k: (f.title_zh, f.title_en) for k, f in FORMS.items()}

    def name(key: object) -> str:
        key = str(key)
        if key.startswith("step_"):  # a ladder step in the ladders' figures
            key = f"ladder_{key}"
        return lookup(words, key, lang) if key in words else key

    return name


@router.get("/reports/simulation", response_class=HTMLResponse)
def simulation_page(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    run: RunId = None,
) -> Response:
    require_whole_bank(actor)
    record = public(load_run(session, run))
    lang = language(request)
    return render(
        request,
        "simulation_report.html.j2",
        {
            "r": record,
            "L": in_language(LABELS, lang),
            "classes": CLASSES,
            "pct": _pct,
            "yuan": lambda cents: f"{cents / 100:,.2f}",
            "actor": actor,
            "name": namer(lang),
            "chart_src": data_image(npl_svg(record.months, lang)) if record.months else None,
        },
    )
