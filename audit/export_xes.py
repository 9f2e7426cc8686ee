"""The journal as an XES event log (IEEE 1849-2016): one trace per loan (concept:name = loan_no),
its events those of the loan's machines and of its tasks, requests and cases, in time order.

Written as text, a trace at a time — never a document tree — so a journal of any length streams.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from audit.event_log import Event, ExportStats, LoanCase

# Characters XML 1.0 cannot carry even escaped (control characters but tab and newlines).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Anything an attribute value must not carry as is; most values (states, dates, hashes) have none,
# so one search decides and the replacements run only for the rest (escaping was 85% of the time).
_SPECIAL = re.compile('[&<>"\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')
_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("\t", "&#9;"),
             ("\n", "&#10;"), ("\r", "&#13;"))  # fmt: skip
# The XES standard lifecycle for a human task's moves; a loan's, a request's or a case's moves
# are atomic events ("complete"); a task's release, escalation or expiry has no standard name.
TASK_LIFECYCLE = {
    "open": "schedule",
    "claim": "assign",
    "assign": "assign",
    "delegate": "reassign",
    "complete": "complete",
    "cancel": "withdraw",
}
TASK_MACHINE = "human_task"

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="" xmlns="http://www.xes-standard.org/">
<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
<extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
<global scope="trace"><string key="concept:name" value=""/></global>
<global scope="event"><string key="concept:name" value=""/><string key="org:resource" value=""/>\
<date key="time:timestamp" value="1970-01-01T00:00:00+00:00"/></global>
<classifier name="Activity" keys="concept:name"/>
<string key="concept:name" value="postloan journal 贷后管理日志"/>
"""
TAIL = "</log>\n"


def _q(value: object) -> str:
    """The value as a double-quoted XML attribute (newlines and tabs kept as character refs)."""
    text = str(value)
    if _SPECIAL.search(text):
        text = _NOT_XML.sub("\ufffd", text)
        for char, entity in _ENTITIES:
            text = text.replace(char, entity)
    return f'"{text}"'


def _s(key: str, value: object) -> str:
    # keys are this module's own names (no character to escape); values are anyone's text
    return "" if value is None else f'<string key="{key}" value={_q(value)}/>'


def activity(event: Event) -> str:
    """The activity name: the machine and its event ("loan_lifecycle.mark_overdue"), since
    several machines share event names (open, complete)."""
    return f"{event.machine}.{event.event}"


def _event(e: Event, kinds: dict[tuple[str, str], str]) -> str:
    transition = TASK_LIFECYCLE.get(e.event) if e.machine == TASK_MACHINE else "complete"
    parts = [
        "<event>",
        _s("concept:name", activity(e)),
        _s("lifecycle:transition", transition),
        _s("org:resource", e.actor),
        f'<date key="time:timestamp" value="{e.wall_time.isoformat()}"/>',
        _s("postloan:machine", e.machine),
        _s("postloan:event", e.event),
        _s("postloan:from", e.from_state),
        _s("postloan:to", e.to_state),
        _s("postloan:business_date", e.business_date.isoformat()),
        _s("postloan:aggregate", e.aggregate_type),
        _s("postloan:aggregate_id", e.aggregate_id),
        _s("postloan:kind", kinds.get((e.aggregate_type, e.aggregate_id))),
        _s("postloan:on_behalf_of", e.on_behalf_of),
        _s("postloan:reason", e.reason),
        _s("postloan:form_kind", e.form_kind),
        f'<int key="postloan:journal_id" value="{e.id}"/>',
        _s("postloan:hash", e.hash),
        "</event>\n",
    ]
    return "".join(parts)


def xes_chunks(cases: Iterable[LoanCase], stats: ExportStats) -> Iterator[str]:
    yield HEAD
    for case in cases:
        stats.cases += 1
        stats.objects += len(case.objects)
        stats.events += len(case.events)
        kinds = {o.key: str(o.attributes["kind"]) for o in case.objects if "kind" in o.attributes}
        loan = [_s("concept:name", case.loan_no)]
        loan += [_s(f"postloan:{k}", v) for k, v in case.loan.attributes.items()]
        yield "<trace>" + "".join(loan) + "\n" + "".join(_event(e, kinds) for e in case.events)
        yield "</trace>\n"
    yield TAIL
