"""Serve the simulator over real HTTP (uvicorn in a background thread).

Rules:
- `SimServer(sim, host, port)` owns one uvicorn server at a time, in its own thread and event
  loop. `start()` / `stop()` may be repeated: the port is kept (port 0 picks a free one on the
  first start) and the state lives in `sim`, so stopping and starting again is a real network
  outage for the client (connection refused in between).
- Stopping aborts every open connection first, so a `hang` never blocks shutdown.
- A `drop` (`commit_then_drop`) aborts the TCP connection of that request (RST), after the call
  was applied: the client sees the connection die with no answer.
- Offline: when `sim.set_offline(True)` is called, the server stops listening (new connections
  are refused) and aborts open ones; `set_offline(False)` listens again. If offline was set over
  HTTP (`POST /_sim/offline`), the answer goes out first; since the admin API is then
  unreachable too, give `"for_s"` to come back by itself (or call `sim.set_offline(False)`).
- Used as a context manager it starts on a free loopback port and stops on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

from kioskd.proving.sim.app import create_app
from kioskd.proving.sim.simulator import Simulator

START_TIMEOUT_S = 10.0


class SimServer:
    def __init__(
        self,
        sim: Simulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "critical",
    ) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self.log_level = log_level
        self._lock = threading.RLock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wanted = False  # start() called and stop() not: what offline returns to
        self._offline_timer: threading.Timer | None = None
        self.app = create_app(sim, on_drop=self._abort_client)
        sim.add_offline_listener(self._on_offline)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SimServer:
        with self._lock:
            self._wanted = True
            if not self.sim.offline:
                self._start_serving()
        return self

    def stop(self) -> None:
        with self._lock:
            self._wanted = False
            self._stop_serving()
            if self._offline_timer is not None:
                self._offline_timer.cancel()
                self._offline_timer = None

    def close(self) -> None:
        """Stop and stop listening to the simulator's offline switch."""
        self.stop()
        self.sim.remove_offline_listener(self._on_offline)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_serving(self) -> None:
        import uvicorn

        if self._server is not None:
            return
        # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only for sockets whose
        # proto says TCP; without it every response body after the first on a keep-alive
        # connection waited ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level=self.log_level,
            access_log=False,
            ws="none",
            date_header=False,  # the app sends the simulator's own Date
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        loop_ready = threading.Event()

        def run() -> None:
            async def serve() -> None:
                self._loop = asyncio.get_running_loop()
                loop_ready.set()
                await server.serve(sockets=[sock])

            try:
                asyncio.run(serve())
            finally:
                sock.close()

        thread = threading.Thread(target=run, name=f"kioskd-sim:{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(timeout=2)
                raise RuntimeError(f"simulator server failed to start on {self.base_url}")
            time.sleep(0.005)
        self._server, self._thread = server, thread

    def _stop_serving(self) -> None:
        server, thread, loop = self._server, self._thread, self._loop
        if server is None or thread is None:
            return
        if loop is not None and thread is not threading.current_thread():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(self._abort_all, server)
        server.should_exit = True
        if thread is not threading.current_thread():
            thread.join(timeout=10)
        self._server = self._thread = self._loop = None

    # ------------------------------------------------------------------ connections

    @staticmethod
    def _abort_all(server: Any) -> None:
        for protocol in list(server.server_state.connections):
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                transport.abort()

    def _abort_client(self, scope: dict[str, Any]) -> None:
        """Abort the TCP connection that carried this request (runs on the server loop)."""
        server = self._server
        client = tuple(scope.get("client") or ())
        if server is None:
            return
        for protocol in list(server.server_state.connections):
            transport = getattr(protocol, "transport", None)
            if transport is None:
                continue
            peer = transport.get_extra_info("peername")
            if peer is not None and tuple(peer[:2]) == client:
                transport.abort()

    # ------------------------------------------------------------------ offline switch

    def _on_offline(self, offline: bool) -> None:
        if self._thread is not None and threading.current_thread() is self._thread:
            # Called while serving `POST /_sim/offline`: let the answer go out first.
            def later() -> None:
                time.sleep(0.05)
                self._apply_offline(offline)

            threading.Thread(target=later, daemon=True).start()
        else:
            self._apply_offline(offline)

    def _apply_offline(self, offline: bool) -> None:
        with self._lock:
            if self._offline_timer is not None:
                self._offline_timer.cancel()
                self._offline_timer = None
            if offline:
                self._stop_serving()
                if self.sim.offline_for_s:
                    timer = threading.Timer(self.sim.offline_for_s, self.sim.set_offline, (False,))
                    timer.daemon = True
                    self._offline_timer = timer
                    timer.start()
            elif self._wanted and not self.sim.offline:
                self._start_serving()
