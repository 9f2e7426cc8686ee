"""The portfolio report page's and charts' labels, Chinese first (`?lang=en` for English)."""

from __future__ import annotations

from api.i18n import in_language
from statemachines.enums import LoanState, RiskClass

PORTFOLIO_LABELS: dict[str, tuple[str, str]] = {
    "title": ("资产质量报表", "Portfolio report"),
    "on": ("报表日期", "Report date"),
    "since": ("迁徙起始日", "Migration from"),
    "scope": ("范围", "Scope"),
    "whole_bank": ("全行", "the whole bank"),
    "data_source": ("数据来源", "Source"),
    "from_summary": ("日终汇总，生成于 ", "the end-of-day book summary, built "),
    "live": (
        "实时计算（该日尚无日终汇总，或汇总后有补录数据）",
        "computed now (the day has no end-of-day summary, or data for it arrived after)",
    ),
    "colon": ("：", ": "),
    "comma": ("、", ", "),
    "stop": ("。", ". "),
    "show": ("查看", "Show"),
    "csv": ("下载 CSV", "Download CSV"),
    "xlsx": ("下载 Excel", "Download Excel"),
    "operations": ("贷后作业报表", "Operations report"),
    "student_loans": ("助学贷款报表", "Student-loan report"),
    "tiers": ("五级分类", "Five-tier classification"),
    "class": ("分类", "Class"),
    "count": ("笔数", "Count"),
    "balance": ("余额（元）", "Balance (CNY)"),
    "count_share": ("笔数占比", "Share of count"),
    "balance_share": ("余额占比", "Share of balance"),
    "total": ("合计", "Total"),
    "npl": ("不良贷款", "Non-performing"),
    "npl_ratio": ("不良贷款率", "NPL ratio"),
    "tiers_chart": ("五级分类余额分布", "Balance by risk class"),
    "overdue": ("逾期矩阵（逾期档 × 产品）", "Overdue matrix (bucket × product)"),
    "bucket": ("逾期档", "Bucket"),
    "roll": ("迁徙率（逐月）", "Roll rates, month over month"),
    "roll_chart": ("余额迁徙率", "Roll rate by balance"),
    "period": ("期间", "Period"),
    "roll_note": (
        "期初处于该逾期档的贷款，期末进入下一档或更差档的比例（按期初余额）。",
        "Share of the loans in a bucket at the start that were in the next bucket or worse at "
        "the end (by their balance at the start).",
    ),
    "bad_debt": ("坏账预估 M = Σ Mi·Pi", "Expected bad debt M = Σ Mi·Pi"),
    "mi": ("Mi 逾期余额（元）", "Mi balance (CNY)"),
    "bad": ("成为坏账", "Became bad debt"),
    "cured": ("已回收", "Cured"),
    "unresolved": ("未结", "Unresolved"),
    "pi": ("Pi", "Pi"),
    "source": ("Pi 来源", "Pi from"),
    "history": ("本行历史", "the book's history"),
    "configured": ("配置值（历史样本不足）", "configured (too little history)"),
    "expected": ("预估坏账（元）", "Expected (CNY)"),
    "bad_debt_note": (
        "Pi：历史上进入该逾期档、且截至报表日已有结果的贷款中，最终核销或列为损失的比例；"
        "仍在逾期中的贷款不计入。",
        "Pi: of the loans ever in the bucket whose outcome is known by the report date, the "
        "share written off or classified loss; loans still in arrears are not counted.",
    ),
    "migration": ("五级分类迁徙矩阵", "Classification migration matrix"),
    "migration_note": (
        "行：起始日的分类；列：报表日的分类或已结清/核销；笔数，括号内为起始日余额。"
        "起始日后发放的贷款不在其中。",
        "Rows: class on the start date; columns: class on the report date, or settled / written "
        "off; count, with the balance on the start date in brackets. Loans booked after the "
        "start are not in it.",
    ),
    "downgrade_rate": ("下迁率", "Downgrade rate"),
    "none": ("无数据", "No data"),
    "asof_note": (
        "所有数字均为报表日当日终了时的状态：分类与状态取自流水回放，逾期档取自当日批处理记录，"
        "余额按起息日计算。",
        "Every figure is as at the end of the report date: class and state from the journal, "
        "the bucket from that day's sweep, balances by value date.",
    ),
}
PORTFOLIO_LABELS |= {c.value: (c.label_zh, c.value.replace("_", " ")) for c in RiskClass}
PORTFOLIO_LABELS |= {
    s.value: (s.label_zh, s.value.replace("_", " "))
    for s in (LoanState.settled, LoanState.written_off)
}


def labels(lang: str) -> dict[str, str]:
    return in_language(PORTFOLIO_LABELS, lang)
