"""The daemon's side of the control socket: what each `kioskctl` command does.

Rules: thin. Each method asks the daemon's parts (outbox, spooler, lights, session) and returns
JSON-able data; `ControlError` carries a text for the operator. Operator decisions go to the
outbox, which audits them in the journal with the reason and the caller (`actor`).
"""

from __future__ import annotations

from typing import Any

from kioskd.daemon.control import ControlError


class ControlHandler:
    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def status(self) -> dict[str, Any]:
        return self.daemon.status()

    def queue(self) -> list[dict[str, Any]]:
        return self.daemon.outbox.list_operations()

    async def retry(self, op_id: int) -> dict[str, Any]:
        try:
            op = await self.daemon.outbox.retry(op_id, "retry requested through kioskctl")
        except Exception as exc:
            raise ControlError(f"cannot retry operation {op_id}: {exc}") from exc
        return {"id": op.id, "state": op.state}

    async def resolve(self, op_id: int, outcome: str, reason: str, actor: str) -> dict[str, Any]:
        try:
            op = await self.daemon.outbox.resolve(
                op_id, outcome == "applied", f"{reason} (by {actor})"
            )
        except Exception as exc:
            raise ControlError(f"cannot resolve operation {op_id}: {exc}") from exc
        self.daemon.spooler.wake()
        return {"id": op.id, "state": op.state}

    def reprint_last(self) -> dict[str, Any]:
        self.daemon.inject_keys("*\n")
        return {"requested": "reprint of the last ticket"}

    def print_test(self) -> dict[str, Any]:
        self.daemon.inject_keys("*9\n")
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
