"""Issue 19: `kioskctl queue` shows what an operator needs and stays small on a big journal:
open operations first, then the last settled ones (a page, newest settled first), with the
newest history rows of each; `before` pages on, `since` and a state narrow it."""

from __future__ import annotations

import json

from kioskd.journal import states
from kioskd.journal.reader import QUEUE_HISTORY, QUEUE_MAX, QUEUE_SETTLED, queue_listing
from kioskd.proving.history import fill


async def test_open_first_then_a_bounded_page_of_settled(rig) -> None:
    fill(rig.journal, days=8, per_day=150, end=rig.clock.now() - 60)
    rig.sim.arm_fault("/user/ticket/create", "commit_then_drop")
    doubtful = await rig.sell()
    await rig.outbox.step()
    for _ in range(QUEUE_HISTORY + 5):  # a long history of notes
        rig.journal.note(doubtful, "probe", now=rig.clock.now(), detail={"saw": "nothing"})
    listed = queue_listing(rig.journal)
    assert listed[0]["id"] == doubtful and listed[0]["state"] == states.IN_DOUBT
    assert len(listed[0]["history"]) == QUEUE_HISTORY
    assert listed[0]["history_total"] > QUEUE_HISTORY
    settled = listed[1:]
    assert len(settled) == QUEUE_SETTLED
    times = [op["updated_at"] for op in settled]
    assert times == sorted(times, reverse=True)
    newest = rig.journal.conn.execute(
        "SELECT MAX(updated_at) FROM operations WHERE state IN ('done','rejected','expired')"
    ).fetchone()[0]
    assert times[0] == newest
    assert len(json.dumps(listed)) < 100_000  # 1,200 operations in the journal
    # The next page starts where this one ended; no operation twice.
    nxt = queue_listing(rig.journal, before=settled[-1]["id"])
    assert nxt and nxt[0]["updated_at"] <= times[-1]
    assert not {op["id"] for op in nxt} & {op["id"] for op in listed}
    assert all(op["state"] in states.TERMINAL for op in nxt)  # open ones only on page one
    # One state, since a time, and the cap.
    only = queue_listing(rig.journal, ("rejected",), limit=QUEUE_MAX)
    assert only and {op["state"] for op in only} == {"rejected"}
    since = rig.clock.now() - 2 * 86400
    recent = queue_listing(rig.journal, limit=10_000, since=since)
    assert len(recent) <= 1 + QUEUE_MAX
    assert all(op["updated_at"] >= since for op in recent[1:])
