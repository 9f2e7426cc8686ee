"""The deployments and their schedules — the only module that knows deployment names.

Cron schedules carry the bank's time zone (the `cron=` shorthand would run in UTC). `serve()`
runs them in this process; for more machines, run a Prefect server on Postgres with a work
pool and start workers (README, "Scaling out").
"""

from __future__ import annotations

import asyncio
import signal

from prefect.schedules import Cron

from core.settings import get_settings
from flows.approval_chain import approval_chain
from flows.daily_sweep import SweepParams, daily_sweep
from flows.escalation import collection_ladder, sla_escalation
from flows.inspections import inspection_scheduler
from flows.pre_maturity import pre_maturity

DAILY_SWEEP = "daily-sweep"
INSPECTIONS = "inspection-scheduler"
PRE_MATURITY = "pre-maturity"
SWEEP_CHUNK = "sweep-chunk"  # flow name / deployment name
APPROVAL_CHAIN = "approval-chain"  # started by the outbox, never on a schedule
SLA_ESCALATION = "sla-escalation"
COLLECTION_LADDER = "collection-ladder"

SCHEDULES: dict[str, str | None] = {  # cron in the bank's time zone
    DAILY_SWEEP: "30 20 * * *",  # after the core banking system's end of day
    INSPECTIONS: "0 6 * * *",  # before the working day
    PRE_MATURITY: "15 6 * * *",
    SLA_ESCALATION: "30 7 * * *",  # reminders and escalations before the working day
    COLLECTION_LADDER: "15 21 * * *",  # after the sweep has aged the book
    APPROVAL_CHAIN: None,
}


def flow_of(flow_name: str):  # type: ignore[no-untyped-def]
    """The flow itself, for the dispatcher's inline runs."""
    return FLOWS[flow_name]


def deployment_of(flow_name: str) -> str:
    """The deployment a flow's outbox rows start ("<flow>/<deployment>")."""
    if flow_name not in SCHEDULES:
        raise KeyError(f"no deployment for flow {flow_name!r}")
    return f"{flow_name}/{flow_name}"


FLOWS = {
    DAILY_SWEEP: daily_sweep,
    INSPECTIONS: inspection_scheduler,
    PRE_MATURITY: pre_maturity,
    SLA_ESCALATION: sla_escalation,
    COLLECTION_LADDER: collection_ladder,
    APPROVAL_CHAIN: approval_chain,
}


def deployments() -> list:  # type: ignore[type-arg]
    tz = get_settings().timezone
    flows = FLOWS
    return [
        flow_.to_deployment(
            name=name,
            schedule=Cron(cron, timezone=tz) if (cron := SCHEDULES[name]) else None,
            description=(flow_.description or flow_.name).strip().splitlines()[0],
        )
        for name, flow_ in flows.items()
    ]


CRASH_AUTOMATION = "postloan: crash runs whose heartbeats stopped"


def crash_after_default() -> int:
    """Three of the runs' heartbeat periods (PREFECT_FLOWS_HEARTBEAT_FREQUENCY)."""
    from prefect.settings import get_current_settings

    return 3 * (get_current_settings().flows.heartbeat_frequency or 180)


def ensure_crash_automation(crash_after_seconds: int) -> str:
    """The automation that marks a flow run Crashed once its heartbeats stop for
    `crash_after_seconds` (its worker or machine was lost mid-run): Prefect's documented way
    to detect such runs on a self-hosted server. The sweep then starts a crashed chunk again
    (flows/daily_sweep.py). Created once, by name; returns its id."""
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    with get_client(sync_client=True) as client:  # the period may have changed: one, as asked
        for existing in client.read_automations_by_name(name=CRASH_AUTOMATION):
            client.delete_automation(existing.id)
    ended = ("Completed", "Failed", "Cancelled", "Crashed")
    automation = Automation(
        name=CRASH_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in ended)},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=crash_after_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {crash_after_seconds} s: its worker was lost",
            )
        ],
    ).create()
    return str(automation.id)


def deploy_to_pool(
    work_pool: str, source: str = ".", crash_after_seconds: int | None = None
) -> list[str]:
    """Register the deployments in a work pool, the sweep spreading its chunks over the pool's
    workers (`prefect worker start --pool …` on each machine), and the automation that marks a
    run Crashed when its worker is lost. Returns the deployment ids."""
    ensure_crash_automation(crash_after_seconds or crash_after_default())
    tz = get_settings().timezone
    specs = [
        (
            "flows/daily_sweep.py:daily_sweep",
            DAILY_SWEEP,
            {"params": SweepParams(chunk_deployment=f"{SWEEP_CHUNK}/{SWEEP_CHUNK}").model_dump()},
            SCHEDULES[DAILY_SWEEP],
        ),
        ("flows/daily_sweep.py:sweep_chunk_flow", SWEEP_CHUNK, {}, None),
        ("flows/inspections.py:inspection_scheduler", INSPECTIONS, {}, SCHEDULES[INSPECTIONS]),
        ("flows/pre_maturity.py:pre_maturity", PRE_MATURITY, {}, SCHEDULES[PRE_MATURITY]),
        ("flows/escalation.py:sla_escalation", SLA_ESCALATION, {}, SCHEDULES[SLA_ESCALATION]),
        (
            "flows/escalation.py:collection_ladder",
            COLLECTION_LADDER,
            {},
            SCHEDULES[COLLECTION_LADDER],
        ),
        ("flows/approval_chain.py:approval_chain", APPROVAL_CHAIN, {}, None),
    ]
    ids = []
    for entrypoint, name, parameters, cron in specs:
        remote = flow_from_source(source, entrypoint)
        ids.append(
            str(
                remote.deploy(
                    name=name,
                    work_pool_name=work_pool,
                    parameters=parameters,
                    schedule=Cron(cron, timezone=tz) if cron else None,
                    build=False,
                    push=False,
                    print_next_steps=False,
                )
            )
        )
    return ids


def flow_from_source(source: str, entrypoint: str):  # type: ignore[no-untyped-def]
    from prefect import Flow

    return Flow.from_source(source=source, entrypoint=entrypoint)


def serve_all(names: list[str] | None = None, limit: int | None = None) -> None:
    """Serve the deployments (all, or those named) with their schedules (blocks; must run in the
    main thread). `limit` caps the runs this process executes at once. Ctrl-C or SIGTERM stops
    the runner inside its own event loop (astop, then its schedules are paused) and returns.

    Not prefect.serve(): its SIGTERM handler calls the sync `stop()` from inside the loop, which
    there only makes a coroutine ("Runner.astop was never awaited"), and Ctrl-C tears the loop
    down while the runner is still shutting down."""
    chosen = [d for d in deployments() if names is None or d.name in names]
    asyncio.run(_serve(chosen, limit))


async def _serve(chosen: list, limit: int | None) -> None:  # type: ignore[type-arg]
    from prefect.runner import Runner

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # from the start: a signal is never lost
        loop.add_signal_handler(sig, stop.set)
    runner = Runner(pause_on_shutdown=True, limit=limit)
    # start() installs this as the SIGTERM handler: ours asks the loop to stop, like Ctrl-C
    runner.handle_sigterm = lambda *_: loop.call_soon_threadsafe(stop.set)  # type: ignore[method-assign]
    for deployment in chosen:
        await runner.aadd_deployment(deployment)  # in a loop: the sync name gives a coroutine

    async def stop_on_signal() -> None:
        await stop.wait()
        while not runner.started:  # a signal during start-up: stop once it is up
            await asyncio.sleep(0.1)
        await runner.astop()

    watcher = asyncio.create_task(stop_on_signal())
    try:
        await runner.start()
    finally:
        watcher.cancel()
