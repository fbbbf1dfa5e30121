"""In-process httpx transport to the simulator: the network's failure modes without a network.

Rules:
- Calls `dispatch.handle` directly (no ASGI, no routing, no event-loop hops) so that a chaos
  campaign can make hundreds of thousands of calls quickly. The ASGI app shares that handler.
- Turns fault signals into what a socket would show:
  offline -> `httpx.ConnectError` before the request is read (the admin API stays reachable);
  drop -> `httpx.RemoteProtocolError` (after the server applied the call);
  hang, or a delay >= the request's read timeout -> `httpx.ReadTimeout` at once. A delayed call
  still commits (at the current time); a hang applies nothing. A request sent with no read
  timeout at all still gets `ReadTimeout` for a hang (in process, "forever" would block tests).
- Never sleeps for real. With a `VirtualClock`, waiting advances it (a delay by `delay_s`, a
  timeout by the read timeout), so deadlines move as they would; other clocks are left alone.
"""

from __future__ import annotations

import httpx

from kioskd.clock import VirtualClock
from kioskd.proving.sim.dispatch import handle, http_date
from kioskd.proving.sim.simulator import Simulator


class SimTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=SimTransport(sim), base_url="http://banklot.sim")`."""

    def __init__(self, sim: Simulator | object) -> None:
        if not isinstance(sim, Simulator):
            sim = getattr(getattr(sim, "state", None), "sim", None) or getattr(sim, "sim", None)
        if not isinstance(sim, Simulator):
            raise TypeError("SimTransport needs a Simulator or an app made by create_app")
        self.sim = sim
        self.calls = 0

    def _wait(self, seconds: float | None) -> None:
        clock = self.sim.clock
        if seconds and isinstance(clock, VirtualClock):
            clock.advance(seconds)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sim = self.sim
        path = request.url.path
        admin = path.startswith("/_sim")
        if not admin and sim.is_offline():
            raise httpx.ConnectError("simulated: connection refused (offline)", request=request)
        self.calls += 1
        body = request.content if isinstance(request.stream, httpx.ByteStream) else None
        if body is None:
            body = await request.aread()
        token = request.headers.get("x-auth-token")
        timeout = request.extensions.get("timeout") or {}
        read_timeout = timeout.get("read")
        fault = sim.take_fault(path)
        if fault is not None and fault.mode == "delay":
            if read_timeout is not None and fault.delay_s >= read_timeout:
                handle(sim, request.method, path, token, body, fault)
                self._wait(read_timeout)
                raise httpx.ReadTimeout("simulated: read timed out (delay)", request=request)
            self._wait(fault.delay_s)
        reply = handle(sim, request.method, path, token, body, fault)
        if reply.action == "hang":
            self._wait(read_timeout)
            raise httpx.ReadTimeout("simulated: read timed out (hang)", request=request)
        if reply.action == "drop":
            raise httpx.RemoteProtocolError(
                "simulated: server disconnected without sending a response", request=request
            )
        return httpx.Response(
            reply.status,
            headers=[("content-type", reply.content_type), ("date", http_date(sim.now()))],
            content=reply.body,
            request=request,
        )
