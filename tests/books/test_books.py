"""The one books check every campaign and the demo close with: each way it must bite."""

from __future__ import annotations

import json

from kioskd.proving.books import check, summary

WAGER = {"event_id": 20015, "game_id": 1, "wager": "123", "amount": 45}


def _ticket(number: int = 11111111, **kw):
    return {"ticket_number": number, "pin_number": 22222222, "wagers": [WAGER],
            "origin": "api", **kw}  # fmt: skip


def _op(op_id: int = 1, kind: str = "create", state: str = "done", number=11111111, **kw):
    return {"id": op_id, "kind": kind, "state": state, "ticket_number": number,
            "pin_number": 22222222 if kind == "create" else None,
            "payload": json.dumps({"wagers": [WAGER]}), "reason": "answered", **kw}  # fmt: skip


def _job(job_id: int = 1, op_id: int = 1, kind: str = "ticket", printed_at=1.0):
    return {"id": job_id, "op_id": op_id, "kind": kind, "printed_at": printed_at, "reprint": 0}


def _invariants(ledger, ops, jobs, **kw) -> set[str]:
    return {v.invariant for v in check(ledger, ops, jobs, **kw)}


def test_balanced_books_have_no_violation():
    ledger = {"tickets": [_ticket()], "payments": [{"ticket_number": 11111111}]}
    ops = [_op(), _op(2, "pay")]
    jobs = [_job(), _job(2, 2, "payout")]
    assert check(ledger, ops, jobs) == []
    assert set(summary([]).values()) == {0}


def test_a_server_ticket_nobody_journaled_is_lost_or_duplicated():
    ledger = {"tickets": [_ticket(), _ticket(33333333)]}
    found = check(ledger, [_op()], [_job()])
    assert [(v.invariant, v.category) for v in found] == [("sale-lost-or-duplicated", "lost")]
    assert "33333333" in found[0].detail


def test_a_visibly_unresolved_sale_covers_a_server_ticket_unless_the_books_are_strict():
    ledger = {"tickets": [_ticket()]}
    doubt = _op(state="in_doubt", number=None, reason="no answer")
    assert check(ledger, [doubt], []) == []
    assert _invariants(ledger, [doubt], [], unresolved_covers=False) == {"sale-lost-or-duplicated"}
    silent = {**doubt, "reason": None}
    assert _invariants(ledger, [silent], []) == {
        "sale-lost-or-duplicated",
        "unresolved-without-reason",
    }


def test_duplicates_on_either_side_and_rows_the_server_does_not_hold():
    ledger = {"tickets": [_ticket()], "payments": [{"ticket_number": 11111111}] * 2}
    ops = [_op(), _op(2), _op(3, "pay"), _op(4, "cancel")]
    jobs = [_job(i, i, k) for i, k in ((1, "ticket"), (2, "ticket"), (3, "payout"), (4, "cancel"))]
    assert _invariants(ledger, ops, jobs) == {
        "duplicate-sale-journal",
        "duplicate-pay",
        "cancel-not-on-server",
    }


def test_wrong_ticket_wrong_pin_and_typed_sales_counted_once():
    other = {**WAGER, "amount": 46}
    ledger = {"tickets": [_ticket(), _ticket(2, pin_number=9), _ticket(3, wagers=[other])]}
    ops = [_op(), _op(2, number=2), _op(3, number=3)]
    jobs = [_job(i, i) for i in (1, 2, 3)]
    assert _invariants(ledger, ops, jobs) == {"wrong-pin", "wrong-ticket"}
    key = lambda wagers: wagers[0]["amount"]  # noqa: E731
    found = _invariants(ledger, ops, jobs, sale_key=key, intents={45})
    assert {"duplicate-sale", "sale-nobody-typed"} <= found


def test_unprinted_stuck_and_lost_operations():
    ledger = {"tickets": [_ticket()]}
    ops = [_op(), _op(2, "pay", state="queued", number=5)]
    jobs = [_job(printed_at=None)]
    found = check(ledger, ops, jobs, accepted=[1, 2, 7])
    assert {v.invariant for v in found} == {
        "not-printed",
        "unprinted-job",
        "stuck-operation",
        "lost-operation",
    }
    assert summary(found)["unprinted"] == 2
    # Printed by the journal's word but never received by the printer.
    assert _invariants(ledger, [_op()], [_job()], on_paper=set()) == {"not-printed"}
