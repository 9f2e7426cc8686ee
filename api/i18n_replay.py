"""Labels of the replay pages (the loan's timeline, a re-opened form, the journal across loans):
Chinese first, English with `?lang=en`; merged into api.i18n.LABELS."""

from __future__ import annotations

REPLAY_LABELS: dict[str, tuple[str, str]] = {
    "replay": ("回放", "Replay"),
    "full_replay": ("完整回放（审计）", "Full replay (audit)"),
    "replay_intro": (
        "该贷款及其任务、审批申请、预警与催收案件的全部日志，按业务日期排序；状态与五级分类按日志"
        "经状态机回放至所选日期，不读取当前字段",
        "Every journal entry of the loan and of its tasks, approval requests, warning and "
        "collection cases, in business-date order; the state and class are replayed from the "
        "journal through the machines up to the chosen date, never read from today's columns",
    ),
    "state_on": ("该日状态", "State on that date"),
    "class_on": ("该日五级分类", "Risk class on that date"),
    "entries": ("条日志", "entries"),
    "time_zone": ("时间（含时区）", "Time (with zone)"),
    "aggregate": ("对象", "Object"),
    "agg_loan": ("贷款", "Loan"),
    "agg_task": ("任务", "Task"),
    "agg_approval": ("审批申请", "Approval request"),
    "agg_warning": ("预警", "Warning case"),
    "agg_collection": ("催收案件", "Collection case"),
    "agg_signin": ("登录", "Sign-in"),
    "all": ("全部", "All"),
    "order": ("排序", "Order"),
    "oldest_first": ("由早到晚", "Oldest first"),
    "newest_first": ("由晚到早", "Newest first"),
    "form": ("表单", "Form"),
    "open_form": ("查看提交的表单", "Open the submitted form"),
    "entry_detail": ("日志详情", "Entry"),
    "attachments": ("附件", "Attachments"),
    "lifecycle_diagram": (
        "贷款生命周期图（红色为该贷款所经路径）",
        "Loan lifecycle (the path this loan took in red)",
    ),
    "lifecycle_alt": (
        "贷款生命周期图，已走过的状态与转换高亮",
        "Loan lifecycle with the path taken",
    ),
    "diagram_missing": (
        "未安装 Graphviz（dot），无法绘制生命周期图；路径见下表",
        "Graphviz (dot) is not installed, so the diagram cannot be drawn; the path is in the "
        "table below",
    ),
    "path_taken": ("所经路径", "Path taken"),
    "submitted_form": ("提交的表单（只读）", "The form as submitted (read-only)"),
    "submitted_by": ("提交人", "Submitted by"),
    "submitted_at": ("提交时间", "Submitted at"),
    "for_task": ("所属任务", "For task"),
    "for_request": ("所属审批申请", "For approval request"),
    "decision": ("审批意见", "Decision"),
    "schema_version": ("表单版本", "Form version"),
    "schema_hash": ("表单结构哈希", "Schema hash"),
    "version_of": ("提交时第 {v} 版（现行第 {c} 版）", "version {v} when submitted (now {c})"),
    "version_guessed": (
        "结构哈希未登记，版本取自任务记录",
        "hash not registered: version from the task row",
    ),
    "fields_added": (
        "提交后表单新增的字段（由升级函数填写，非提交人所填）：",
        "Fields the form gained after submission (filled by upgraders, not by the submitter):",
    ),
    "payload_stored": ("日志中保存的原始数据", "The data as stored in the journal"),
    "entry_hash": ("日志哈希", "Entry hash"),
    "prev_hash": ("前一条哈希", "Previous hash"),
    "no_form": ("该日志无表单", "This entry has no form"),
    "audit_journal": ("日志查询", "Journal search"),
    "audit_intro": (
        "跨贷款查询日志：按操作人、事件、业务日期、机构（含下级）与对象筛选",
        "The journal across loans: by actor, event, business date, branch (and below) and object",
    ),
    "date_from": ("业务日期起", "From"),
    "date_to": ("业务日期止", "To"),
    "actor_hint": ("用户名，如 head_bj", "username, e.g. head_bj"),
    "event_hint": ("事件，如 approve", "event, e.g. approve"),
    "branch_code": ("机构代码", "Branch code"),
    "matches": ("条匹配", "matching"),
    "previous": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "system_actor": ("系统", "system"),
}

REPLAY_EVENTS: dict[str, tuple[str, str]] = {
    "start": ("开始审批", "review started"),
    "approve": ("同意", "approved"),
    "reject": ("否决", "rejected"),
    "return_for_revision": ("退回修改", "returned for revision"),
    "resubmit": ("重新提交", "resubmitted"),
    "amend": ("修改申请", "amended"),
    "withdraw": ("撤回", "withdrawn"),
    "confirm": ("确认预警", "warning confirmed"),
    "dismiss": ("解除预警", "warning dismissed"),
    "close": ("关闭", "closed"),
    "add_signals": ("追加预警信号", "signals added"),
}
