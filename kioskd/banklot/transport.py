"""H11Transport: the API client's HTTP/1.1 transport for httpx, on an asyncio Protocol and h11.

Rules (the client's money contract rests on the first three):
- Errors say whether a byte of the request was written (`client._NOT_SENT_ERRORS`):
    nothing written: DNS failure, refused, TLS handshake failure, connect timeout, a kept
    connection found closed before the first byte went out
                                      -> ConnectError / ConnectTimeout (the OSError, e.g. the
                                         ssl certificate error, is their `__cause__`, which
                                         `client.tls_failure` names)
    scheme other than http and https  -> UnsupportedProtocol
    writing started                   -> WriteError / WriteTimeout, then ReadError / ReadTimeout,
                                         RemoteProtocolError (bytes that break HTTP/1.1, or the
                                         connection closed before the answer was complete)
  A connection the server closes between our check and our write still makes the request in
  doubt: nothing can tell that from a server that read the request and died.
- An idle connection is reused only if nothing came from the server while it was idle: no EOF,
  no reset, no byte (what the event loop saw, then the socket itself: `poll`, as httpcore's
  `has_expired`). A request written to a connection the server had closed would be in doubt,
  and the outbox would reconcile it at length. A byte arriving while idle closes the connection.
- Connections are kept per origin (scheme, host, port): a request takes the newest idle one or
  opens its own, so concurrent requests (the outbox's tasks, a catalog refresh) each have one
  and none waits (the `pool` timeout never applies). At most `max_idle` stay idle an origin,
  each for `keepalive_expiry` seconds.
- Timeouts are `request.extensions["timeout"]` (connect, write, read; None waits for ever),
  each for one wait, as httpcore's; the client's overall deadline bounds the exchange.
- A response's body is read as the caller iterates it; closing the response returns its
  connection to the pool only when h11 says both messages are complete and the connection can
  go on (keep-alive, nothing left over), else closes it. `aclose()` closes every connection.
- Nothing else: one attempt (no retries), no HTTP/2, no proxies, no CONNECT or Upgrade.
  httpx mounts proxy transports from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) only
  when a client is built without `transport=` (httpx 0.29: `allow_env_proxies = trust_env and
  transport is None`): BanklotClient always gives one (httpx's AsyncHTTPTransport before, this
  one now), so kioskd never went through a proxy, and does not now.

Why: issue 19 (CPU per sale, budget 5 ms here). Per loopback exchange with the simulator, in
CPU of the loop's thread (`bench/bench_http.py`, 2026-12-07, bench/RESULTS.md): httpx's default
transport (httpcore's pool on anyio) 1.32 ms, this one 0.45 ms; a whole BanklotClient exchange
1.81 -> 0.98 ms, and 0.70 ms since the client hands its requests to the transport itself
(`AsyncClient.send` left out). httpcore and anyio are no longer imported: a fresh client's
first answer costs 75 ms of CPU instead of 134.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import ssl
import weakref
from collections.abc import AsyncIterator
from typing import Any, cast

import h11
import httpx

from kioskd.banklot import trust

DEFAULT_PORTS = {"http": 80, "https": 443}
WRITE_CHUNK = 64 * 1024  # request bytes gathered before a write (a sale's request: one write)

Origin = tuple[str, str, int]


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: the socket's bytes go to h11 as they arrive; the one request
    on it waits for them (`next_event`) and for the socket to take its bytes (`write`)."""

    def __init__(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
        self.origin = origin
        self.loop = loop
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.busy = True  # a request is on it (False while idle in the pool)
        self.closed = False  # EOF, lost, or closed by us: never used again
        self.idle_since = 0.0
        self._eof = False
        self._error: Exception | None = None  # the socket error that ended it, if any
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None  # while the transport is paused

    # -------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # nobody asked: a late answer, a 408 before closing...
            self.close()
            return
        self.h11.receive_data(data)
        self._wake()

    def eof_received(self) -> bool | None:
        self._end()
        return None  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._error = exc
        self._end()

    def pause_writing(self) -> None:
        self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def _end(self) -> None:
        self.closed = True
        if not self._eof:
            self._eof = True
            self.h11.receive_data(b"")
        self._wake()
        self.resume_writing()

    def _wake(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    # -------------------------------------------------------------- the request's side

    def reusable(self, now: float, expiry: float) -> bool:
        """Idle, alive, not expired, and nothing waiting on its socket (EOF, reset, bytes)."""
        if self.closed or now - self.idle_since > expiry or self.transport is None:
            return False
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return True
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)

    async def write(self, data: bytes | bytearray, timeout: float | None) -> None:
        assert self.transport is not None
        if self.closed:
            raise httpx.WriteError(self._why("the connection closed while writing"))
        self.transport.write(data)
        if self._writable is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._writable
            except TimeoutError:
                raise httpx.WriteTimeout(f"the request not written within {timeout} s") from None
        if self._error is not None:
            raise httpx.WriteError(self._why("")) from self._error

    async def next_event(self, timeout: float | None) -> Any:
        """h11's next event of the answer, waiting for the socket's bytes as it needs them."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._error is not None:
                    raise httpx.ReadError(self._why("")) from self._error
                raise httpx.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            self._readable = self.loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self._readable
            except TimeoutError:
                raise httpx.ReadTimeout(f"no answer within {timeout} s") from None
            finally:
                self._readable = None

    def _why(self, default: str) -> str:
        error = self._error
        return f"{type(error).__name__}: {error}" if error is not None else default

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nothing left to do
                self.transport.close()


class _Body(httpx.AsyncByteStream):
    """A response's body as it arrives; closing it returns the connection or closes it."""

    def __init__(self, pool: H11Transport, conn: _Connection, timeout: float | None) -> None:
        self._pool = pool
        self._conn = conn
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            event = await self._conn.next_event(self._timeout)
            if not isinstance(event, h11.Data):
                return  # EndOfMessage (h11 raises for a body cut short)
            yield bytes(event.data)

    async def aclose(self) -> None:
        self._pool._release(self._conn)


class H11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive over asyncio, an httpx transport (`httpx.AsyncClient(transport=
    ...)`; BanklotClient calls its `handle_async_request` itself).

    `verify`: the `ssl.SSLContext` https:// connections use (its ALPN is set to http/1.1),
    True for the system's CAs (`trust.client_context`), False to check nothing."""

    def __init__(
        self,
        verify: ssl.SSLContext | bool = True,
        *,
        max_idle: int = 4,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self.max_idle = max_idle
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = DEFAULT_PORTS.get(url.scheme)
        if port is None:
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}", request=request)
        if not url.host:
            raise httpx.UnsupportedProtocol("the URL has no host", request=request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        origin = (url.scheme, url.host, url.port or port)
        conn = self._take_idle(origin) or await self._connect(origin, timeouts.get("connect"))
        try:
            await self._write_request(conn, request, timeouts.get("write"))
            read = timeouts.get("read")
            event = await conn.next_event(read)
            while isinstance(event, h11.InformationalResponse):  # 100 Continue and the like
                event = await conn.next_event(read)
        except BaseException:
            conn.close()
            raise
        assert isinstance(event, h11.Response)
        return httpx.Response(
            event.status_code,
            headers=event.headers.raw_items(),
            stream=_Body(self, conn, read),
            extensions={
                "http_version": b"HTTP/" + event.http_version,
                "reason_phrase": event.reason,
            },
            request=request,
        )

    async def aclose(self) -> None:
        self._closed = True
        self._idle.clear()
        for conn in list(self._open):
            conn.close()

    # -------------------------------------------------------------- connections

    def _take_idle(self, origin: Origin) -> _Connection | None:
        """The newest idle connection of `origin` still fit for a request; the unfit are closed."""
        idle = self._idle.get(origin)
        if not idle:
            return None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while idle:
            conn = idle.pop()
            if conn.loop is loop and conn.reusable(now, self.keepalive_expiry):
                conn.busy = True
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        """A new connection (TLS for https); any failure here wrote nothing: ConnectError."""
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        conn = _Connection(origin, loop)
        tls = self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: conn, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"no connection to {host}:{port} within {timeout} s"
            ) from None
        except Exception as exc:  # DNS, refused, unreachable, TLS handshake (ssl.SSLError)
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        self._open.add(conn)
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            if isinstance(self._verify, ssl.SSLContext):
                context = self._verify
            elif self._verify:
                context = trust.client_context()
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["http/1.1"])
            self._ssl = context
        return self._ssl

    def _release(self, conn: _Connection) -> None:
        """Back to the pool when both messages are complete and the connection goes on."""
        if not conn.busy:
            return  # released already
        conn.busy = False
        state = conn.h11
        if (
            self._closed
            or conn.closed
            or state.our_state is not h11.DONE
            or state.their_state is not h11.DONE
        ):
            conn.close()
            return
        state.start_next_cycle()
        if state.trailing_data[0]:  # bytes after the answer: not ours to guess at
            conn.close()
            return
        conn.idle_since = conn.loop.time()
        idle = self._idle.setdefault(conn.origin, [])
        idle[:] = [c for c in idle if not c.closed]
        if len(idle) >= self.max_idle:
            idle.pop(0).close()
        idle.append(conn)

    # -------------------------------------------------------------- the request

    async def _write_request(
        self, conn: _Connection, request: httpx.Request, timeout: float | None
    ) -> None:
        """Head and body through h11, gathered into few writes (one for a small request)."""
        state, stream = conn.h11, request.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # an AsyncClient's always is
        try:
            head = h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            )
            pending = bytearray(state.send(head) or b"")
            written = False
            async for chunk in stream:
                pending += state.send(h11.Data(data=chunk)) or b""
                if len(pending) >= WRITE_CHUNK:
                    await self._write(conn, pending, timeout, written)
                    written, pending = True, bytearray()
            pending += state.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from exc
        await self._write(conn, pending, timeout, written)

    @staticmethod
    async def _write(
        conn: _Connection, data: bytearray, timeout: float | None, written: bool
    ) -> None:
        if not written and conn.closed:
            # A kept connection that died while the body was being read: nothing went out.
            raise httpx.ConnectError("the connection closed before the request was written")
        await conn.write(data, timeout)
