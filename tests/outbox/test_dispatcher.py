"""The outbox against the in-process simulator: outcomes, deadlines, caps, signals, operator."""

from __future__ import annotations

import pytest

from kioskd.config import outbox_policy
from kioskd.journal import JournalError, states
from kioskd.journal.reader import queue_listing
from kioskd.outbox import OutboxRefused
from kioskd.outbox import outbox as ob
from kioskd.outbox.outbox import ATTENTION, IN_DOUBT, OFFLINE, ONLINE, PRINT_NOT_DONE
from kioskd.proving.sim import games as catalog

from .conftest import Rig


async def test_happy_path_sale_costs_three_commits(rig: Rig) -> None:
    before = rig.journal.commits
    op_id = await rig.sell()
    await rig.drain()
    rig.print_all()
    assert rig.journal.commits - before == 3
    op = rig.journal.get(op_id)
    (ticket,) = rig.api_tickets()
    assert op.state == states.DONE
    assert op.ticket_number == ticket["ticket_number"] and op.pin_number == ticket["pin_number"]
    # "sending" starts the daemon's PENDING-slip clock (issue 18 item 6); then "done".
    assert [o.kind for o in rig.outbox.outcomes] == ["sending", "done"]


async def test_pin_never_in_outcomes_or_history(rig: Rig) -> None:
    op_id = await rig.sell()
    await rig.drain()
    pin = str(rig.journal.get(op_id).pin_number)
    assert pin not in repr(rig.outbox.outcomes)
    assert pin not in repr(rig.journal.history()) and pin not in repr(queue_listing(rig.journal))


async def test_in_doubt_create_is_never_resent_before_reconciliation(rig: Rig) -> None:
    rig.sim.arm_fault("/user/ticket/create", "commit_then_drop")
    op_id = await rig.sell()
    await rig.outbox.step()
    assert rig.journal.get(op_id).state == states.IN_DOUBT
    assert rig.outbox.signal == IN_DOUBT
    for _ in range(20):  # nothing is due yet: no resend however often we step
        await rig.outbox.step()
    assert len(rig.api_tickets()) == 1
    await rig.drain(seconds=600)
    op = rig.journal.get(op_id)
    assert op.state == states.DONE and op.ticket_number == rig.api_tickets()[0]["ticket_number"]
    assert rig.outbox.signal == ONLINE


async def test_ambiguity_3_a_create_in_doubt_holds_back_only_its_look_alikes(rig: Rig) -> None:
    """Item 1: a different sale is sent at once; the same wagers wait for the first's doubt."""
    rig.sim.arm_fault("/user/ticket/create", "commit_then_drop")
    first = await rig.sell()
    await rig.outbox.step()
    assert rig.journal.get(first).state == states.IN_DOUBT
    other = await rig.sell(code_index=3)
    assert rig.journal.get(other).state == states.SENDING  # born sending: nothing holds it
    twin = await rig.sell()
    assert rig.journal.get(twin).state == states.QUEUED  # same fingerprint: held
    await rig.outbox.step()
    assert rig.journal.get(other).state == states.DONE
    assert rig.journal.get(twin).state == states.QUEUED
    await rig.drain(seconds=600)
    assert [rig.journal.get(i).state for i in (first, other, twin)] == [states.DONE] * 3
    assert len(rig.api_tickets()) == 3
    numbers = {rig.journal.get(i).ticket_number for i in (first, other, twin)}
    assert numbers == {t["ticket_number"] for t in rig.api_tickets()}


async def test_api_error_envelope_is_decided_at_the_first_probe(rig: Rig) -> None:
    """Item 2: HTTP 500 with the API's envelope ends the request: the probe made at once finds
    nothing, the sale is resent and sold without waiting for a quiet period."""
    rig.sim.arm_fault("/user/ticket/create", "fail_before_commit")
    first = await rig.sell()
    await rig.drain(seconds=0)
    op = rig.journal.get(first)
    assert op.state == states.DONE and op.attempts == 2
    assert len(rig.api_tickets()) == 1


async def test_a_drop_waits_for_the_quiet_period_then_resends(rig: Rig) -> None:
    """Item 2: after a dropped connection the probe runs at once but "not applied" waits for
    the quiet period; then the sale is resent while still valid."""
    rig.sim.arm_fault("/user/ticket/create", "html_error")  # a proxy's page, nothing applied
    sent = rig.clock.now()
    op_id = await rig.sell()
    await rig.drain(seconds=rig.policy.quiet_period_s - 1)
    assert rig.journal.get(op_id).state == states.IN_DOUBT
    assert rig.journal.get(op_id).probes >= 1  # probed at once
    await rig.drain(seconds=rig.policy.quiet_period_s + 2 * rig.policy.probe_interval_s)
    op = rig.journal.get(op_id)
    assert op.state == states.DONE and op.attempts == 2
    assert op.sent_at - sent < rig.policy.create_max_age_s / 2


async def test_a_sale_costs_one_round_trip(rig: Rig) -> None:
    """Item 3: no watermark read between Enter and /create."""
    paths: list[str] = []
    handle = rig.client._http._transport.handle_async_request

    async def counting(request):
        paths.append(request.url.path)
        return await handle(request)

    rig.client._http._transport.handle_async_request = counting
    await rig.sell()  # logs in first
    await rig.drain()
    paths.clear()
    await rig.sell(code_index=4)
    await rig.drain()
    assert paths == ["/user/ticket/create"]


async def test_offline_sale_queues_backs_off_and_sends_when_back(rig: Rig) -> None:
    rig.sim.set_offline(True)
    op_id = await rig.sell()
    await rig.outbox.step()  # born sending; the attempt finds the network down
    assert rig.journal.get(op_id).state == states.QUEUED
    assert rig.outbox.signal == OFFLINE
    second = await rig.sell(code_index=2)
    assert rig.journal.get(second).state == states.QUEUED  # offline: born queued
    await rig.drain(seconds=30)
    assert rig.journal.get(op_id).state == states.QUEUED
    assert rig.outbox._failures >= 3  # backed off several times
    rig.sim.set_offline(False)
    await rig.drain(seconds=120)
    assert rig.journal.get(op_id).state == states.DONE
    assert rig.outbox.signal == ONLINE


async def test_backoff_is_seeded_and_jittered() -> None:
    import random

    p = outbox_policy(backoff_initial_s=1, backoff_max_s=60, backoff_jitter=0.25)
    a = [p.backoff(n, random.Random(3)) for n in range(1, 10)]
    b = [p.backoff(n, random.Random(3)) for n in range(1, 10)]
    assert a == b
    assert 0.75 <= a[0] <= 1.25 and 45 <= a[-1] <= 75


async def test_event_closing_during_an_outage_expires_the_sale(rig: Rig) -> None:
    rig.sim.set_offline(True)
    wagers, closes = rig.wagers(product_id=6)  # hourly draws: closes within the hour
    op_id = await rig.outbox.submit_create(wagers, closes)
    await rig.drain(seconds=closes - rig.clock.now() + 10)
    op = rig.journal.get(op_id)
    assert op.state == states.EXPIRED
    assert [j.kind for j in rig.journal.print_jobs(op_id)] == [PRINT_NOT_DONE]
    assert rig.outbox.outcomes[-1].kind == "expired"
    rig.sim.set_offline(False)
    await rig.drain(seconds=600)
    assert rig.api_tickets() == []


async def test_create_never_outlives_max_age(rig: Rig) -> None:
    rig.sim.set_offline(True)
    op_id = await rig.sell()
    assert rig.journal.get(op_id).deadline == rig.clock.now() + rig.policy.create_max_age_s


async def test_cancel_deadline_is_the_cancel_window(rig: Rig) -> None:
    await rig.sell()
    await rig.drain()
    (t,) = rig.api_tickets()
    rig.sim.set_offline(True)
    op_id = await rig.outbox.submit_cancel(t["ticket_number"], t["created_at"], 180)
    await rig.drain(seconds=400)
    assert rig.journal.get(op_id).state == states.EXPIRED
    with pytest.raises(OutboxRefused, match="deadline"):
        await rig.outbox.submit_cancel(t["ticket_number"], t["created_at"], 180)


async def test_rejected_sale_is_definitive(rig: Rig) -> None:
    wagers, closes = rig.wagers(amount=500)  # above max_bet
    op_id = await rig.outbox.submit_create(wagers, closes)
    await rig.drain()
    op = rig.journal.get(op_id)
    assert op.state == states.REJECTED and "WagerRejected" in (op.reason or "")
    assert rig.outbox.outcomes[-1].kind == "rejected"


async def test_caps_on_queued_count_and_amount(tmp_path) -> None:
    r = Rig(tmp_path / "j.sqlite", outbox_policy(time_zone=catalog.TIME_ZONE, max_queued=2,
                                          max_queued_amount=12))  # fmt: skip
    r.sim.set_offline(True)
    await r.sell(amount=5)
    await r.sell(amount=5)
    with pytest.raises(OutboxRefused, match="queue full"):
        await r.sell(amount=1)
    r2 = Rig(
        tmp_path / "k.sqlite", outbox_policy(time_zone=catalog.TIME_ZONE, max_queued_amount=12)
    )
    r2.sim.set_offline(True)
    await r2.sell(amount=5)
    with pytest.raises(OutboxRefused, match="amount"):
        await r2.sell(amount=9)
    for x in (r, r2):
        x.journal.close()
        await x.client.aclose()


async def test_journal_in_attention_refuses_new_operations(rig: Rig) -> None:
    """While the fault is really there (another connection holds the write lock), the sale's
    own write probe fails and the sale is refused; once it is gone, the next sale is taken."""
    import sqlite3

    blocker = sqlite3.connect(rig.journal.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    rig.journal.attention = JournalError("database is locked", kind="locked")
    try:
        with pytest.raises(OutboxRefused, match="attention"):
            await rig.sell()
        assert await rig.outbox.step() is False
        assert rig.outbox.signal == ATTENTION
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await rig.sell()
    assert rig.journal.attention is None


async def test_foreign_ticket_in_last_raises_one_alarm(rig: Rig) -> None:
    rig.sim.arm_fault("/user/ticket/create", "html_error")
    await rig.sell()
    await rig.outbox.step()
    rig.sim.foreign_ticket()  # another terminal sells while ours is in doubt
    await rig.drain(seconds=600)  # every probe sees it in /last: one alarm
    alarms = [o for o in rig.outbox.outcomes if o.kind == "alarm"]
    assert len(alarms) == 1
    assert len(rig.journal.history(kind="alarm")) == 1


async def test_recover_moves_sending_to_in_doubt(rig: Rig) -> None:
    op_id = await rig.sell()  # born `sending`; the "process" dies before the send
    moved = await rig.reboot()
    assert moved == [op_id]
    assert rig.journal.get(op_id).state == states.IN_DOUBT
    await rig.drain(seconds=600)
    assert rig.journal.get(op_id).state == states.DONE  # proved not applied, then sent once
    assert len(rig.api_tickets()) == 1


async def test_pay_then_payout_print(rig: Rig) -> None:
    sale = await rig.sell()
    await rig.drain()
    op = rig.journal.get(sale)
    ev = catalog.event(op.result["wagers"][0]["event_id"])
    rig.sim.force_result(ev.id, op.result["wagers"][0]["wager"])
    rig.clock.set(ev.result_ts + 10)
    day = catalog.local_day(op.result["created_at"]).isoformat()
    pay = await rig.outbox.submit_pay(op.ticket_number, op.pin_number, day)
    await rig.drain()
    paid = rig.journal.get(pay)
    assert paid.state == states.DONE and paid.result["prize"] > 0
    assert [j.kind for j in rig.journal.print_jobs(pay)] == ["payout"]
    assert len(rig.sim.ledger()["payments"]) == 1


async def test_operator_functions(rig: Rig) -> None:
    rig.sim.arm_fault("/user/ticket/create", "commit_then_drop")
    op_id = await rig.sell()
    await rig.outbox.step()
    rig.clock.advance(30)
    assert rig.outbox.counts()[states.IN_DOUBT] == 1
    assert rig.outbox.oldest_in_doubt_age() == pytest.approx(30)
    listed = queue_listing(rig.journal)
    assert listed[0]["state"] == "in_doubt" and len(listed[0]["history"]) == 2
    with pytest.raises(OutboxRefused, match="reason"):
        await rig.outbox.resolve(op_id, True, "  ")
    ticket = rig.api_tickets()[0]
    await rig.outbox.resolve(op_id, True, "checked the back office by phone",
                             ticket_number=ticket["ticket_number"])  # fmt: skip
    op = rig.journal.get(op_id)
    assert op.state == states.DONE and op.ticket_number == ticket["ticket_number"]
    last = rig.journal.history(op_id)[-1]
    assert last.kind == "operator" and "by phone" in last.detail["reason"]
    assert rig.journal.print_jobs(op_id)


async def test_operator_retry_and_not_applied(rig: Rig) -> None:
    rig.sim.arm_fault("/user/ticket/create", "hang")
    op_id = await rig.sell()
    await rig.outbox.step()
    await rig.outbox.retry(op_id, "server log shows no sale")
    assert rig.journal.get(op_id).state == states.QUEUED
    rig.sim.arm_fault("/user/ticket/create", "hang")
    await rig.drain()
    await rig.outbox.resolve(op_id, False, "customer left")
    assert rig.journal.get(op_id).state == states.REJECTED
    with pytest.raises(Exception, match="can't handle"):
        await rig.outbox.retry(op_id, "again")


async def test_next_deadline(rig: Rig) -> None:
    assert rig.outbox.next_deadline() is None
    rig.sim.set_offline(True)
    await rig.sell()
    await rig.outbox.step()
    assert rig.outbox.next_deadline() == rig.clock.now() + rig.policy.create_max_age_s


async def test_run_loop_sends_and_stops(rig: Rig) -> None:
    import asyncio

    task = asyncio.create_task(rig.outbox.run())
    op_id = await rig.sell()
    for _ in range(50):
        await asyncio.sleep(0)
        if rig.journal.get(op_id).state == states.DONE:
            break
    rig.outbox.stop()
    await asyncio.wait_for(task, 5)
    assert rig.journal.get(op_id).state == states.DONE


async def test_run_sends_concurrently_a_hanging_sale_never_holds_up_the_next(rig: Rig) -> None:
    """Item 1 in the daemon's loop: each send is a task; a request that hangs (here until we
    let it go) does not keep the next, different sale from being sent and answered."""
    import asyncio

    transport = rig.client._http._transport
    handle = transport.handle_async_request
    gate = asyncio.Event()
    held: list[str] = []

    async def slow_first_create(request):
        # The server commits at once; its answer hangs on the way back. (Held before the
        # server, the commit would land whenever virtual time let it go, long outside the
        # send window, and the answer check rightly refuses such an answer.)
        response = await handle(request)
        if request.url.path == "/user/ticket/create" and not held:
            held.append("first")
            await gate.wait()
        return response

    transport.handle_async_request = slow_first_create
    task = asyncio.create_task(rig.outbox.run())
    first = await rig.sell()
    for _ in range(100):
        await asyncio.sleep(0)
        if held:
            break
    second = await rig.sell(code_index=3)
    for _ in range(200):
        await asyncio.sleep(0)
        if rig.journal.get(second).state == states.DONE:
            break
    assert rig.journal.get(second).state == states.DONE
    assert rig.journal.get(first).state == states.SENDING  # still in the air
    gate.set()
    for _ in range(200):
        await asyncio.sleep(0)
        if rig.journal.get(first).state == states.DONE:
            break
    rig.outbox.stop()
    await task
    assert rig.journal.get(first).state == states.DONE
    assert len(rig.api_tickets()) == 2 and not rig.outbox.in_flight


async def test_ambiguity_7_a_crash_with_two_different_sales_in_doubt(rig: Rig) -> None:
    """reconcile.py, ambiguity 7 (with 2 and 6): two different sales are in the air (both
    journaled `sending`); the power goes mid-send, right after the first one's answer arrived
    and before it was journaled: the first is committed on the server, its answer lost; the
    second never left. After the restart both are in doubt and each is decided on its own
    evidence: the first is found (reconciled, printed), the second proven absent once its
    quiet period passed and sent again. Exactly two tickets on the server."""
    from kioskd.proving.campaigns.seeded_chaos import CrashPlan, SimulatedCrash

    plan = CrashPlan(names={"send:answered": 1})  # the power goes with the answer in RAM
    await rig.reboot(crash_hook=plan)
    first = await rig.sell()
    second = await rig.sell(code_index=3)
    assert {rig.journal.get(i).state for i in (first, second)} == {states.SENDING}
    with pytest.raises(SimulatedCrash):
        for _ in range(5):
            await rig.outbox.step()
    assert plan.crashed == ["send:answered"]
    (committed,) = rig.api_tickets()  # the first reached the server; the second did not
    await rig.reboot()
    assert {rig.journal.get(i).state for i in (first, second)} == {states.IN_DOUBT}
    await rig.drain(seconds=600)
    a, b = rig.journal.get(first), rig.journal.get(second)
    assert (a.state, b.state) == (states.DONE, states.DONE)
    assert a.ticket_number == committed["ticket_number"]
    assert a.pin_number == committed["pin_number"]
    assert sorted(t["ticket_number"] for t in rig.api_tickets()) == sorted(
        [a.ticket_number, b.ticket_number]
    )


async def test_ambiguity_9_payouts_of_different_tickets_never_wait_for_each_other(
    rig: Rig,
) -> None:
    """reconcile.py, ambiguity 9: a payout in doubt holds back only another payout of the same
    ticket."""
    tickets = []
    for code in (0, 1):
        sale = await rig.sell(code_index=code)
        await rig.drain()
        tickets.append(rig.journal.get(sale))
    w = tickets[0].result["wagers"][0]
    rig.sim.force_result(w["event_id"], w["wager"])  # the first wins, the second does not
    ev = catalog.event(w["event_id"])
    rig.clock.set(ev.result_ts + 10)
    day = catalog.local_day(tickets[0].result["created_at"]).isoformat()
    rig.sim.arm_fault("/user/ticket/pay", "commit_then_504")
    first = await rig.outbox.submit_pay(tickets[0].ticket_number, tickets[0].pin_number, day)
    await rig.outbox.step()
    assert rig.journal.get(first).state == states.IN_DOUBT
    again = await rig.outbox.submit_pay(tickets[0].ticket_number, tickets[0].pin_number, day)
    other = await rig.outbox.submit_pay(tickets[1].ticket_number, tickets[1].pin_number, day)
    assert rig.journal.get(again).state == states.QUEUED  # same ticket: held
    assert rig.journal.get(other).state == states.SENDING  # another ticket: sent at once
    await rig.drain(seconds=600)
    assert rig.journal.get(first).state == states.DONE
    assert rig.journal.get(other).state == states.REJECTED  # not a winner: a definitive answer
    assert rig.journal.get(again).state == states.REJECTED  # already paid by the first
    assert [p["ticket_number"] for p in rig.sim.ledger()["payments"]] == [tickets[0].ticket_number]


async def test_run_probes_outside_the_lock_a_slow_probe_never_holds_up_a_new_sale(
    rig: Rig,
) -> None:
    """The reconciliation of a sale in doubt (its `/user/ticket/last` probe held here until we
    let it go) runs as a task of its own: a new, different sale at the counter is queued, sent
    and answered meanwhile, instead of waiting for the lock behind the probe."""
    import asyncio

    rig.sim.arm_fault("/user/ticket/create", "commit_then_drop")
    first = await rig.sell()
    await rig.outbox.step()
    assert rig.journal.get(first).state == states.IN_DOUBT
    transport = rig.client._http._transport
    handle = transport.handle_async_request
    gate = asyncio.Event()
    probing: list[str] = []

    async def slow_probe(request):
        if request.url.path == "/user/ticket/last" and not gate.is_set():
            probing.append("held")
            await gate.wait()
        return await handle(request)

    transport.handle_async_request = slow_probe
    task = asyncio.create_task(rig.outbox.run())
    for _ in range(200):
        await asyncio.sleep(0)
        if probing:
            break
    assert probing and rig.journal.get(first).state == states.RECONCILING
    second = await asyncio.wait_for(rig.sell(code_index=3), 1.0)  # no wait behind the probe
    for _ in range(200):
        await asyncio.sleep(0)
        if rig.journal.get(second).state == states.DONE:
            break
    assert rig.journal.get(second).state == states.DONE
    gate.set()
    for _ in range(400):
        await asyncio.sleep(0)
        if rig.journal.get(first).state == states.DONE:
            break
    rig.outbox.stop()
    await task
    assert rig.journal.get(first).state == states.DONE
    assert len(rig.api_tickets()) == 2 and not rig.outbox.in_flight


async def test_run_a_sale_born_sending_is_dispatched_by_its_submit_else_by_run(rig: Rig) -> None:
    """Issue 19 (CPU a sale): under `run()`, a sale born `sending` becomes its send task in
    its own submit (no wake-up of `run()` for it); with `MAX_IN_FLIGHT` sends in the air it
    waits among the ready ones and `run()` sends it when a send ends. Every one is sold once."""
    import asyncio

    transport = rig.client._http._transport
    handle = transport.handle_async_request
    gate = asyncio.Event()

    async def held_creates(request):
        response = await handle(request)
        if request.url.path == "/user/ticket/create":
            await gate.wait()
        return response

    transport.handle_async_request = held_creates
    task = asyncio.create_task(rig.outbox.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not rig.outbox._wake.is_set()
    ids = []
    for code_index in range(ob.MAX_IN_FLIGHT):
        op_id = await rig.sell(code_index=code_index)
        assert op_id in rig.outbox.in_flight and not rig.outbox._ready
        assert not rig.outbox._wake.is_set()  # `run()` was not woken for it
        ids.append(op_id)
    extra = await rig.sell(code_index=ob.MAX_IN_FLIGHT)
    assert extra not in rig.outbox.in_flight and rig.outbox._ready == [extra]
    assert rig.outbox._wake.is_set()
    gate.set()
    for _ in range(400):
        await asyncio.sleep(0)
        if all(rig.journal.get(i).state == states.DONE for i in [*ids, extra]):
            break
    rig.outbox.stop()
    await task
    assert all(rig.journal.get(i).state == states.DONE for i in [*ids, extra])
    assert len(rig.api_tickets()) == ob.MAX_IN_FLIGHT + 1 and not rig.outbox.in_flight
