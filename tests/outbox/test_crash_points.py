"""A power cut at every crash point of every money path, each its own test.

Crash points are where the journal commits (before: the transaction is lost; after: it is
durable) plus, in the outbox, between a server answer and its commit (`send:answered`), between
a probe and its decision (`reconcile:decided`), and between paper and `mark_printed`
(`print:on_paper`). For each scenario a dry run lists the points it passes; then one test per
point cuts the power exactly there, reboots from the file and checks the campaign invariants.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

from kioskd.banklot.models import WagerRequest
from kioskd.proving.campaigns.seeded_chaos import CrashPlan, Kiosk, quiet_kioskd_logs, run_scenario
from kioskd.proving.sim import games as catalog

from .conftest import START


def _wagers(k: Kiosk, code: int = 0) -> tuple[list[WagerRequest], float]:
    product = catalog.PRODUCTS_BY_ID[1]
    ev = catalog.open_event(product, k.clock.now())
    return [WagerRequest(5, ev.id, 1, catalog.inventory(1)[code][0])], ev.closing_ts


async def sell(k: Kiosk) -> None:
    wagers, closes = _wagers(k)
    k.op_ids.append(await k.outbox.submit_create(wagers, closes))


async def sell_other(k: Kiosk) -> None:
    wagers, closes = _wagers(k, 7)
    k.op_ids.append(await k.outbox.submit_create(wagers, closes))


def arm(endpoint: str, mode: str) -> Callable[[Kiosk], Any]:
    async def action(k: Kiosk) -> None:
        k.sim.arm_fault(endpoint, mode)

    return action


async def offline(k: Kiosk) -> None:
    k.sim.set_offline(True, for_s=20)


def _sale(k: Kiosk):
    """The sale to pay or cancel (None if the crash happened before it existed)."""
    return next((op for op in k.journal.operations(("done",)) if op.kind == "create"), None)


async def pay_winner(k: Kiosk) -> None:
    op = _sale(k)
    if op is None:
        return
    w = op.result["wagers"][0]
    ev = catalog.event(w["event_id"])
    k.sim.force_result(ev.id, w["wager"])
    k.clock.set(max(k.clock.now(), ev.result_ts + 10))
    day = catalog.local_day(op.result["created_at"]).isoformat()
    k.op_ids.append(await k.outbox.submit_pay(op.ticket_number, op.pin_number, day))


async def cancel_sale(k: Kiosk) -> None:
    op = _sale(k)
    if op is None:
        return
    k.op_ids.append(await k.outbox.submit_cancel(op.ticket_number, op.result["created_at"], 180))


SCENARIOS: dict[str, list[Callable[[Kiosk], Any]]] = {
    "sale": [sell],
    "sale_in_doubt_applied": [arm("/user/ticket/create", "commit_then_drop"), sell],
    "sale_in_doubt_not_applied": [arm("/user/ticket/create", "fail_before_commit"), sell],
    "sale_queued_offline": [offline, sell, sell_other],
    "sale_foreign_in_doubt": [
        arm("/user/ticket/create", "commit_then_504"), arm("/user/ticket/last", "foreign_ticket"),
        sell,
    ],
    "pay": [sell, pay_winner],
    "pay_in_doubt": [sell, arm("/user/ticket/pay", "commit_then_drop"), pay_winner],
    "cancel": [sell, cancel_sale],
    "cancel_in_doubt": [sell, arm("/user/ticket/cancel", "malformed"), cancel_sale],
}  # fmt: skip


def _run(name: str, plan: CrashPlan):
    with quiet_kioskd_logs(), tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(run_scenario(SCENARIOS[name], tmp, plan=plan, start=START))


def _points(name: str) -> list[tuple[str, int]]:
    """The crash points a scenario passes, each with its occurrence number (dry run)."""
    plan = CrashPlan()
    result = _run(name, plan)
    assert not result.violations, result.violations
    seen: dict[str, int] = {}
    order = []
    for point in plan.trace:
        seen[point] = seen.get(point, 0) + 1
        order.append((point, seen[point]))
    return order


CASES = [(name, point, n) for name in SCENARIOS for point, n in _points(name)]


def test_the_happy_sale_passes_the_documented_points() -> None:
    assert [p for p, _ in _points("sale")] == [
        "add:sending:before_commit",  # intent (born sending, watermark recorded)
        "add:sending:after_commit",
        "send:answered",  # answer in memory, not yet journaled
        "answered_ok:before_commit",  # outcome + print job
        "answered_ok:after_commit",
        "print:on_paper",  # on paper, not yet marked
        "printed:before_commit",
        "printed:after_commit",
    ]


@pytest.mark.parametrize(
    ("scenario", "point", "occurrence"), CASES, ids=[f"{s}-{p}#{n}" for s, p, n in CASES]
)
def test_crash_at(scenario: str, point: str, occurrence: int) -> None:
    plan = CrashPlan(names={point: occurrence})
    result = _run(scenario, plan)
    assert plan.crashed == [point], "the crash happened where the test says"
    assert not result.violations, "\n".join(
        f"{v.invariant}: {v.detail}\n  " + "\n  ".join(v.history) for v in result.violations
    )
