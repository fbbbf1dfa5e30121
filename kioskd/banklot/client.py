"""BanklotClient: one typed async method per endpoint of the Grupo Banklot API (httpx).

Rules (what the outbox relies on to move money exactly once):
- Every failure is one `kioskd.banklot.errors` class; nothing else escapes (except cancellation).
  Classification, by what is known about the *effect*:
    connect error, DNS, TLS handshake, connect/pool timeout  -> NotSent (no byte written)
    read/write timeout or error, protocol error, overall deadline, HTTP 5xx or body status 5xx
                                                             -> InDoubt
    HTTP 500, 501 or 505+ carrying the API's JSON error envelope with the same status
                                                             -> ServerError (a kind of InDoubt:
                                                                the request is over)
- Only the API's own answer ends a request (`ends_request`). An answer ends a request when it
  is definitive about the effect: a 2xx envelope (applied), an envelope `error` (a Rejected:
  nothing applied), a 403 (refused before any handler ran), or the API's own 5xx error
  envelope (ServerError: the handler failed and returned, so nothing of the request can commit
  later). 502, 503 and 504 never end a request, whatever their body: gateways and proxies in
  front of the API answer them on their own while the upstream request runs on (a gateway's
  `{"status":502,"error":"Bad Gateway"}` is indistinguishable from an envelope). Neither do
  HTML, empty, cut or non-envelope bodies, nor a 5xx envelope whose status disagrees with the
  HTTP status. Remaining risk: a proxy answering HTTP 500 with a JSON `{"status": 500,
  "error": ...}` of its own is still taken as the API's; the outbox's probe then decides "not
  applied" on its first empty look, and a commit arriving after that would be sold twice.
    unreadable answer (not JSON, HTML, wrong types, empty, bigger than max_body_bytes)
                                                             -> BadResponse (a kind of InDoubt)
    envelope `error` (even with HTTP 200)                    -> Rejected subclass (rejection_for)
    HTTP 403 or body status 403                              -> log in again once, then AuthFailed
- The body envelope is authoritative: `{"status": N, "error": "..."}` is an error whatever the
  HTTP status; the body status is the one reported.
- httpx never retries: its transport here, `H11Transport` (kioskd/banklot/transport.py), makes
  one attempt per call, visible in logs (httpx's own retried only connecting, and was given
  `retries=0`). An injected `transport` replaces it (tests: httpx.MockTransport, the
  simulator's SimTransport). The client itself retries nothing, with one
  exception: after a 403 it logs in again and resends the call once. That is safe for reads and
  also for mutating calls: a 403 is a definitive refusal by the auth layer before any handler ran
  (the simulator and the seed both say "token expired / deprecated version"), so nothing was
  applied and the resend is the first effective attempt. `retry_mutations_after_login=False`
  turns this off for mutations (they then raise AuthFailed, which also means "not applied").
- A login needed *before* a call is part of that call: if it fails without a definitive answer,
  the call was not sent (NotSent), never InDoubt. Concurrent callers share one login attempt
  with a short deadline of its own (`login_deadline`), so a hanging login costs every caller
  that one bounded wait, never one login each in turn.
- Bodies are read as a stream and cut at `max_body_bytes`; the whole exchange has an overall
  deadline as well as the connect/read timeouts, so a server trickling bytes cannot hang us.
- Logs (`kioskd.banklot`) carry method, endpoint, status, duration and error class only. The
  password, token and PIN never appear in logs, reprs or exception texts; server error texts are
  scrubbed of them before they become exception messages.
- httpx and the transport (with h11, http.client, email, idna; not httpcore or anyio: a fresh
  interpreter's client costs ~75 ms of CPU here up to its first answer, ~1 s on a Pi 3B;
  `bench/bench_http.py`) are imported when the HTTP client is built, not with this module:
  at once when the caller gives a `transport` (httpx is in already: the transport is its
  object), else by `prepare()`, which the daemon runs in a worker after READY=1, or by the
  first request, in a worker too, so the event loop never imports it (issue 19: CPU to READY).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from kioskd.banklot import models as m
from kioskd.banklot import trust
from kioskd.banklot.errors import (
    AuthFailed,
    BadResponse,
    BanklotError,
    InDoubt,
    NotSent,
    Rejected,
    ServerError,
    TicketNotFound,
    rejection_for,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("kioskd.banklot")

T = TypeVar("T")

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# A login answers at once or is broken: the connection gets the connect timeout, the answer
# this long (not the read timeout, sized for a slow create). Every call waiting for a token
# waits for that one bounded attempt, then is not sent (NotSent) and queued.
LOGIN_ANSWER_S = 3.0
USER_AGENT = "kioskd-banklot/0.1"

# Exceptions raised before any request byte is written.
# OpenSSL verify codes worth a name of their own (the rest: "certificate error (reason)").
_TLS_VERIFY_NAMES = {
    10: "certificate expired",
    9: "certificate not yet valid (check the clock)",
    18: "certificate error (self-signed certificate)",
    19: "certificate error (self-signed certificate in chain)",
    20: "certificate error (unknown issuer)",
    62: "certificate name mismatch",
}


def tls_failure(exc: BaseException) -> str | None:
    """A TLS failure named for a person (certificate error, name mismatch, expired...), found
    in the exception's chain; None when the failure was not TLS."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            name = _TLS_VERIFY_NAMES.get(seen.verify_code)
            if name is None and "hostname" in str(seen.verify_message).lower():
                name = "certificate name mismatch"
            return name or f"certificate error ({seen.verify_message})"
        if isinstance(seen, ssl.SSLError):
            return f"handshake failed ({seen.reason or seen.__class__.__name__})"
        seen = (
            seen.__cause__
            or seen.__context__
            or (seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None)
        )
    return None


# httpx's exceptions (by name: httpx is imported later) raised before any request byte is written.
_NOT_SENT_ERRORS = (
    "ConnectError",
    "ConnectTimeout",
    "PoolTimeout",
    "UnsupportedProtocol",
    "InvalidURL",
)


@functools.cache
def _not_sent_errors() -> tuple[type[Exception], ...]:
    """httpx's exceptions raised before any request byte is written (`_NOT_SENT_ERRORS`)."""
    import httpx

    return tuple(getattr(httpx, name) for name in _NOT_SENT_ERRORS)


class _Secret:
    """Holds a secret so that an accidental repr or log of it shows nothing."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


class _Forbidden(Exception):
    """Internal: a 403 answer (token refused). Carries only safe text."""

    def __init__(self, endpoint: str, status: int) -> None:
        super().__init__(endpoint)
        self.endpoint = endpoint
        self.status = status


@dataclass(frozen=True, slots=True)
class TicketImage:
    """What `/user/ticket/image/<uuid>` answered: raw bytes and their content type."""

    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class _Answer:
    """One answer as read: HTTP status, content type, raw body and its JSON envelope."""

    http_status: int
    content_type: str
    body: bytes
    envelope: Mapping[str, Any] | None  # None when the answer is not JSON (e.g. an image)
    # sha256 of `body` (hex), when the call asked for it (`_call(digest=...)`)
    digest: str | None = None
    # the body is byte for byte the one the caller's known digest was taken of: neither
    # decoded nor classified again (the caller holds what it decoded from it before)
    unchanged: bool = False


def _known_or(
    classify: Callable[[], _Answer], known: str | bool, raw: bytes, http_status: int
) -> _Answer:
    """`classify()` with the body's sha256 added, or, for a 2xx body whose sha256 is `known`,
    an `unchanged` answer without classifying (see `BanklotClient._exchange`)."""
    taken = hashlib.sha256(raw).hexdigest()
    if taken == known and 200 <= http_status < 300:
        return _Answer(http_status, "", raw, None, taken, unchanged=True)
    return dataclasses.replace(classify(), digest=taken)


# HTTP statuses that gateways, proxies and load balancers answer on their own (bad gateway,
# unavailable, gateway timeout): whatever the body, the upstream request may still be running.
GATEWAY_STATUSES = frozenset({502, 503, 504})

# An answer bigger than this is decoded and validated in a worker thread, not on the event loop
# (the catalog's products and inventory template: hundreds of KB to MB). Small answers (a sale,
# a payout: a few KB) stay on the loop, where a thread hop would cost more than the decode.
OFF_LOOP_BYTES = 64 * 1024


def ends_request(http_status: int, raw: bytes) -> bool:
    """Is this 5xx answer the API's own error envelope, which ends the request at the server
    (`ServerError`)? Only when all of these hold:
    - the HTTP status is >= 500 and not a gateway's (502, 503, 504): a gateway answers those
      itself while the upstream request may still commit, and its JSON error body
      (`{"status": 502, "error": "Bad Gateway"}`) looks exactly like the API's envelope;
    - the body is a JSON object whose `status` is an int equal to the HTTP status (the API
      writes the status it answers; a body that disagrees is not the API speaking about this
      request) and whose `error` is a non-empty text.
    Anything else (HTML, empty, cut or non-envelope bodies) is a plain InDoubt: the quiet
    period applies. The remaining risk: a proxy that answers 500 (or 501, 505+) with a JSON
    object `{"status": 500, "error": "..."}` of its own is still taken for the API."""
    if http_status < 500 or http_status in GATEWAY_STATUSES:
        return False
    try:
        env = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    if not isinstance(env, Mapping):
        return False
    status, error = env.get("status"), env.get("error")
    if isinstance(status, bool) or not isinstance(status, int) or status != http_status:
        return False
    return isinstance(error, str) and bool(error.strip())


def _iso_day(day: date | str, what: str) -> str:
    if isinstance(day, date):
        return day.isoformat()
    try:
        return date.fromisoformat(day).isoformat()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a date or YYYY-MM-DD") from exc


def _between(between: Sequence[str]) -> list[str]:
    """A `between_created_at` pair (see `kioskd.banklot.days.local_day_range`)."""
    if len(between) != 2 or not all(isinstance(x, str) for x in between):
        raise ValueError("between must be two ISO strings (start, end)")
    return [between[0], between[1]]


def _ticket_number(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("ticket_number must be a non-negative int")
    return value


def _outcome_class(exc: BaseException) -> str:
    """An exchange's error -> one of a few words for metrics (a bounded label set)."""
    if isinstance(exc, BadResponse):
        return "bad_response"
    if isinstance(exc, InDoubt):
        return "in_doubt"
    if isinstance(exc, NotSent):
        return "not_sent"
    if isinstance(exc, AuthFailed):
        return "forbidden"
    return "rejected"  # the server answered with an error text


class BanklotClient:
    """Async client for the Banklot API. Use as `async with BanklotClient(...) as api:`.

    Parameters: `base_url` of the API; `email`/`password` of the terminal's account;
    `transport` an httpx async transport (tests: `httpx.MockTransport`, the simulator's
    `SimTransport`); `connect_timeout`/`read_timeout` in seconds (write uses the read timeout,
    the connection pool the connect timeout); `deadline` the overall limit of one exchange
    (default connect + read timeout); `verify` TLS verification, `ca_bundle` a PEM file path;
    `max_body_bytes` the largest answer read; `login_deadline` the limit of one login attempt,
    shared by every caller waiting for a token (default: connect timeout + 3 s, at most
    `deadline`); `on_exchange(endpoint, seconds, outcome)` is told
    of every exchange (metrics): the endpoint template (never a ticket number or PIN), its
    duration, and `ok`, `rejected`, `forbidden`, `not_sent`, `in_doubt` or `bad_response`.
    `on_answer(http_status, date_header, started, ended)` is told of every HTTP answer (the
    server-time estimator, `kioskd/servertime.py`): its `Date` header (None if absent) and the
    instants of `monotonic` (the daemon's CLOCK_BOOTTIME) before the first byte was written and
    once the answer's headers arrived (the server stamped its Date in between).
    """

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        deadline: float | None = None,
        verify: bool = True,
        ca_bundle: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        retry_mutations_after_login: bool = True,
        on_exchange: Callable[[str, float, str], None] | None = None,
        on_answer: Callable[[int, str | None, float, float], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        login_deadline: float | None = None,
    ) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.base_url = base_url.rstrip("/")
        self.email = email
        self._password = _Secret(password)
        self._token: _Secret | None = None
        self._login_task: asyncio.Future[None] | None = None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline if deadline is not None else connect_timeout + read_timeout
        if login_deadline is None:
            login_deadline = min(self.deadline, connect_timeout + LOGIN_ANSWER_S)
        if login_deadline <= 0:
            raise ValueError("login_deadline must be positive")
        self.login_deadline = login_deadline
        self.max_body_bytes = max_body_bytes
        self.retry_mutations_after_login = retry_mutations_after_login
        self.on_exchange = on_exchange
        self.on_answer = on_answer
        self._monotonic = monotonic
        # The CA store is set up only for an https:// API: every request goes to base_url
        # (relative paths, no redirects followed), so an http:// client never makes a TLS
        # connection. It is set up here, not with httpx, so that a missing `ca_bundle` fails
        # the construction; the system's CAs are read one by one as a handshake needs them
        # (`trust`: 33 ms of CPU and 1.2 MB less than reading them all at start).
        self._tls: ssl.SSLContext | bool = False
        if transport is None and verify and self.base_url.lower().startswith("https://"):
            self._tls = trust.client_context(ca_bundle)
        self._transport = transport
        self._http_client: httpx.AsyncClient | None = None
        self._sender: httpx.AsyncBaseTransport | None = None  # the client's transport
        self._building = threading.Lock()
        self._urls: dict[str, httpx.URL] = {}  # API path -> its absolute URL, made once
        if transport is not None:
            self.prepare()  # httpx is in: the transport is its object

    def prepare(self) -> None:
        """Import httpx and build the HTTP client, once (thread-safe: the daemon calls this in a
        worker after READY=1; a request that comes first waits for it in a worker too)."""
        with self._building:
            if self._http_client is not None:
                return
            import httpx

            transport = self._transport
            if transport is None:
                from kioskd.banklot.transport import H11Transport

                transport = H11Transport(verify=self._tls)
            # Requests go to the transport itself (`_send`): what `AsyncClient.send` adds
            # around it (auth and redirect flows, cookies, hooks; none of them used here)
            # cost as much CPU as the transport, about 0.5 ms an exchange (issue 19,
            # `bench/bench_http.py`). The client still builds each request (base URL,
            # headers, timeouts) and closes the transport.
            self._sender = transport
            self._http_client = httpx.AsyncClient(
                base_url=self.base_url,
                transport=transport,
                timeout=httpx.Timeout(
                    connect=self.connect_timeout,
                    read=self.read_timeout,
                    write=self.read_timeout,
                    pool=self.connect_timeout,
                ),
                follow_redirects=False,
                headers={"user-agent": USER_AGENT, "accept": "application/json"},
            )

    @property
    def _http(self) -> httpx.AsyncClient:
        """The HTTP client, built on the caller's thread if nothing built it yet."""
        if self._http_client is None:
            self.prepare()
        assert self._http_client is not None
        return self._http_client

    def __repr__(self) -> str:
        state = "logged in" if self._token is not None else "logged out"
        return f"<BanklotClient {self.base_url} {state}>"

    async def __aenter__(self) -> BanklotClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()

    @property
    def logged_in(self) -> bool:
        return self._token is not None

    # ------------------------------------------------------------------ auth

    async def login(self) -> None:
        """`POST /auth/login`. AuthFailed if refused; NotSent/InDoubt/BadResponse as any call."""
        endpoint = "/auth/login"
        body = {"email": self.email, "password": self._password.get()}
        try:
            answer = await self._exchange("POST", endpoint, body, token=None)
        except _Forbidden as exc:
            raise AuthFailed("login refused", endpoint=endpoint, status=exc.status) from None
        except Rejected as exc:
            raise AuthFailed("login refused", endpoint=endpoint, status=exc.status) from None
        env = self._envelope(answer, endpoint)
        inner = env.get("response")
        token = inner.get("x_auth_token") if isinstance(inner, Mapping) else None
        if token is None:
            token = env.get("x_auth_token")
        if not isinstance(token, str) or not token:
            raise BadResponse("login answer has no x_auth_token", endpoint=endpoint)
        self._token = _Secret(token)
        log.info("banklot login ok")

    async def logout(self) -> None:
        """`GET /auth/logout`. Forgets the token whatever happens; a 403 means already out."""
        if self._token is None:
            return
        token, self._token = self._token, None
        with contextlib.suppress(_Forbidden):
            await self._exchange("GET", "/auth/logout", None, token=token)

    async def _ensure_token(self, stale: _Secret | None) -> _Secret:
        """Log in if there is no token (or it is the stale one). Concurrent callers share one
        bounded attempt (`login_deadline`): a hanging login holds every caller for that long
        once, not one login per caller in turn, and its failure is every caller's."""
        if self._token is not None and self._token is not stale:
            return self._token
        if self._login_task is None or self._login_task.done():
            self._token = None
            self._login_task = asyncio.ensure_future(self._bounded_login())
            # A failure nobody awaits any more (callers cancelled) must not warn at exit.
            self._login_task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
        await asyncio.shield(self._login_task)
        assert self._token is not None
        return self._token

    async def _bounded_login(self) -> None:
        """One login attempt within `login_deadline`; anything but a definitive answer means
        the call waiting for it was not sent (NotSent), never in doubt."""
        try:
            async with asyncio.timeout(self.login_deadline):
                await self.login()
        except (AuthFailed, NotSent):
            raise
        except TimeoutError:
            raise NotSent(
                f"login did not complete within {self.login_deadline:g} s", endpoint="/auth/login"
            ) from None
        except InDoubt as exc:
            # Only the login is in doubt; the call itself was never sent.
            raise NotSent(
                f"login did not complete ({type(exc).__name__})", endpoint=exc.endpoint
            ) from exc

    async def _call(
        self,
        method: str,
        endpoint: str,
        body: Mapping[str, object] | None,
        *,
        mutating: bool,
        secrets: tuple[str, ...] = (),
        path: str | None = None,
        digest: str | bool = False,
    ) -> _Answer:
        """One API call with the token; after a 403, one fresh login and one resend.
        `digest`: True, the answer carries its body's sha256; a digest, the same and the
        answer is `unchanged` when its 2xx body has that digest (see `_exchange`)."""
        token = await self._ensure_token(None)
        try:
            return await self._exchange(
                method, endpoint, body, token=token, secrets=secrets, path=path, digest=digest
            )
        except _Forbidden as exc:
            if mutating and not self.retry_mutations_after_login:
                self._token = None
                raise AuthFailed("token refused", endpoint=endpoint, status=exc.status) from None
            log.info("banklot %s forbidden; logging in again once", endpoint)
        token = await self._ensure_token(token)
        try:
            return await self._exchange(
                method, endpoint, body, token=token, secrets=secrets, path=path, digest=digest
            )
        except _Forbidden as exc:
            self._token = None
            raise AuthFailed(
                "still forbidden after a fresh login", endpoint=endpoint, status=exc.status
            ) from None

    # ------------------------------------------------------------------ one exchange

    async def _exchange(
        self,
        method: str,
        endpoint: str,
        body: Mapping[str, object] | None,
        *,
        token: _Secret | None,
        secrets: tuple[str, ...] = (),
        path: str | None = None,
        digest: str | bool = False,
    ) -> _Answer:
        """Send once, read the answer within the deadline, classify. Raises _Forbidden on 403.
        With `digest` (see `_call`), the body's sha256 is taken; a 2xx body whose sha256 is
        the known one is the body the caller decoded and checked before, byte for byte: its
        classification could only come out the same, so it is skipped (`unchanged`)."""
        headers = {"x-auth-token": token.get()} if token is not None else {}
        started = time.monotonic()
        status: int | None = None
        try:
            async with asyncio.timeout(self.deadline):
                http_status, content_type, raw = await self._send(
                    method, path or endpoint, endpoint, body, headers
                )
            status = http_status
            classify = functools.partial(
                self._classify, endpoint, http_status, content_type, raw, secrets, token
            )
            if digest is not False:
                classify = functools.partial(_known_or, classify, digest, raw, http_status)
            if len(raw) > OFF_LOOP_BYTES:
                # A catalog answer (megabytes of JSON) decoded here held the loop 70-87 ms
                # of CPU: the same `_classify` runs in a worker, its errors raised unchanged.
                answer = await asyncio.to_thread(classify)
            else:
                answer = classify()
        except _Forbidden:
            self._log(method, endpoint, 403, started, "forbidden", "forbidden")
            raise
        except TimeoutError:
            self._log(method, endpoint, status, started, "InDoubt", "in_doubt")
            raise InDoubt(
                f"no complete answer within the {self.deadline:g} s deadline", endpoint=endpoint
            ) from None
        except BanklotError as exc:
            self._log(
                method, endpoint, exc.status, started, type(exc).__name__, _outcome_class(exc)
            )
            raise
        self._log(method, endpoint, answer.http_status, started, "ok", "ok")
        return answer

    async def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        body: Mapping[str, object] | None,
        headers: dict[str, str],
    ) -> tuple[int, str, bytes]:
        """Write the request and read the answer as a stream, cut at max_body_bytes."""
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        if self._http_client is None:  # not prepared yet: httpx is imported off the loop
            try:
                await asyncio.to_thread(self.prepare)
            except Exception as exc:  # nothing was written
                raise NotSent(f"not sent: {type(exc).__name__}", endpoint=endpoint) from None
        import httpx  # in sys.modules by now: the handlers below name its exceptions

        started = self._monotonic()
        try:
            request = self._http.build_request(method, self._url(path), **kwargs)
            assert self._sender is not None  # set with the client (`prepare`)
            response = await self._sender.handle_async_request(request)
            response.request = request
            try:
                self._answered(response, started)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_body_bytes:
                    raise BadResponse(
                        f"answer of {int(declared)} bytes exceeds {self.max_body_bytes}",
                        endpoint=endpoint,
                        status=response.status_code,
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise BadResponse(
                            f"answer exceeds {self.max_body_bytes} bytes",
                            endpoint=endpoint,
                            status=response.status_code,
                        )
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "")
                return response.status_code, content_type, b"".join(chunks)
            finally:
                await response.aclose()
        except _not_sent_errors() as exc:
            tls = tls_failure(exc)
            what = f"TLS {tls}" if tls else type(exc).__name__
            raise NotSent(f"not sent: {what}", endpoint=endpoint) from None
        except httpx.DecodingError as exc:
            raise BadResponse(
                f"undecodable answer: {type(exc).__name__}", endpoint=endpoint
            ) from None
        except httpx.TimeoutException as exc:
            raise InDoubt(f"no answer: {type(exc).__name__}", endpoint=endpoint) from None
        except httpx.HTTPError as exc:
            raise InDoubt(f"connection failed: {type(exc).__name__}", endpoint=endpoint) from None
        except (BanklotError, TimeoutError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a transport bug must still be one of our classes
            raise InDoubt(f"transport failed: {type(exc).__name__}", endpoint=endpoint) from None

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of an API path, made once per path: httpx would parse the base
        URL and merge the path again at every request (about 60 us of each here; issue 19,
        CPU per sale). The same URL httpx makes: the base URL's path, then the API path."""
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= 64:  # paths with a ticket's uuid in them: bounded
                self._urls.clear()
            url = self._urls[path] = self._http.build_request("GET", path).url
        return url

    def _answered(self, response: httpx.Response, started: float) -> None:
        """Tell `on_answer` of an answer's `Date` (its headers are in: the server has spoken)."""
        if self.on_answer is not None:
            with contextlib.suppress(Exception):  # the clock must never break a money call
                self.on_answer(
                    response.status_code, response.headers.get("date"), started, self._monotonic()
                )

    def _classify(
        self,
        endpoint: str,
        http_status: int,
        content_type: str,
        raw: bytes,
        secrets: tuple[str, ...],
        token: _Secret | None,
    ) -> _Answer:
        """HTTP status + body -> an _Answer, or the error it means."""
        if http_status == 403:
            raise _Forbidden(endpoint, 403)
        if http_status == 204:
            return _Answer(http_status, content_type, raw, {})
        if http_status >= 500:
            if ends_request(http_status, raw):
                raise ServerError(
                    f"API error HTTP {http_status}", endpoint=endpoint, status=http_status
                )
            who = "gateway" if http_status in GATEWAY_STATUSES else "server"
            raise InDoubt(f"{who} error HTTP {http_status}", endpoint=endpoint, status=http_status)
        envelope: Mapping[str, Any] | None = None
        is_json = "json" in content_type.lower() or raw[:1] in (b"{", b"[")
        if 200 <= http_status < 300 and raw and not is_json:
            # Not JSON but a 2xx: only the image endpoint accepts this (see `image`).
            return _Answer(http_status, content_type, raw, None)
        if not raw.strip():
            raise BadResponse("empty answer", endpoint=endpoint, status=http_status)
        try:
            envelope = json.loads(raw)
        except (ValueError, RecursionError):
            kind = "an HTML page" if b"<html" in raw[:512].lower() else "not JSON"
            raise BadResponse(f"answer is {kind}", endpoint=endpoint, status=http_status) from None
        if not isinstance(envelope, Mapping):
            raise BadResponse("answer is not a JSON object", endpoint=endpoint, status=http_status)
        body_status = envelope.get("status")
        if body_status is not None and (
            isinstance(body_status, bool) or not isinstance(body_status, int)
        ):
            raise BadResponse("envelope status is not an int", endpoint=endpoint)
        status = body_status if body_status is not None else http_status
        error = envelope.get("error")
        if status == 403:
            raise _Forbidden(endpoint, status)
        if status >= 500:
            # A 5xx body status under a non-5xx HTTP status disagrees with it: not the API's
            # own envelope about this request (see `ends_request`), so it ends nothing.
            raise InDoubt(f"server error status {status}", endpoint=endpoint, status=status)
        if error is not None:
            if not isinstance(error, str) or not error.strip():
                raise BadResponse("envelope error is not a text", endpoint=endpoint, status=status)
            text = self._scrub(error, secrets, token)
            raise rejection_for(text, endpoint=endpoint, status=status)
        if not 200 <= http_status < 300:
            raise BadResponse(
                f"HTTP {http_status} without an error text", endpoint=endpoint, status=status
            )
        return _Answer(http_status, content_type, raw, envelope)

    def _scrub(self, text: str, secrets: tuple[str, ...], token: _Secret | None) -> str:
        """Remove anything secret a server might echo in an error text."""
        for secret in (*secrets, self._password.get(), token.get() if token else ""):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _log(
        self,
        method: str,
        endpoint: str,
        status: int | None,
        started: float,
        outcome: str,
        kind: str,
    ) -> None:
        seconds = time.monotonic() - started
        ms = seconds * 1000
        level = logging.DEBUG if outcome == "ok" else logging.WARNING
        log.log(level, "banklot %s %s -> %s %s in %.0f ms", method, endpoint, status, outcome, ms)
        if self.on_exchange is not None:
            with contextlib.suppress(Exception):  # metrics must never break a money call
                self.on_exchange(endpoint, seconds, kind)

    # ------------------------------------------------------------------ parsing helpers

    @staticmethod
    def _envelope(answer: _Answer, endpoint: str) -> Mapping[str, Any]:
        if answer.envelope is None:
            raise BadResponse("answer is not JSON", endpoint=endpoint, status=answer.http_status)
        return answer.envelope

    def _parse(self, answer: _Answer, endpoint: str, key: str, parse: Callable[[Any], T]) -> T:
        env = self._envelope(answer, endpoint)
        try:
            if key not in env:
                raise BadResponse(f"envelope has no {key!r}")
            return parse(env[key])
        except BadResponse as exc:
            raise BadResponse(exc.message, endpoint=endpoint, status=answer.http_status) from None

    def _rows(self, answer: _Answer, endpoint: str, model: type[T]) -> tuple[T, ...]:
        """A list answer; `{"status": 201, "total": 0}` (no `response`) means no rows."""
        env = self._envelope(answer, endpoint)
        if env.get("response") is None and env.get("total") == 0:
            return ()
        return self._parse(answer, endpoint, "response", lambda v: m.parse_list(v, model))

    async def _rows_off_loop(self, answer: _Answer, endpoint: str, model: type[T]) -> tuple[T, ...]:
        """`_rows`, in a worker when the answer is big (validating thousands of rows is CPU)."""
        if len(answer.body) > OFF_LOOP_BYTES:
            return await asyncio.to_thread(self._rows, answer, endpoint, model)
        return self._rows(answer, endpoint, model)

    # ------------------------------------------------------------------ tickets

    async def ticket(self, ticket_number: int, date: date | str) -> m.Ticket:
        """`POST /user/ticket`: one ticket by number and sale date (YYYY-MM-DD)."""
        endpoint = "/user/ticket"
        body = {"ticket_number": _ticket_number(ticket_number), "date": _iso_day(date, "date")}
        answer = await self._call("POST", endpoint, body, mutating=False)
        return self._parse(answer, endpoint, "response", m.Ticket.from_json)

    async def tickets(
        self,
        between: Sequence[str],
        *,
        status: str | None = None,
        transaction_type: str | None = None,
        sort: Mapping[str, object] | None = None,
        order_by: Sequence[Mapping[str, object]] | None = None,
    ) -> tuple[m.TicketSummary, ...]:
        """`POST /user/ticket/`: list rows created in `between` (see days.local_day_range)."""
        endpoint = "/user/ticket/"
        filt: dict[str, object] = {"between_created_at": _between(between)}
        if status is not None:
            filt["status"] = status
        if transaction_type is not None:
            filt["transaction_type"] = transaction_type
        body: dict[str, object] = {"filter": filt}
        if sort is not None:
            body["sort"] = dict(sort)
        if order_by is not None:
            body["order_by"] = [dict(x) for x in order_by]
        answer = await self._call("POST", endpoint, body, mutating=False)
        return self._rows(answer, endpoint, m.TicketSummary)

    async def last(self) -> m.Ticket | None:
        """`POST /user/ticket/last`: this user's newest ticket (PIN included), None if none."""
        endpoint = "/user/ticket/last"
        try:
            answer = await self._call("POST", endpoint, None, mutating=False)
        except TicketNotFound:
            return None
        env = self._envelope(answer, endpoint)
        if env.get("response") is None and "response" in env:
            return None
        return self._parse(answer, endpoint, "response", m.Ticket.from_json)

    async def image(self, uuid: str) -> TicketImage:
        """`GET /user/ticket/image/<uuid>`: the ticket's image as the server renders it."""
        endpoint = "/user/ticket/image"
        import uuid as uuid_mod  # (uuid and the platform module it loads: only for images)

        text = str(uuid_mod.UUID(str(uuid)))  # ValueError for anything but a UUID
        answer = await self._call("GET", endpoint, None, mutating=False, path=f"{endpoint}/{text}")
        if answer.envelope is None:
            return TicketImage(answer.content_type, answer.body)
        inner = answer.envelope.get("response")
        if isinstance(inner, str):
            return TicketImage("text/plain", inner.encode())
        raise BadResponse(
            "image answer is neither bytes nor text", endpoint=endpoint, status=answer.http_status
        )

    async def create(self, wagers: Sequence[m.WagerRequest]) -> m.Ticket:
        """`POST /user/ticket/create`: sell. Mutating: never retried once it may have arrived."""
        endpoint = "/user/ticket/create"
        if not wagers:
            raise ValueError("create needs at least one wager")
        for w in wagers:
            if not isinstance(w, m.WagerRequest):
                raise TypeError("create takes WagerRequest items")
        body = {"ticket": {"wagers": [w.to_json() for w in wagers]}}
        answer = await self._call("POST", endpoint, body, mutating=True)
        return self._parse(answer, endpoint, "response", m.Ticket.from_json)

    async def pay(self, ticket_number: int, pin_number: int, date: date | str) -> m.PayResult:
        """`POST /user/ticket/pay`. NotAWinner (HTTP 200 + error), AlreadyPaid, WrongPin..."""
        endpoint = "/user/ticket/pay"
        if isinstance(pin_number, bool) or not isinstance(pin_number, int) or pin_number < 0:
            raise ValueError("pin_number must be a non-negative int")
        body = {
            "ticket_number": _ticket_number(ticket_number),
            "pin_number": pin_number,
            "date": _iso_day(date, "date"),
        }
        secrets = (str(pin_number), f"{pin_number:08d}")
        answer = await self._call("POST", endpoint, body, mutating=True, secrets=secrets)
        return self._parse(answer, endpoint, "response", m.PayResult.from_json)

    async def cancel(self, ticket_number: int) -> m.CancelResult:
        """`POST /user/ticket/cancel` (inside seconds_to_cancel)."""
        endpoint = "/user/ticket/cancel"
        body = {"ticket_number": _ticket_number(ticket_number)}
        answer = await self._call("POST", endpoint, body, mutating=True)
        return self._parse(answer, endpoint, "response", m.CancelResult.from_json)

    async def revert(self, ticket_number: int) -> m.CancelResult:
        """`POST /user/ticket/revert`."""
        endpoint = "/user/ticket/revert"
        body = {"ticket_number": _ticket_number(ticket_number)}
        answer = await self._call("POST", endpoint, body, mutating=True)
        return self._parse(answer, endpoint, "response", m.CancelResult.from_json)

    async def copy(self, ticket_number: int, date: date | str) -> m.CopyProposal:
        """`POST /user/ticket/copy`: a proposal (old wagers on open events); sell it via create."""
        endpoint = "/user/ticket/copy"
        body = {"ticket_number": _ticket_number(ticket_number), "date": _iso_day(date, "date")}
        answer = await self._call("POST", endpoint, body, mutating=False)
        return self._parse(answer, endpoint, "response", m.CopyProposal.from_json)

    # ------------------------------------------------------------------ catalog

    async def get_data(self) -> m.EntityData:
        """`POST /gaming/get-data`: entity rules (time zone, cancel window) and game limits."""
        endpoint = "/gaming/get-data"
        answer = await self._call("POST", endpoint, None, mutating=False)
        return self._parse(answer, endpoint, "response", m.EntityData.from_json)

    async def products(self) -> tuple[m.Product, ...]:
        """`POST /gaming/products/search`: products with their open and next events."""
        endpoint = "/gaming/products/search"
        answer = await self._call("POST", endpoint, None, mutating=False)
        return await self._rows_off_loop(answer, endpoint, m.Product)

    async def events_kiosk(
        self, between: Sequence[str], game_category: str | None = None, status: str = "open"
    ) -> tuple[m.KioskEvent, ...]:
        """`POST /gaming/events/search/kiosk`; `{"status":201,"total":0}` means none."""
        endpoint = "/gaming/events/search/kiosk"
        filt: dict[str, object] = {"between_created_at": _between(between), "status": status}
        if game_category is not None:
            filt["game_category"] = game_category
        body = {
            "filter": filt,
            "sort": {"game_category": "desc", "event_timestamp": "desc", "display_order": "0"},
        }
        answer = await self._call("POST", endpoint, body, mutating=False)
        return await self._rows_off_loop(answer, endpoint, m.KioskEvent)

    async def inventory_template(self) -> tuple[m.InventoryCode, ...]:
        """`POST /gaming/inventory/template`: valid wager codes per game."""
        endpoint = "/gaming/inventory/template"
        answer = await self._call("POST", endpoint, None, mutating=False)
        return await self._rows_off_loop(answer, endpoint, m.InventoryCode)

    async def inventory_template_since(
        self, known: str | None
    ) -> tuple[str, tuple[m.InventoryCode, ...] | None]:
        """`inventory_template` and the sha256 (hex) of its answer's body; the rows are None
        when that body is byte for byte the one `known` was taken of (nothing is decoded: the
        caller keeps what it made of it). Why: a production inventory is some 13,000 rows,
        600 KB; decoding and checking them again at every catalog refresh cost ~0.14 s of CPU
        here (~1.8 s on a Pi 3B) every 5 minutes, a third of an idle kiosk's CPU, for rows
        that rarely change (issue 19)."""
        endpoint = "/gaming/inventory/template"
        answer = await self._call("POST", endpoint, None, mutating=False, digest=known or True)
        assert answer.digest is not None  # asked for
        if answer.unchanged:
            return answer.digest, None
        return answer.digest, await self._rows_off_loop(answer, endpoint, m.InventoryCode)

    async def results(self, between: Sequence[str]) -> tuple[m.DrawResult, ...]:
        """`POST /gaming/result/0`: draw results in `between`, newest first."""
        endpoint = "/gaming/result/0"
        body = {
            "filter": {"between_created_at": _between(between)},
            "order_by": [{"name": "event_timestamp", "value": "desc"}],
        }
        answer = await self._call("POST", endpoint, body, mutating=False)
        return await self._rows_off_loop(answer, endpoint, m.DrawResult)

    async def reports(
        self, between: Sequence[str], group: str = "user", category: str = "lottery"
    ) -> m.ReportTotals:
        """`POST /gaming/reports`: sale/prize/balance totals (`{"status":200,"total":{...}}`)."""
        endpoint = "/gaming/reports"
        body = {"between_timestamp": _between(between), "group": group, "category": category}
        answer = await self._call("POST", endpoint, body, mutating=False)
        return self._parse(answer, endpoint, "total", m.ReportTotals.from_json)

    async def time(self) -> m.ServerTime:
        """`GET /gaming/time`: the server's clock."""
        endpoint = "/gaming/time"
        answer = await self._call("GET", endpoint, None, mutating=False)
        return self._parse(answer, endpoint, "response", m.ServerTime.from_json)
