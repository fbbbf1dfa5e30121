"""H11Transport over real loopback sockets: requests and answers, keep-alive and its pool, and
the error each failure becomes, which decides NotSent (nothing written) or InDoubt for money.

The servers are asyncio servers on 127.0.0.1 that read requests byte for byte and write
answers by hand (so they can cut, stall, close or chunk them); one is a thread with plain
sockets, where the test needs the client's event loop not to run while the server closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from kioskd.banklot import errors as e
from kioskd.banklot.client import BanklotClient, tls_failure
from kioskd.banklot.transport import H11Transport

LOGIN = json.dumps({"status": 200, "response": {"x_auth_token": "tok-1"}}).encode()


@dataclass
class Request:
    conn: int  # which connection it came on (0, 1, ... in order of accept)
    head: bytes
    body: bytes

    @property
    def line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]


Answer = Callable[[Request, asyncio.StreamWriter], Awaitable[bool]]  # -> keep the connection


def response(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n".encode()
        + f"content-length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


async def echo(request: Request, writer: asyncio.StreamWriter) -> bool:
    """The connection's number, the request line and body, as JSON; keep-alive."""
    body = {"conn": request.conn, "line": request.line.decode(), "body": request.body.decode()}
    writer.write(response(json.dumps(body).encode()))
    await writer.drain()
    return True


@dataclass
class Server:
    """What the server saw: connections accepted, requests read, bytes after the last one."""

    url: str
    connections: int = 0
    requests: list[Request] = field(default_factory=list)
    leftovers: dict[int, bytes] = field(default_factory=dict)  # conn -> bytes after its end
    closed: set[int] = field(default_factory=set)  # connections the client closed (EOF seen)


@contextlib.asynccontextmanager
async def serving(
    answer: Answer = echo, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    server = Server("")

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = server.connections
        server.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as end:
                    server.leftovers[number] = end.partial
                    server.closed.add(number)
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = Request(number, head, await reader.readexactly(length))
                server.requests.append(request)
                if not await answer(request, writer):
                    return
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=ssl_context)
    scheme = "https" if ssl_context else "http"
    server.url = f"{scheme}://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    async with listener:
        yield server


def client(transport: H11Transport, **timeouts: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, **timeouts))


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


# ------------------------------------------------------------------ requests and answers


async def test_a_get_and_a_post_with_a_body() -> None:
    async with serving() as server, client(H11Transport()) as http:
        got = await http.get(f"{server.url}/gaming/time?x=1", headers={"x-auth-token": "t"})
        sent = await http.post(f"{server.url}/user/ticket/create", json={"ticket": [1, 2]})
    assert got.status_code == 200 and got.http_version == "HTTP/1.1"
    assert got.json() == {"conn": 0, "line": "GET /gaming/time?x=1 HTTP/1.1", "body": ""}
    assert sent.json()["line"] == "POST /user/ticket/create HTTP/1.1"
    assert json.loads(sent.json()["body"]) == {"ticket": [1, 2]}
    heads = [r.head.lower() for r in server.requests]
    assert b"\r\nx-auth-token: t\r\n" in heads[0]
    assert b"\r\nhost: 127.0.0.1:" in heads[0] and b"content-length" not in heads[0]
    assert b"\r\ncontent-type: application/json\r\n" in heads[1]


async def test_the_client_speaks_through_it_by_default() -> None:
    async with (
        serving(lambda r, w: _login(w)) as server,
        BanklotClient(server.url, "a@b", "pw-Secret") as api,
    ):
        assert isinstance(api._http._transport, H11Transport)
        await api.login()
        await api.login()
    assert [r.line for r in server.requests] == [b"POST /auth/login HTTP/1.1"] * 2
    assert json.loads(server.requests[0].body) == {"email": "a@b", "password": "pw-Secret"}
    assert server.connections == 1  # kept alive


async def _login(writer: asyncio.StreamWriter) -> bool:
    writer.write(response(LOGIN))
    await writer.drain()
    return True


# ------------------------------------------------------------------ keep-alive and the pool


async def test_sequential_requests_share_one_connection() -> None:
    async with serving() as server, client(H11Transport()) as http:
        answers = [(await http.get(f"{server.url}/{i}")).json() for i in range(5)]
    assert [a["conn"] for a in answers] == [0] * 5
    assert server.connections == 1


async def test_concurrent_requests_each_get_a_connection_and_the_idle_ones_are_capped() -> None:
    """Five requests the server answers only once all five are in: on one connection they
    would wait for each other for ever. After them, four connections stay idle, the fifth is
    closed; the next five requests reuse the four and open one."""
    everyone = asyncio.Event()
    held = True

    async def answer(request: Request, writer: asyncio.StreamWriter) -> bool:
        if held and len(server.requests) == 5:
            everyone.set()
        if held:
            await everyone.wait()
        return await echo(request, writer)

    transport = H11Transport(max_idle=4)
    async with serving(answer) as server, client(transport) as http:
        async with asyncio.timeout(5):
            answers = await asyncio.gather(*(http.get(f"{server.url}/{i}") for i in range(5)))
        assert sorted(a.json()["conn"] for a in answers) == [0, 1, 2, 3, 4]
        await wait_until(lambda: len(server.closed) == 1)  # one of five over the cap
        held = False
        async with asyncio.timeout(5):
            again = await asyncio.gather(*(http.get(f"{server.url}/{i}") for i in range(5)))
        conns = sorted(a.json()["conn"] for a in again)
        assert server.connections == 6 and conns[-1] == 5
        assert set(conns[:4]) == {0, 1, 2, 3, 4} - server.closed
    assert all(not leftover for leftover in server.leftovers.values())


async def test_aclose_closes_every_connection() -> None:
    transport = H11Transport()
    async with serving() as server, client(transport) as http:
        await asyncio.gather(*(http.get(f"{server.url}/{i}") for i in range(3)))
        assert not server.closed
        await transport.aclose()
        await wait_until(lambda: len(server.closed) == server.connections)


async def test_a_connection_the_server_closed_while_idle_is_never_written_to() -> None:
    """The server ends each connection after its answer (FIN), still reading it: a request
    written there would be in doubt. The next request opens a new connection."""

    async def answer(request: Request, writer: asyncio.StreamWriter) -> bool:
        await echo(request, writer)
        writer.write_eof()  # half-close: whatever the client still writes reaches us
        return True

    async with serving(answer) as server, client(H11Transport()) as http:
        first = await http.get(f"{server.url}/a")
        await asyncio.sleep(0.1)  # the FIN is in
        second = await http.post(f"{server.url}/b", content=b"money")
    assert (first.json()["conn"], second.json()["conn"]) == (0, 1)
    assert server.leftovers.get(0) == b""  # nothing written to the closed one
    assert server.requests[1].body == b"money"


def _closing_server(ready: threading.Event, close: threading.Event, seen: list[bytes]) -> int:
    """A thread with plain sockets: connection 0 answers once, then (on `close`) half-closes
    and records what it still receives; connection 1 answers once. Returns the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    body = response(b"{}")

    def run() -> None:
        with listener:
            first, _ = listener.accept()
            with first:
                first.recv(65536)
                first.sendall(body)
                ready.set()
                close.wait(10)
                first.shutdown(socket.SHUT_WR)
                first.settimeout(2)
                with contextlib.suppress(OSError):
                    seen.append(first.recv(65536))
            listener.settimeout(5)
            second, _ = listener.accept()
            with second:
                seen.append(second.recv(65536))
                second.sendall(body)

    threading.Thread(target=run, daemon=True).start()
    return int(listener.getsockname()[1])


async def test_a_close_the_event_loop_has_not_seen_yet_is_found_on_the_socket() -> None:
    """The server's FIN arrives while the loop is busy (a blocking sleep here): the loop never
    read it, so only the socket can tell; the request goes on a new connection."""
    ready, close, seen = threading.Event(), threading.Event(), []
    port = _closing_server(ready, close, seen)
    async with client(H11Transport()) as http:
        assert (await http.get(f"http://127.0.0.1:{port}/a")).status_code == 200
        assert await asyncio.to_thread(ready.wait, 5)
        close.set()
        time.sleep(0.2)  # the loop stands still: the FIN reaches the socket, not the loop
        second = await http.post(f"http://127.0.0.1:{port}/b", content=b"money")
    assert second.status_code == 200
    assert seen[0] == b""  # the closed connection got nothing
    assert seen[1].startswith(b"POST /b ") and seen[1].endswith(b"money")


async def test_bytes_arriving_while_idle_end_the_connection() -> None:
    """A server that says something on an idle connection (a late 408, say) is not asked
    again there: the next answer must be the next request's, not those bytes."""

    async def answer(request: Request, writer: asyncio.StreamWriter) -> bool:
        await echo(request, writer)
        if request.conn == 0:
            await asyncio.sleep(0.05)
            writer.write(response(b"{}", "408 Request Timeout"))
        return True

    async with serving(answer) as server, client(H11Transport()) as http:
        await http.get(f"{server.url}/a")
        await asyncio.sleep(0.2)
        second = await http.get(f"{server.url}/b")
    assert second.status_code == 200 and second.json()["conn"] == 1


async def test_an_idle_connection_expires() -> None:
    async with serving() as server, client(H11Transport(keepalive_expiry=0.1)) as http:
        await http.get(f"{server.url}/a")
        await asyncio.sleep(0.3)
        assert (await http.get(f"{server.url}/b")).json()["conn"] == 1
        assert (await http.get(f"{server.url}/c")).json()["conn"] == 1
    await wait_until(lambda: 0 in server.closed)


# ------------------------------------------------------------------ bodies


async def test_a_chunked_answer_arrives_as_it_is_sent() -> None:
    more = asyncio.Event()

    async def answer(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await more.wait()
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        return True

    async with serving(answer) as server, client(H11Transport()) as http:
        async with http.stream("GET", f"{server.url}/x") as streamed:
            chunks = streamed.aiter_raw()
            assert await anext(chunks) == b"hello"  # before the rest is even written
            more.set()
            assert b"".join([c async for c in chunks]) == b" world"
        more.clear()
        task = asyncio.ensure_future(http.get(f"{server.url}/y"))
        await asyncio.sleep(0.05)
        more.set()
        assert (await task).content == b"hello world"
    assert server.connections == 1  # a complete chunked answer leaves the connection usable


async def test_an_answer_closed_before_its_body_ended_closes_its_connection() -> None:
    """Only h11's state tells: the rest of the body has not been sent, so nothing waits on the
    socket or in h11's buffer. Reused, the next request would read that body as its answer."""

    async def answer(request: Request, writer: asyncio.StreamWriter) -> bool:
        if request.line.startswith(b"GET /slow"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")  # body later
            return True
        return await echo(request, writer)

    async with serving(answer) as server, client(H11Transport()) as http:
        async with http.stream("GET", f"{server.url}/slow") as streamed:
            assert streamed.status_code == 200  # closed without reading the body
        assert (await http.get(f"{server.url}/next")).json()["conn"] == 1
    await wait_until(lambda: 0 in server.closed)


async def test_an_answer_over_max_body_bytes_is_cut_and_its_connection_closed() -> None:
    big = b"{" + b" " * 5000 + b"}"

    async def answer(request: Request, writer: asyncio.StreamWriter) -> bool:
        if request.line.startswith(b"POST /auth/login"):
            writer.write(response(LOGIN))
        elif request.line.startswith(b"POST /gaming/get-data"):
            writer.write(response(big))
        else:  # /gaming/time: chunked, no length said
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for _ in range(5):
                writer.write(b"3e8\r\n" + b" " * 1000 + b"\r\n")
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async with (
        serving(answer) as server,
        BanklotClient(server.url, "a@b", "pw", max_body_bytes=1000) as api,
    ):
        with pytest.raises(e.BadResponse, match="5002 bytes exceeds 1000"):
            await api.get_data()
        with pytest.raises(e.BadResponse, match="exceeds 1000 bytes"):
            await api.time()
        await api.login()
    # login, get-data (cut: closed), time (cut: closed), login on a third connection
    assert [r.conn for r in server.requests] == [0, 0, 1, 2]


# ------------------------------------------------------------------ failures: NotSent or InDoubt


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


async def test_a_refused_connection_is_a_connect_error_and_not_sent() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    async with client(H11Transport()) as http:
        with pytest.raises(httpx.ConnectError) as info:
            await http.get(url)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    async with BanklotClient(url, "a@b", "pw") as api:
        with pytest.raises(e.NotSent):
            await api.login()


async def test_an_unknown_host_is_a_connect_error() -> None:
    async with client(H11Transport()) as http:
        with pytest.raises(httpx.ConnectError) as info:
            await http.get("http://no-such-host.invalid/")
    assert isinstance(info.value.__cause__, socket.gaierror)


async def test_an_unsupported_scheme_is_refused_before_connecting() -> None:
    transport = H11Transport()
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))


@pytest.mark.parametrize(
    ("reset", "error"), [(False, httpx.RemoteProtocolError), (True, httpx.ReadError)]
)
async def test_a_server_that_reads_and_closes_without_answering_is_in_doubt(
    reset: bool, error: type[Exception]
) -> None:
    """Closed (FIN): RemoteProtocolError; reset (RST): ReadError. Both InDoubt for the client."""

    async def answer(request: Request, writer: asyncio.StreamWriter) -> bool:
        if reset:  # linger on, for 0 s: closing sends RST
            linger = struct.pack("ii", 1, 0)
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        return False  # read, then close

    async with serving(answer) as server:
        async with client(H11Transport()) as http:
            with pytest.raises(error):
                await http.post(f"{server.url}/user/ticket/create", content=b"{}")
        async with BanklotClient(server.url, "a@b", "pw") as api:
            with pytest.raises(e.InDoubt) as info:
                await api.login()
            assert not isinstance(info.value, e.NotSent | e.BadResponse)
    assert len(server.requests) == 2


async def test_a_sale_whose_answer_never_comes_is_in_doubt_not_resent() -> None:
    """Read timeout: ReadTimeout from the transport, InDoubt from the client (never NotSent:
    the request was written, on the connection the login left idle)."""
    answered = asyncio.Event()

    async def answer(request: Request, writer: asyncio.StreamWriter) -> bool:
        if request.line.startswith(b"POST /auth/login"):
            writer.write(response(LOGIN))
            return True
        await answered.wait()  # never, for the sale
        return False

    async with serving(answer) as server:
        async with client(H11Transport(), read=0.3) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"{server.url}/gaming/time")
        async with BanklotClient(server.url, "a@b", "pw", read_timeout=0.3) as api:
            with pytest.raises(e.InDoubt) as info:
                await api.cancel(17)
            assert not isinstance(info.value, e.NotSent | e.BadResponse)
    assert [r.line.split()[1] for r in server.requests] == [
        b"/gaming/time",
        b"/auth/login",
        b"/user/ticket/cancel",
    ]
    assert server.requests[2].conn == server.requests[1].conn  # the login's connection


async def test_a_server_that_reads_nothing_makes_a_big_request_a_write_timeout() -> None:
    """The kernel's buffers fill, the transport pauses, and the write timeout ends it."""
    stuck = asyncio.Event()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stuck.wait()  # reads nothing
        writer.close()

    listener = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/upload"
    async with listener, client(H11Transport(), write=0.3) as http:
        with pytest.raises(httpx.WriteTimeout):
            await http.post(url, content=b"x" * (64 * 1024 * 1024))
        stuck.set()


# ------------------------------------------------------------------ TLS


@pytest.fixture
def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


async def test_https_with_the_ca_trusted_keeps_its_connection(
    server_tls: ssl.SSLContext, cert: tuple[Path, Path]
) -> None:
    trusted = ssl.create_default_context(cafile=str(cert[0]))
    async with serving(ssl_context=server_tls) as server, client(H11Transport(trusted)) as http:
        answers = [await http.post(f"{server.url}/{i}", content=b"tls") for i in range(3)]
    assert [a.json()["conn"] for a in answers] == [0, 0, 0]
    assert answers[2].json()["body"] == "tls"


async def test_https_offers_http_1_1_and_names_the_host(server_tls: ssl.SSLContext) -> None:
    """ALPN says http/1.1 (the server would pick h2 if offered); SNI is the URL's host."""
    names: list[str | None] = []

    def sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        names.append(name)

    server_tls.sni_callback = sni
    protocols: list[str | None] = []

    async def answer(request: Request, writer: asyncio.StreamWriter) -> bool:
        protocols.append(writer.get_extra_info("ssl_object").selected_alpn_protocol())
        return await echo(request, writer)

    async with serving(answer, server_tls) as server, client(H11Transport(False)) as http:
        port = server.url.rsplit(":", 1)[1]
        assert (await http.get(f"https://localhost:{port}/")).status_code == 200
    assert names == ["localhost"] and protocols == ["http/1.1"]


async def test_an_untrusted_certificate_is_a_connect_error_named_by_tls_failure(
    server_tls: ssl.SSLContext,
) -> None:
    """Verification fails in the handshake: not one byte of the request went out (ConnectError:
    NotSent for the client), and the chain still holds the certificate error."""
    async with serving(ssl_context=server_tls) as server:
        async with client(H11Transport(ssl.create_default_context())) as http:
            with pytest.raises(httpx.ConnectError) as info:
                await http.post(f"{server.url}/user/ticket/create", content=b"{}")
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        assert tls_failure(info.value) == "certificate error (self-signed certificate)"
        async with BanklotClient(server.url, "a@b", "pw") as api:
            with pytest.raises(e.NotSent, match="TLS certificate error"):
                await api.login()
    assert server.requests == []
