"""The simulator as an ASGI application (served by uvicorn in `server.py`).

Rules:
- A bare ASGI callable around `dispatch.handle` (the handler the in-process transport uses
  too): no framework routing, so `drop` and `hang` can be shown for real.
- A `delay` fault waits `delay_s` (real time, on this event loop) and then handles the call:
  it commits even if the client gave up. `hang` waits until the client goes away and never
  answers. `drop` asks the server (`on_drop(scope)`) to abort the TCP connection after the call
  was applied; with no server hook (e.g. httpx.ASGITransport) it raises `ConnectionAbortedError`.
- Every answer carries a `Date` header from the simulator's clock (not the host's: a test
  moves the server's clock and the kiosk must learn it from the answers).
- Offline: a connection that was already open when the simulator went offline is aborted too.
- Each Banklot call's arrival (this host's wall time, before any fault) is noted with
  `Simulator.note_arrival`: benches time what reached the server, faults or not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kioskd.proving.sim.dispatch import handle, http_date
from kioskd.proving.sim.simulator import Simulator

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class SimApp:
    """ASGI app of one Simulator. `state.sim` is the simulator (as Starlette apps expose it)."""

    def __init__(self, sim: Simulator, on_drop: Callable[[Scope], None] | None = None) -> None:
        self.sim = sim
        self.on_drop = on_drop
        self.state = self  # so that SimTransport(app) finds `app.state.sim`

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path: str = scope["path"]
        token = None
        for name, value in scope.get("headers", ()):
            if name == b"x-auth-token":
                token = value.decode("latin-1")
        sim = self.sim
        if not path.startswith("/_sim"):
            sim.note_arrival(time.time(), path, body)
        if not path.startswith("/_sim") and sim.is_offline():
            await self._drop(scope, receive)
            return
        fault = sim.take_fault(path)
        if fault is not None and fault.mode == "delay" and fault.delay_s > 0:
            await asyncio.sleep(fault.delay_s)
        reply = handle(sim, scope["method"], path, token, body, fault)
        if reply.action == "hang":
            await _until_disconnect(receive)
            return
        if reply.action == "drop":
            await self._drop(scope, receive)
            return
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (b"content-type", reply.content_type.encode()),
                    (b"content-length", str(len(reply.body)).encode()),
                    (b"date", http_date(sim.now()).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})

    async def _drop(self, scope: Scope, receive: Receive) -> None:
        if self.on_drop is None:
            raise ConnectionAbortedError("simulated: connection dropped")
        self.on_drop(scope)
        await _until_disconnect(receive)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def create_app(sim: Simulator, on_drop: Callable[[Scope], None] | None = None) -> SimApp:
    """The ASGI app serving `sim` (the server passes `on_drop` to abort connections)."""
    return SimApp(sim, on_drop)
