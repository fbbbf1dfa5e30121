"""`stored_ticket`: a done sale's journal row read back as the Ticket the counter answer and
the slip show, once per Operation object (issue 19: CPU a sale), never stale, always checked."""

from __future__ import annotations

import dataclasses

import pytest

from kioskd.banklot import errors
from kioskd.banklot.models import Ticket
from kioskd.journal import states
from kioskd.outbox.outbox import stored_ticket

from .conftest import Rig


async def test_the_same_row_object_is_read_once_and_equals_a_fresh_reading(rig: Rig) -> None:
    op_id = await rig.sell()
    await rig.drain()
    op = rig.journal.get(op_id)
    assert op.state == states.DONE
    first = stored_ticket(op)
    assert stored_ticket(op) is first
    fresh = Ticket.from_json({**(op.result or {}), "pin_number": op.pin_number})
    assert first == fresh
    assert first.ticket_number == op.ticket_number and first.pin_number == op.pin_number


async def test_another_object_with_other_content_is_read_again(rig: Rig) -> None:
    op_id = await rig.sell()
    await rig.drain()
    op = rig.journal.get(op_id)
    before = stored_ticket(op)
    changed = dataclasses.replace(op, result={**(op.result or {}), "amount": before.amount + 1})
    after = stored_ticket(changed)
    assert after is not before and after.amount == before.amount + 1
    assert stored_ticket(op) == before  # the first object's content, not the last one read


async def test_a_row_that_fails_the_checks_raises_every_time(rig: Rig) -> None:
    op_id = await rig.sell()
    await rig.drain()
    op = rig.journal.get(op_id)
    stored_ticket(op)
    bad = dataclasses.replace(op, result={**(op.result or {}), "ticket_number": "not a number"})
    for _ in range(2):
        with pytest.raises(errors.BadResponse):
            stored_ticket(bad)
