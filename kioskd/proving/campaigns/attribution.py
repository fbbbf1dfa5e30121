"""Who really made each server row: the ground truth the in-process campaigns can see.

Rules:
- The outbox sends an operation's request inside `Outbox._call(op)`; `ObservedOutbox` runs that
  call with the operation's id in a context variable. The in-process simulator handles the
  request in the same task, so when it sells a ticket, pays or cancels, the row is attributed
  to that operation. A late commit (`schedule_late`) runs in the context it was scheduled in.
- Tickets another terminal sells (`origin == "foreign"`) are never attributed.
- Instrumentation only: nothing here changes what the outbox or the simulator decide; the
  books (`books.check(made_by=...)`) turn the attribution into violations.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from kioskd.banklot.models import CancelResult, PayResult, Ticket
from kioskd.journal.store import CANCEL, CREATE, PAY, Operation
from kioskd.outbox.outbox import Outbox
from kioskd.proving.sim.simulator import Simulator

CURRENT_OP: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "kioskd_proving_current_op", default=None
)


class ObservedOutbox(Outbox):
    """The product's outbox; its sends carry the operation's id in `CURRENT_OP`."""

    async def _call(self, op: Operation) -> Ticket | PayResult | CancelResult:
        token = CURRENT_OP.set(op.id)
        try:
            return await super()._call(op)
        finally:
            CURRENT_OP.reset(token)


class _Rows(list[dict[str, Any]]):
    """The simulator's payments or cancellations list; each append is attributed."""

    def __init__(self, rows: list[dict[str, Any]], kind: str, made_by: dict[tuple[str, int], int]):
        super().__init__(rows)
        self.kind, self.made_by = kind, made_by

    def append(self, row: dict[str, Any]) -> None:
        op_id = CURRENT_OP.get()
        if op_id is not None:
            self.made_by.setdefault((self.kind, int(row["ticket_number"])), op_id)
        super().append(row)


def attribute(sim: Simulator) -> dict[tuple[str, int], int]:
    """Instrument `sim` (this instance only); returns the live (kind, ticket) -> op id map."""
    made_by: dict[tuple[str, int], int] = {}
    sell = sim._sell
    schedule_late = sim.schedule_late

    def attributed_sell(wagers: Any, now: float, origin: str) -> Any:
        t = sell(wagers, now, origin)
        op_id = CURRENT_OP.get()
        if op_id is not None and origin == "api":
            made_by[(CREATE, int(t.number))] = op_id
        return t

    def attributed_late(at: float, call: Callable[[], Any]) -> None:
        ctx = contextvars.copy_context()
        schedule_late(at, lambda: ctx.run(call))

    sim._sell = attributed_sell  # type: ignore[method-assign]
    sim.schedule_late = attributed_late  # type: ignore[method-assign]
    sim._payments = _Rows(sim._payments, PAY, made_by)
    sim._cancellations = _Rows(sim._cancellations, CANCEL, made_by)
    return made_by
