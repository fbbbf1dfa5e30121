"""Error taxonomy of the Banklot client: what the outbox needs to move money exactly once.

Rules:
- Every failure of a call is exactly one of these classes; nothing else escapes the client.
- The class says what is known about the *effect* on the server, not how the failure looked:
  NotSent   -- no byte of the request reached the server: safe to retry.
  Rejected  -- the server answered definitively and applied nothing.
  InDoubt   -- the request was written but no definitive answer came back: the server may or may
               not have applied it. Never retried automatically.
  ServerError is a kind of InDoubt: the API's own error envelope with a status >= 500. The
               request is over at the server (see the class).
  BadResponse is a kind of InDoubt: an answer came, but it cannot be read, so the effect is
               unknown. (For a read-only call that just means "try again later".)
  AuthFailed -- login refused, or a 403 survived one fresh login. Nothing was applied.
- Messages never contain a password, token or PIN: constructors take only what is safe to show.
"""

from __future__ import annotations

import re


class BanklotError(Exception):
    """Base class. `endpoint` is the API path; `status` the body (or HTTP) status if any."""

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status

    def __str__(self) -> str:
        where = f"{self.endpoint}: " if self.endpoint else ""
        code = f" (status {self.status})" if self.status is not None else ""
        return f"{where}{self.message}{code}"


class NotSent(BanklotError):
    """Connect, DNS or TLS failure before the request was written: safe to retry."""


class AuthFailed(BanklotError):
    """Login refused, or still forbidden after one fresh login."""


class InDoubt(BanklotError):
    """Request written, no definitive answer (read timeout, reset, 5xx)."""


class ServerError(InDoubt):
    """The API itself answered an error status >= 500 in its JSON envelope (HTTP 500
    `{"status": 500, "error": "..."}`, body status equal to the HTTP status). The effect is
    unknown (it may have committed before failing), but the request is *over* at the server:
    nothing of it can still commit later, so a probe that finds nothing proves "not applied"
    at once (no quiet period). Never for 502, 503 or 504, whatever the body: gateways answer
    those themselves while the upstream request runs on (`client.ends_request` says which
    answers end a request, and the risk that remains)."""


class BadResponse(InDoubt):
    """An answer that cannot be read: malformed JSON, HTML page, wrong types, empty or huge body."""


class Rejected(BanklotError):
    """A definitive business answer: the server applied nothing."""


class TicketNotFound(Rejected):
    """`no rows in result set`: no such ticket, or not in a state the call accepts."""


class NotAWinner(Rejected):
    """Pay on a ticket that did not win (arrives with HTTP 200)."""


class AlreadyRejected(Rejected):
    """`ticket already rejected by user` (revert/cancel of a ticket already cancelled)."""


class AlreadyPaid(Rejected):
    """Pay on a ticket that was paid before."""


class CancelWindowPassed(Rejected):
    """Cancel after `seconds_to_cancel`."""


class WrongPin(Rejected):
    """Pay with a PIN that does not match the ticket."""


class TicketExpired(Rejected):
    """Pay after `ticket_expiration_days`."""


class WagerRejected(Rejected):
    """A wager outside the game's limits or inventory (min/max bet, multiple, code, count)."""


class EventsClosed(Rejected):
    """`events are not open. closed events: [18859]` -- carries the closed event ids."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status: int | None = None,
        event_ids: tuple[int, ...] = (),
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status)
        self.event_ids = event_ids


_CLOSED_RE = re.compile(r"closed events:\s*\[([0-9,\s]*)\]")

# Known error texts (lower-cased, matched as substrings) -> class. Order matters: first match wins.
KNOWN_ERRORS: tuple[tuple[str, type[Rejected]], ...] = (
    ("events are not open", EventsClosed),
    ("no rows in result set", TicketNotFound),
    ("not a winner", NotAWinner),
    ("already rejected", AlreadyRejected),
    ("already paid", AlreadyPaid),
    ("cancel window", CancelWindowPassed),
    ("time to cancel", CancelWindowPassed),
    ("invalid pin", WrongPin),
    ("wrong pin", WrongPin),
    ("ticket expired", TicketExpired),
    ("wager", WagerRejected),
    ("bet", WagerRejected),
    ("amount", WagerRejected),
)


def rejection_for(message: str, *, endpoint: str = "", status: int | None = None) -> Rejected:
    """Map an envelope `error` text to the most specific Rejected subclass."""
    text = message.lower()
    for needle, cls in KNOWN_ERRORS:
        if needle in text:
            if cls is EventsClosed:
                match = _CLOSED_RE.search(message)
                ids: tuple[int, ...] = ()
                if match:
                    ids = tuple(int(x) for x in match.group(1).replace(" ", "").split(",") if x)
                return EventsClosed(message, endpoint=endpoint, status=status, event_ids=ids)
            return cls(message, endpoint=endpoint, status=status)
    return Rejected(message, endpoint=endpoint, status=status)
