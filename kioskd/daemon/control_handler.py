"""The daemon's side of the control socket: what each `kioskctl` command does.

Rules: thin. Each method asks the daemon's parts (outbox, spooler, lights, journal) and returns
JSON-able data; `ControlError` carries a text for the operator. Operator decisions go to the
outbox, which audits them in the journal with the reason and the caller (`actor`).
- An operator command never passes through the clerk's counter session: a reprint or a test
  print that arrived as keys would land in whatever the clerk is typing (a draft of wagers
  became a sale that way). Only `inject_scan` / `inject_keys` feed the session, and only when
  `control.allow_inject` allows them (checked by the control server).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from kioskd.daemon.control import ControlError, Encoded

if TYPE_CHECKING:
    from kioskd.daemon.daemon import Daemon
    from kioskd.journal.reader import JournalReader


class ControlHandler:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._reader: JournalReader | None = None  # opened by the first `queue`

    def close(self) -> None:
        """The control server stops: the reader's connection and thread go."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def status(self) -> dict[str, Any]:
        return self.daemon.status()

    async def queue(
        self,
        limit: int | None = None,
        since: float | None = None,
        state: str | None = None,
        before: int | None = None,
    ) -> Encoded:
        """Open operations first, then the last `limit` settled: read by index in the journal
        reader's thread and encoded there, so a big answer neither delays a sale nor grows
        the daemon (issue 19)."""
        from kioskd.journal import states
        from kioskd.journal.reader import (
            QUEUE_MAX,
            QUEUE_SETTLED,
            JournalReader,
            encode,
            queue_listing,
        )
        from kioskd.journal.store import JournalError

        if state is not None and state not in states.STATES:
            raise ControlError(f"queue: unknown state {state!r}; known: {', '.join(states.STATES)}")
        if limit is not None and not 0 <= limit <= QUEUE_MAX:
            raise ControlError(f"queue: limit must be 0..{QUEUE_MAX}")
        if self._reader is None:
            self._reader = JournalReader(self.daemon.journal.path)
        listing = partial(
            queue_listing,
            states_in=None if state is None else (state,),
            limit=QUEUE_SETTLED if limit is None else limit,
            since=since,
            before=before,
        )
        try:
            return Encoded(await self._reader.run(lambda reader: encode(listing(reader))))
        except JournalError as exc:
            raise ControlError(f"queue: cannot read the journal ({exc})") from exc

    async def retry(self, op_id: int) -> dict[str, Any]:
        try:
            op = await self.daemon.outbox.retry(op_id, "retry requested through kioskctl")
        except Exception as exc:
            raise ControlError(f"cannot retry operation {op_id}: {exc}") from exc
        return {"id": op.id, "state": op.state}

    async def resolve(
        self, op_id: int, outcome: str, reason: str, actor: str, force: bool = False
    ) -> dict[str, Any]:
        """Settle by hand only what the daemon cannot (or with `force`); audited with who,
        why and what the daemon knew at that moment."""
        outbox = self.daemon.outbox
        try:
            known = outbox.evidence(op_id)
        except KeyError:
            raise ControlError(f"cannot resolve operation {op_id}: no such operation") from None
        if known["probes_can_decide"] and not force:
            raise ControlError(
                f"operation {op_id} is not left to a person yet: {known['why']}. "
                f"{_seen(known)} Wait for the daemon's decision, or add --force "
                "if you hold proof from the back office."
            )
        detail = {"by": actor, "forced": force, "outcome": outcome, "daemon_knew": known}
        try:
            op = await outbox.resolve(
                op_id, outcome == "applied", f"{reason} (by {actor})", detail=detail
            )
        except Exception as exc:
            raise ControlError(f"cannot resolve operation {op_id}: {exc}") from exc
        self.daemon.spooler.wake()
        return {"id": op.id, "state": op.state, "forced": force, "daemon_knew": known}

    def reprint_last(self) -> dict[str, Any]:
        """A copy of the newest ticket sold here, from the journal (never the API, never keys)."""
        from kioskd.journal.store import JournalError

        d = self.daemon
        try:
            job = d.journal.last_ticket_job()
            if job is None or job.op_id is None:  # the query asks for an op_id
                raise ControlError("no ticket sold on this kiosk yet: nothing to reprint")
            op = d.journal.get(job.op_id)
            d.journal.add_print_job(
                op.id,
                "ticket",
                {"ticket_number": op.ticket_number, "operator": "reprint-last"},
                now=d.clock.now(),
                reprint=True,
            )
        except JournalError as exc:
            raise ControlError(f"cannot reprint: the journal cannot be used ({exc})") from exc
        d.spooler.wake()
        return {"requested": "reprint (copy)", "ticket_number": op.ticket_number, "op_id": op.id}

    def print_test(self) -> dict[str, Any]:
        """The test slip, straight to the spooler."""
        from kioskd.counter import slips

        d = self.daemon
        d.spooler.submit(slips.test_slip(d._slip_context(), d.clock.now(), d.status_info()))
        return {"requested": "test print"}

    def leds_test(self) -> dict[str, Any]:
        seconds = self.daemon.lights.test()
        return {"seconds": seconds}

    def inject_scan(self, text: str) -> dict[str, Any]:
        self.daemon.inject_scan(text)
        return {"injected": "scan", "chars": len(text)}

    def inject_keys(self, text: str) -> dict[str, Any]:
        self.daemon.inject_keys(text)
        return {"injected": "keys", "count": len(text)}


class JournalAttentionHandler:
    """The control socket while the journal is in attention at start: `status` says what was
    found and what to do; every other command is refused with that text."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def status(self) -> dict[str, Any]:
        from kioskd import __version__

        d = self.daemon
        return {
            "version": __version__,
            "terminal_id": d._terminal_id(),
            "state": "attention",
            "journal": d.health.journal,
            "money": "refused: the journal needs a technician",
            "lights": d.lights.current(),
        }

    def close(self) -> None:
        """Nothing opened: the control server's stop finds nothing to close."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def refused(**_kwargs: Any) -> Any:
            raise ControlError(
                f"refused while the journal needs attention: {self.daemon.health.journal}"
            )

        return refused


def _seen(known: dict[str, Any]) -> str:
    """One sentence of what the probes saw (for a refused `resolve`)."""
    seen = [str(h.get("saw")) for h in known.get("seen") or []]
    probes = f"{known.get('probes', 0)} of {known.get('probes_needed', '?')} probes"
    if not seen:
        return f"The probes saw nothing yet ({probes})."
    return f"The probes saw ({probes}): " + "; ".join(seen) + "."
