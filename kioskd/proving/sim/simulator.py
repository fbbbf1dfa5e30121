"""The Banklot simulator's state: one account, one entity, tickets, draws, results and a ledger.

Rules:
- Pure and deterministic: no sockets, no asyncio, no files. Time comes from the `clock` given
  (read once per call) and every random choice (ticket numbers, PINs, uuids, tokens) from one
  `random.Random(seed)`, so the same seed and the same calls give the same ledger. Draw results
  come from a generator seeded by (seed, event id), so they do not depend on call order.
- One method per endpoint, taking the decoded JSON body (and the `x-auth-token`) and returning
  `(http_status, body)` in the seed's envelope: `{"status": N, "response": ...}` on success,
  `{"status": N, "error": "text"}` on failure. Error texts are the contract in
  docs/ARCHITECTURE.md; the client maps them with `kioskd.banklot.errors.rejection_for`.
- Lazy catch-up: every call first settles the draws whose result time has passed, so the state
  is always what the clock says, however far it jumped.
- Never put a password, token or PIN in an error text or a repr.

Readings of the API where the seed is silent (documented here, tested in tests/sim):
- Ticket status: `sold` until a wager wins (`winner`, prize = sum of winning wagers), `paid`
  after payment, `canceled` after cancel or revert. Wagers: `sold`, `winner`, `loser`,
  `canceled`. A ticket whose wagers all lost stays `sold` (paying it answers "not a winner").
- Prizes: amount x 600 for a triple (game 1), x 6000 for a triple with zodiac (game 3), x 30 for
  animalitos (game 5), when the wager equals the draw's result.
- Cancel: only within `seconds_to_cancel` of `created_at` and while every draw of the ticket is
  still open. Revert: the seller takes back a sale it could not deliver (e.g. printer failure):
  allowed while every draw of the ticket is still open, with no `seconds_to_cancel` window; a
  ticket already cancelled or reverted answers 401 "ticket already rejected by user".
- A ticket can be paid until the end of the local day `ticket_expiration_days` after its
  creation day; a payment pays what has won so far.
- `current_event_id` of a wager is the event currently open for that product when the ticket is
  shown (so it equals `event_id` right after the sale, as in the seed's `last`).
- Create accepts a wager either as text ("444-ARI") or as its inventory code ("44401"); the
  ticket always holds the text.
- Reports: tickets created in the range, wagers of the category (`lottery` or `animalitos`; any
  other value = all). sale = amounts of tickets not cancelled; prize = prizes won;
  agency = sale x commission (10%); balance = sale - prize - agency; parent_balance = sale - prize.
"""

from __future__ import annotations

import functools
import random
import struct
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from kioskd.clock import Clock, VirtualClock
from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.faults import Fault, FaultPlan
from kioskd.proving.sim.games import PRODUCTS, PRODUCTS_BY_ID, TIME_ZONE, ZONE, Event

Reply = tuple[int, Any]

ENTITY_ID = 213
PARENT_ID = 212
ENTITY_NAME = "test-1"
# The agency's address fields as the seed's get-data shows them (the kiosk reads none of them).
ENTITY_ADDRESS = dict(address1="", address2="", city="", municipality=1, rif="1234", state=3)
PARENT_NAME = "test"
USER_ID = 864
COMMISSION_PCT = 10
MAX_RANGE_DAYS = 400
# Default start of a simulator's own virtual clock: 2024-10-22 10:00 in America/Caracas.
DEFAULT_START = 1729605600.0

ERR_TOKEN = "token expired"
ERR_LOGIN = "invalid email or password"
ERR_NO_ROWS = "no rows in result set"


def ok(status: int, response: Any) -> Reply:
    return status, {"status": status, "response": response}


def err(status: int, text: str) -> Reply:
    return status, {"status": status, "error": text}


@dataclass(slots=True)
class WagerRecord:
    amount: int
    event_id: int
    game_id: int
    product_id: int
    wager: str
    status: str = "sold"
    prize: int = 0


@dataclass(slots=True)
class TicketRecord:
    uuid: str
    number: int
    pin: int = field(repr=False)
    created_at: int
    wagers: list[WagerRecord]
    origin: str  # "api" | "foreign"
    status: str = "sold"
    prize: int = 0
    paid_at: int | None = None
    canceled_at: int | None = None
    canceled_by: str | None = None  # "cancel" | "revert"

    @property
    def amount(self) -> int:
        return sum(w.amount for w in self.wagers)

    @property
    def local_date(self) -> date:
        return catalog.local_day(self.created_at)


R = TypeVar("R")


def _signed_in(endpoint: Callable[[Simulator, Any, float], R]) -> Callable[..., R | Reply]:
    """The prologue of every endpoint behind the token: the clock catches up (draws settle),
    then a missing, unknown or expired token is refused with 403 before the endpoint runs
    (it gets `now` instead of the token)."""

    @functools.wraps(endpoint)
    def signed_in(self: Simulator, body: Any, token: str | None) -> R | Reply:
        now = self._begin()
        if not self._authorized(token, now):
            return err(403, ERR_TOKEN)
        return endpoint(self, body, now)

    return signed_in


class Simulator:
    """A faithful, stateful fake of the Grupo Banklot back office (see the module docstring)."""

    def __init__(
        self,
        seed: int = 0,
        clock: Clock | None = None,
        email: str = "username@banklot.net",
        password: str = "banklot",
        token_ttl_s: float = 3600,
        *,
        seconds_to_cancel: int = 180,
        ticket_expiration_days: int = 3,
    ) -> None:
        self.seed = seed
        self.clock: Clock = clock if clock is not None else VirtualClock(DEFAULT_START)
        self.email = email
        self._password = password
        self.token_ttl_s = token_ttl_s
        self.seconds_to_cancel = seconds_to_cancel
        self.ticket_expiration_days = ticket_expiration_days
        self.faults = FaultPlan()
        self.offline = False
        self.offline_for_s: float | None = None
        self._offline_until: float | None = None
        self._offline_listeners: list[Callable[[bool], None]] = []
        self._rng = random.Random(seed)
        self._tokens: dict[str, float] = {}
        self._tickets: list[TicketRecord] = []
        self._by_number: dict[int, TicketRecord] = {}
        self._by_uuid: dict[str, TicketRecord] = {}
        self._unsettled: list[TicketRecord] = []
        self._next_settle = float("inf")
        self._forced: dict[int, str] = {}
        self._posted_early: set[int] = set()
        self._payments: list[dict[str, Any]] = []
        self._cancellations: list[dict[str, Any]] = []
        # Late commits (fault `commit_late`): (time, call), applied each at its own time.
        self._late: list[tuple[float, Callable[[], Any]]] = []
        self._now_override: float | None = None
        # Field faults: the last JSON answer per endpoint, tickets whose lookup fails.
        self._replies: dict[str, tuple[int, bytes]] = {}
        self._unreadable: set[int] = set()
        # Arrivals of calls over HTTP (host wall time, path, body), kept once asked for.
        self.arrivals: deque[tuple[float, str, bytes]] | None = None

    def __repr__(self) -> str:
        return f"Simulator(seed={self.seed}, email={self.email!r}, tickets={len(self._tickets)})"

    def record_arrivals(self, keep: int = 10_000) -> None:
        """Keep the last `keep` calls' arrivals (`note_arrival`): a bench's "Enter -> first
        send" is timed by what reached the server, not by the kiosk's own estimate."""
        self.arrivals = deque(maxlen=keep)

    def note_arrival(self, at: float, path: str, body: bytes) -> None:
        if self.arrivals is not None:
            self.arrivals.append((at, path, body))

    # ------------------------------------------------------------------ time and catch-up

    def now(self) -> float:
        return self.clock.now()

    def _begin(self) -> float:
        now = self._now_override if self._now_override is not None else self.clock.now()
        if now >= self._next_settle:
            self._settle(now)
        return now

    def _settle(self, now: float) -> None:
        still: list[TicketRecord] = []
        nxt = float("inf")
        for ticket in self._unsettled:
            pending = False
            for w in ticket.wagers:
                if w.status != "sold":
                    continue
                ev = catalog.event(w.event_id)
                assert ev is not None
                if ev.result_ts <= now:
                    self._settle_wager(w, self.result_of(w.event_id))
                else:
                    pending = True
                    nxt = min(nxt, ev.result_ts)
            self._refresh_status(ticket)
            if pending:
                still.append(ticket)
        self._unsettled = still
        self._next_settle = nxt

    @staticmethod
    def _settle_wager(w: WagerRecord, result: str) -> None:
        if w.wager == result:
            w.status, w.prize = "winner", w.amount * catalog.MULTIPLIERS[w.game_id]
        else:
            w.status, w.prize = "loser", 0

    @staticmethod
    def _refresh_status(ticket: TicketRecord) -> None:
        if ticket.status in ("paid", "canceled"):
            return
        ticket.prize = sum(w.prize for w in ticket.wagers)
        ticket.status = "winner" if ticket.prize > 0 else "sold"

    def result_of(self, event_id: int) -> str:
        """The draw result of an event (forced, or drawn from the seed)."""
        if event_id in self._forced:
            return self._forced[event_id]
        ev = catalog.event(event_id)
        if ev is None:
            raise KeyError(f"no event {event_id}")
        rng = random.Random(self.seed * 1_000_003 + event_id)
        return rng.choice(catalog.inventory(ev.product.game_id))[0]

    def _posted(self, ev: Event, now: float) -> bool:
        return now >= ev.result_ts or ev.id in self._posted_early

    # ------------------------------------------------------------------ auth

    def _authorized(self, token: str | None, now: float) -> bool:
        if not token:
            return False
        expires = self._tokens.get(token)
        if expires is None:
            return False
        if now >= expires:
            del self._tokens[token]
            return False
        return True

    def revoke(self, token: str | None) -> None:
        """Forget a token (the `expire_token` fault)."""
        if token:
            self._tokens.pop(token, None)

    def login(self, body: dict[str, Any], token: str | None = None) -> Reply:
        now = self._begin()
        if body.get("email") != self.email or body.get("password") != self._password:
            return err(403, ERR_LOGIN)
        new = f"{self._rng.getrandbits(128):032x}"
        self._tokens[new] = now + self.token_ttl_s
        return ok(200, {"x_auth_token": new})

    def logout(self, body: dict[str, Any], token: str | None) -> Reply:
        now = self._begin()
        if not self._authorized(token, now):
            return err(403, ERR_TOKEN)
        self.revoke(token)
        return ok(200, "logged out")

    # ------------------------------------------------------------------ rendering

    def _wager_json(self, w: WagerRecord, now: float) -> dict[str, Any]:
        ev = catalog.event(w.event_id)
        assert ev is not None
        current = catalog.open_event(ev.product, now)
        return {
            "amount": w.amount,
            "current_event_id": current.id,
            "event_id": w.event_id,
            "event_name": ev.product.name,
            "game_id": w.game_id,
            "list_id": catalog.GAME_LISTS[w.game_id][1],
            "p_event_time": ev.p_event_time,
            "status": w.status,
            "wager": w.wager,
            "prize": w.prize,
        }

    def _ticket_json(self, t: TicketRecord, now: float) -> dict[str, Any]:
        return {
            "id": t.uuid,
            "ticket_number": t.number,
            "pin_number": t.pin,
            "num_wagers": len(t.wagers),
            "entity_id": ENTITY_ID,
            "parent_id": PARENT_ID,
            "entity_name": ENTITY_NAME,
            "parent_name": PARENT_NAME,
            "created_at": t.created_at,
            "status": t.status,
            "prize": t.prize,
            "wagers": [self._wager_json(w, now) for w in t.wagers],
            "amount": t.amount,
        }

    def _summary_json(self, t: TicketRecord) -> dict[str, Any]:
        return {
            "id": t.uuid,
            "ticket_number": t.number,
            "created_at": t.created_at,
            "user_id": USER_ID,
            "email": self.email,
            "status": t.status,
            "total": t.amount,
            "prize": t.prize,
            "entity_id": ENTITY_ID,
            "parent_id": PARENT_ID,
            "entity_name": ENTITY_NAME,
            "parent_name": PARENT_NAME,
        }

    def _event_json(self, ev: Event, now: float) -> dict[str, Any]:
        product = ev.product
        if self._posted(ev, now):
            status, event_status = "result", "closed"
        elif now >= ev.closing_ts:
            status, event_status = "closed", "closed"
        elif catalog.open_event(product, now).id == ev.id:
            status, event_status = "open", "open"
        else:
            status, event_status = "pending", "pending"
        row: dict[str, Any] = {
            "id": ev.id,
            "game_product_id": product.id,
            "name": product.name,
            "event_time": ev.time,
            "event_time_utc": ev.event_time_utc,
            "closing_timestamp": {"seconds": int(ev.closing_ts)},
            "game_category": product.game_category,
            "status": status,
            "event_timestamp": {"seconds": int(ev.event_ts)},
            "display_order": product.display_order,
            "event_status": event_status,
        }
        list_name, list_id = catalog.GAME_LISTS[product.game_id]
        if list_name is not None:
            row["list"], row["list_id"] = list_name, list_id
        if product.game_id == 3:
            row["zodiac"] = True
        if status == "result":
            row["main_result"] = self.result_of(ev.id)
            posted = max(ev.closing_ts, min(ev.result_ts, now))
            row["result_created_at"] = {"seconds": int(posted), "nanos": 0}
        return row

    # ------------------------------------------------------------------ tickets: reads

    def _find(self, body: dict[str, Any]) -> TicketRecord | None:
        number = body.get("ticket_number")
        t = self._by_number.get(number) if isinstance(number, int) else None
        if t is None:
            return None
        day = body.get("date")
        if "date" in body and day != t.local_date.isoformat():
            return None
        return t

    @_signed_in
    def ticket(self, body: dict[str, Any], now: float) -> Reply:
        t = self._find_dated(body)
        if t is None or t.number in self._unreadable:
            return err(400, ERR_NO_ROWS)
        return ok(201, self._ticket_json(t, now))

    def _find_dated(self, body: dict[str, Any]) -> TicketRecord | None:
        if not isinstance(body.get("date"), str):
            return None
        return self._find(body)

    @_signed_in
    def tickets(self, body: dict[str, Any], now: float) -> Reply:
        flt = _filter(body)
        span = _range(flt.get("between_created_at"))
        if span is None:
            return err(400, "filter.between_created_at must be two ISO times")
        start, end = span
        rows = [t for t in self._tickets if start <= t.created_at <= end]
        status = flt.get("status")
        if status:
            rows = [t for t in rows if t.status == status]
        kind = flt.get("transaction_type")
        if kind == "prize":
            rows = [t for t in rows if t.status in ("winner", "paid")]
        elif kind == "cancel":
            rows = [t for t in rows if t.status == "canceled"]
        elif kind not in (None, "", "wager"):
            return err(400, f"unknown transaction_type {kind!r}")
        key, descending = _sort_spec(body)
        # Rows of the same second come in no order a client may rely on (ticket numbers are
        # random): a terminal's sale made just after ours may be listed first.
        rows.sort(key=lambda t: (_sort_value(t, key), t.created_at, t.number), reverse=descending)
        return ok(200, [self._summary_json(t) for t in rows])

    @_signed_in
    def last(self, body: dict[str, Any], now: float) -> Reply:
        if not self._tickets:
            return err(400, ERR_NO_ROWS)
        return ok(202, self._ticket_json(self._tickets[-1], now))

    @_signed_in
    def image(self, ticket_uuid: str, now: float) -> tuple[int, Any]:
        """A small PNG of the ticket (bytes) or an error envelope."""
        t = self._by_uuid.get(ticket_uuid)
        if t is None:
            return err(400, ERR_NO_ROWS)
        return 200, ticket_png(t.number)

    # ------------------------------------------------------------------ tickets: money

    @_signed_in
    def create(self, body: dict[str, Any], now: float) -> Reply:
        ticket = body.get("ticket")
        wagers = ticket.get("wagers") if isinstance(ticket, dict) else None
        if not isinstance(wagers, list) or not wagers:
            return err(400, "wager list is empty: expected ticket.wagers")
        for i, w in enumerate(wagers):
            if not isinstance(w, dict):
                return err(400, f"wager {i} is malformed: expected an object")
            for key, kind in (("amount", int), ("event_id", int), ("game_id", int)):
                value = w.get(key)
                if not isinstance(value, kind) or isinstance(value, bool):
                    return err(400, f"wager {i} is malformed: {key} must be an integer")
            if not isinstance(w.get("wager"), str):
                return err(400, f"wager {i} is malformed: wager must be a string")
        closed: list[int] = []
        events: list[Event] = []
        for w in wagers:
            ev = catalog.event(w["event_id"])
            if ev is None or catalog.open_event(ev.product, now).id != ev.id:
                if w["event_id"] not in closed:
                    closed.append(w["event_id"])
            else:
                events.append(ev)
        if closed:
            ids = ", ".join(str(i) for i in sorted(closed))
            return err(409, f"events are not open. closed events: [{ids}]")
        records: list[WagerRecord] = []
        per_product: dict[int, int] = {}
        for w, ev in zip(wagers, events, strict=True):
            product = ev.product
            if w["game_id"] != product.game_id:
                return err(
                    400,
                    f"wager game_id {w['game_id']} does not match event {ev.id} "
                    f"(game_id {product.game_id})",
                )
            text = catalog.normalize_wager(product.game_id, w["wager"])
            if text is None:
                return err(400, f"wager {w['wager']!r} is not in the inventory of game "
                                f"{product.game_id}")  # fmt: skip
            amount = w["amount"]
            pid = product.id
            if amount < product.min_bet:
                return err(400, f"wager amount {amount} below min_bet {product.min_bet} "
                                f"for product {pid}")  # fmt: skip
            if amount > product.max_bet:
                return err(400, f"wager amount {amount} above max_bet {product.max_bet} "
                                f"for product {pid}")  # fmt: skip
            if amount % product.amount_multiple:
                return err(400, f"wager amount {amount} not a multiple of "
                                f"{product.amount_multiple} for product {pid}")  # fmt: skip
            per_product[pid] = per_product.get(pid, 0) + 1
            if per_product[pid] > product.ticket_max_wagers:
                return err(400, f"wager count above ticket_max_wagers "
                                f"{product.ticket_max_wagers} for product {pid}")  # fmt: skip
            records.append(WagerRecord(amount, ev.id, product.game_id, pid, text))
        t = self._sell(records, now, origin="api")
        return ok(201, self._ticket_json(t, now))

    def _sell(self, wagers: list[WagerRecord], now: float, origin: str) -> TicketRecord:
        number = self._fresh_number()
        pin = self._rng.randint(10_000_000, 99_999_999)
        ticket_uuid = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        t = TicketRecord(ticket_uuid, number, pin, int(now), wagers, origin)
        self._tickets.append(t)
        self._by_number[number] = t
        self._by_uuid[ticket_uuid] = t
        self._unsettled.append(t)
        for w in wagers:
            ev = catalog.event(w.event_id)
            assert ev is not None
            self._next_settle = min(self._next_settle, ev.result_ts)
        return t

    def _fresh_number(self) -> int:
        while True:
            number = self._rng.randint(10_000_000, 99_999_999)
            if number not in self._by_number:
                return number

    @_signed_in
    def pay(self, body: dict[str, Any], now: float) -> Reply:
        t = self._find_dated(body)
        if t is None:
            return err(400, ERR_NO_ROWS)
        if body.get("pin_number") != t.pin:
            return err(400, "invalid pin")
        if t.status == "canceled":
            return err(401, "ticket already rejected by user")
        if t.status == "paid":
            return err(400, "ticket already paid")
        expiry = catalog.day_start(t.local_date + timedelta(days=self.ticket_expiration_days + 1))
        if now >= expiry:
            return err(400, "ticket expired")
        if t.status != "winner":
            return err(200, "not a winner")
        t.status, t.paid_at = "paid", int(now)
        self._payments.append(
            {"ticket_number": t.number, "prize": t.prize, "paid_at": t.paid_at, "id": t.uuid}
        )
        return ok(
            200,
            {"ticket_number": t.number, "status": "paid", "prize": t.prize, "paid_at": t.paid_at},
        )

    @_signed_in
    def cancel(self, body: dict[str, Any], now: float) -> Reply:
        return self._cancel(body, now, via="cancel")

    @_signed_in
    def revert(self, body: dict[str, Any], now: float) -> Reply:
        return self._cancel(body, now, via="revert")

    def _cancel(self, body: dict[str, Any], now: float, via: str) -> Reply:
        t = self._find(body)
        if t is None:
            return err(400, ERR_NO_ROWS)
        if t.status == "canceled":
            return err(401, "ticket already rejected by user")
        closed = any(
            catalog.event(w.event_id).closing_ts <= now  # type: ignore[union-attr]
            for w in t.wagers
        )
        late = via == "cancel" and now - t.created_at > self.seconds_to_cancel
        if closed or late or t.status in ("winner", "paid"):
            return err(400, "cancel window passed")
        t.status, t.canceled_at, t.canceled_by = "canceled", int(now), via
        for w in t.wagers:
            w.status = "canceled"
        self._cancellations.append(
            {"ticket_number": t.number, "canceled_at": t.canceled_at, "via": via, "id": t.uuid}
        )
        return ok(200, {"ticket_number": t.number, "status": "canceled"})

    @_signed_in
    def copy(self, body: dict[str, Any], now: float) -> Reply:
        t = self._find_dated(body)
        if t is None:
            return err(400, ERR_NO_ROWS)
        wagers = []
        for w in t.wagers:
            product = PRODUCTS_BY_ID[w.product_id]
            wagers.append(
                {
                    "amount": w.amount,
                    "event_id": catalog.open_event(product, now).id,
                    "game_id": w.game_id,
                    "old_event_id": w.event_id,
                    "wager": w.wager,
                }
            )
        return ok(
            201,
            {
                "ticket_uuid": t.uuid,
                "ticket_number": t.number,
                "num_wagers": len(wagers),
                "wagers": wagers,
            },
        )

    # ------------------------------------------------------------------ catalog

    @_signed_in
    def get_data(self, body: dict[str, Any], now: float) -> Reply:
        return ok(
            200,
            {
                "entity_id": ENTITY_ID,
                "name": ENTITY_NAME,
                "status": "active",
                "games": ["animalitos77", "animalitos", "tripleta", "lottery"],
                "entity_data": {
                    **ENTITY_ADDRESS,
                    "seconds_to_cancel": self.seconds_to_cancel,
                    "ticket_expiration_days": self.ticket_expiration_days,
                    "ticket_footer": "123",
                    "ticket_header": "123",
                    "time_zone": TIME_ZONE,
                },
                "game_data": [
                    {
                        "amount_multiple": p.amount_multiple,
                        "commission": COMMISSION_PCT,
                        "game_id": p.game_id,
                        "max_bet": p.max_bet,
                        "max_permutations": 6,
                        "max_sequence_size": 10,
                        "max_sequences": 2,
                        "min_bet": p.min_bet,
                        "product_id": p.id,
                        "ticket_max_wagers": p.ticket_max_wagers,
                    }
                    for p in PRODUCTS
                ],
            },
        )

    @_signed_in
    def products_search(self, body: dict[str, Any], now: float) -> Reply:
        rows = []
        for p in PRODUCTS:
            ev = catalog.open_event(p, now)
            nxt = catalog.next_event(ev)
            rows.append(
                {
                    "id": p.id,
                    "name": p.name,
                    "lottery": p.lottery,
                    "lottery_id": p.lottery_id,
                    "status": "active",
                    "quota": p.quota,
                    "game_category": p.game_category,
                    "lottery_status": "active",
                    "game_id": p.game_id,
                    "data": [
                        {
                            "event_date": ev.day.isoformat(),
                            "event_id": ev.id,
                            "event_time": f"{ev.time}:00",
                            "closing_timestamp": int(ev.closing_ts),
                            "next_event_date": nxt.day.isoformat(),
                            "next_event_id": nxt.id,
                            "next_event_time": f"{nxt.time}:00",
                        }
                    ],
                }
            )
        return ok(201, rows)

    @_signed_in
    def events_kiosk(self, body: dict[str, Any], now: float) -> Reply:
        flt = _filter(body)
        span = _range(flt.get("between_created_at"))
        if span is None:
            return err(400, "filter.between_created_at must be two ISO times")
        category = flt.get("game_category")
        wanted = flt.get("status")
        rows = []
        for ev in catalog.events_between(*span):
            if category and ev.product.game_category != category:
                continue
            row = self._event_json(ev, now)
            if wanted and wanted not in (row["status"], row["event_status"]):
                continue
            rows.append(row)
        if not rows:
            return 201, {"status": 201, "total": 0}
        rows.sort(key=lambda r: (r["event_timestamp"]["seconds"], r["display_order"]))
        return 200, {"status": 200, "response": rows, "total": len(rows)}

    @_signed_in
    def inventory_template(self, body: dict[str, Any], now: float) -> Reply:
        return ok(200, inventory_rows())

    @_signed_in
    def results(self, body: dict[str, Any], now: float) -> Reply:
        flt = _filter(body)
        span = _range(flt.get("between_created_at"))
        if span is None:
            return err(400, "filter.between_created_at must be two ISO times")
        rows = [
            self._event_json(ev, now)
            for ev in catalog.events_between(*span)
            if self._posted(ev, now)
        ]
        _, descending = _sort_spec(body, default=("event_timestamp", True))
        rows.sort(
            key=lambda r: (r["event_timestamp"]["seconds"], r["display_order"], r["id"]),
            reverse=descending,
        )
        return ok(200, rows)

    @_signed_in
    def reports(self, body: dict[str, Any], now: float) -> Reply:
        span = _range(body.get("between_timestamp"))
        if span is None:
            return err(400, "between_timestamp must be two ISO times")
        category = body.get("category")
        sale = prize = 0
        for t in self._tickets:
            if not span[0] <= t.created_at <= span[1]:
                continue
            for w in t.wagers:
                product = PRODUCTS_BY_ID[w.product_id]
                if category in ("lottery", "animalitos") and product.game_category != category:
                    continue
                if t.status != "canceled":
                    sale += w.amount
                    prize += w.prize
        agency = sale * COMMISSION_PCT // 100
        total = {
            "agency": agency,
            "balance": sale - prize - agency,
            "parent_balance": sale - prize,
            "prize": prize,
            "sale": sale,
        }
        return 200, {"status": 200, "total": total}

    @_signed_in
    def time(self, body: dict[str, Any], now: float) -> Reply:
        local = datetime.fromtimestamp(now, ZONE)
        return ok(
            200,
            {
                "unix": now,
                "timestamp": int(now),
                "date": local.date().isoformat(),
                "local_time": local.strftime("%H:%M:%S"),
                "time_zone": TIME_ZONE,
            },
        )

    # ------------------------------------------------------------------ admin (not Banklot)

    def schedule_late(self, at: float, call: Callable[[], Any]) -> None:
        """A request whose handler outlives the client: `call` commits at `at`."""
        self._late.append((at, call))

    def run_late(self) -> int:
        """Apply the late commits whose time has come, each at its own time, in time order
        (called before every request and by `ledger`, so no request sees a state in which a
        commit that should have happened has not). Returns how many ran."""
        now = self.clock.now()
        due = sorted((x for x in self._late if x[0] <= now), key=lambda x: x[0])
        if not due:
            return 0
        self._late = [x for x in self._late if x[0] > now]
        for at, call in due:
            self._now_override = at
            try:
                call()
            finally:
                self._now_override = None
        return len(due)

    def late_pending_until(self) -> float | None:
        """When the last scheduled late commit will happen (None: none pending)."""
        return max((at for at, _ in self._late), default=None)

    def arm_fault(
        self,
        endpoint: str,
        mode: str,
        count: int = 1,
        delay_s: float = 0,
        *,
        foreign: str | None = None,
        unreadable: bool = False,
    ) -> Fault:
        return self.faults.arm(endpoint, mode, count, delay_s, foreign=foreign,
                               unreadable=unreadable)  # fmt: skip

    def remember_reply(self, path: str, status: int, body: bytes) -> None:
        """The last JSON answer of an endpoint (what the `replay_previous` fault replays)."""
        self._replies[path] = (status, body)

    def previous_reply(self, path: str) -> tuple[int, bytes] | None:
        return self._replies.get(path)

    def make_unreadable(self, ticket_number: int) -> None:
        """The ticket stays listed and in `/last`, but its lookup answers "no rows" for ever."""
        self._unreadable.add(ticket_number)

    def clear_faults(self) -> None:
        self.faults.clear()

    def take_fault(self, path: str) -> Fault | None:
        return self.faults.take(path)

    def set_offline(self, offline: bool, for_s: float | None = None) -> None:
        """Make every Banklot call fail before it is read (`for_s`: only for that long)."""
        changed = self.offline != bool(offline)
        self.offline = bool(offline)
        self.offline_for_s = float(for_s) if offline and for_s else None
        self._offline_until = self.clock.now() + self.offline_for_s if self.offline_for_s else None
        if changed:
            for listener in list(self._offline_listeners):
                listener(self.offline)

    def is_offline(self) -> bool:
        """Whether calls fail now (an offline period given with `for_s` ends by the clock)."""
        until = self._offline_until
        if self.offline and until is not None and self.clock.now() >= until:
            self.set_offline(False)
        return self.offline

    def add_offline_listener(self, listener: Callable[[bool], None]) -> None:
        """Called with the new value whenever `offline` changes (the HTTP server listens)."""
        self._offline_listeners.append(listener)

    def remove_offline_listener(self, listener: Callable[[bool], None]) -> None:
        if listener in self._offline_listeners:
            self._offline_listeners.remove(listener)

    def foreign_ticket(self, wagers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Another terminal on the same account sells a ticket now; returns it (with PIN).
        `wagers` (as a create body carries them): it sells those, else something at random."""
        now = self._begin()
        if wagers:
            records = []
            for w in wagers:
                ev = catalog.event(int(w["event_id"]))
                if ev is None:
                    raise ValueError(f"foreign_ticket: no event {w['event_id']}")
                code = catalog.normalize_wager(ev.product.game_id, str(w["wager"])) or w["wager"]
                records.append(WagerRecord(int(w["amount"]), ev.id, ev.product.game_id,
                                           ev.product.id, code))  # fmt: skip
            return self._ticket_json(self._sell(records, now, origin="foreign"), now)
        product = self._rng.choice(PRODUCTS)
        ev = catalog.open_event(product, now)
        wager = self._rng.choice(catalog.inventory(product.game_id))[0]
        amount = product.amount_multiple * self._rng.randint(
            -(-product.min_bet // product.amount_multiple),
            product.max_bet // product.amount_multiple,
        )
        record = WagerRecord(amount, ev.id, product.game_id, product.id, wager)
        t = self._sell([record], now, origin="foreign")
        return self._ticket_json(t, now)

    def other_terminal_has_sold(self) -> bool:
        """Has another terminal sold on this account yet (`foreign_ticket`)?"""
        return any(t.origin == "foreign" for t in self._tickets)

    def force_result(self, event_id: int, result: str) -> dict[str, Any]:
        """Fix an event's draw result; posted at once if the event has closed (makes winners)."""
        ev = catalog.event(event_id)
        if ev is None:
            raise ValueError(f"force_result: no event {event_id}")
        text = catalog.normalize_wager(ev.product.game_id, str(result))
        if text is None:
            raise ValueError(
                f"force_result: {result!r} is not a result of game {ev.product.game_id}"
            )
        self._forced[event_id] = text
        now = self.clock.now()
        if now >= ev.closing_ts:
            self._posted_early.add(event_id)
            self._post_now(ev, text)
        else:
            self._begin()
        return {"event_id": event_id, "result": text, "posted": now >= ev.closing_ts}

    def _post_now(self, ev: Event, result: str) -> None:
        """(Re)settle every unpaid, uncancelled wager on `ev` with `result`."""
        for t in self._tickets:
            if t.status in ("paid", "canceled"):
                continue
            touched = False
            for w in t.wagers:
                if w.event_id == ev.id:
                    self._settle_wager(w, result)
                    touched = True
            if touched:
                self._refresh_status(t)
        self._begin()

    def advance(self, seconds: float) -> float:
        _clock_advance(self.clock, seconds)
        return self._begin()

    def set_time(self, unix: float) -> float:
        setter = getattr(self.clock, "set", None)
        if setter is None:
            raise ValueError("this clock cannot be set")
        setter(unix)
        return self._begin()

    def next_close(self) -> float:
        now = self.clock.now()
        return min(catalog.open_event(p, now).closing_ts for p in PRODUCTS)

    def next_result(self) -> float:
        now = self.clock.now()
        candidates = []
        for p in PRODUCTS:
            ev = catalog.open_event(p, now)
            prev_day = ev.day - timedelta(days=1)
            for day in (prev_day, ev.day):
                for i in range(len(p.times)):
                    e = catalog.event_for(p, day, i)
                    if e.result_ts > now:
                        candidates.append(e.result_ts)
        return min(candidates)

    def ledger(self) -> dict[str, Any]:
        """What the server really holds: every ticket with PIN, status and prize, payments,
        cancellations, and the clock."""
        self.run_late()
        now = self._begin()
        tickets = []
        for t in self._tickets:
            row = self._ticket_json(t, now)
            row.update(
                local_date=t.local_date.isoformat(),
                origin=t.origin,
                paid_at=t.paid_at,
                canceled_at=t.canceled_at,
                canceled_by=t.canceled_by,
            )
            tickets.append(row)
        return {
            "tickets": tickets,
            "payments": [dict(p) for p in self._payments],
            "cancellations": [dict(c) for c in self._cancellations],
            "now": now,
        }

    def open_events(self) -> dict[int, int]:
        """product id -> its open event id (a convenience for tests and the demo)."""
        now = self.clock.now()
        return {p.id: catalog.open_event(p, now).id for p in PRODUCTS}


def _clock_advance(clock: Clock, seconds: float) -> None:
    advance = getattr(clock, "advance", None)
    if advance is None:
        raise ValueError("this clock cannot be advanced")
    advance(seconds)


def _filter(body: dict[str, Any]) -> dict[str, Any]:
    """The request's `filter` object ({} when absent or not an object)."""
    flt = body.get("filter")
    return flt if isinstance(flt, dict) else {}


def _range(value: object) -> tuple[float, float] | None:
    """Two ISO times ("2024-06-05T04:00:00.000Z") -> unix seconds, None if malformed."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    out = []
    for text in value:
        if not isinstance(text, str):
            return None
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZONE)
        out.append(moment.timestamp())
    start, end = out
    if end < start or end - start > MAX_RANGE_DAYS * 86400:
        return None
    return start, end


def _sort_spec(body: dict[str, Any], default: tuple[str, bool] = ("created_at", False)):
    """(field, descending) from `sort: {"created_at": 1|-1|"desc"}` or
    `order_by: [{"name": ..., "value": "asc"|"desc"}]`."""
    order_by = body.get("order_by")
    if isinstance(order_by, list) and order_by and isinstance(order_by[0], dict):
        first = order_by[0]
        return str(first.get("name", default[0])), str(first.get("value", "")).lower() == "desc"
    sort = body.get("sort")
    if isinstance(sort, dict) and sort:
        name, value = next(iter(sort.items()))
        return str(name), value in (-1, "-1", "desc", "DESC")
    return default


def _sort_value(t: TicketRecord, key: str) -> Any:
    return {
        "ticket_number": t.number,
        "total": t.amount,
        "prize": t.prize,
        "status": t.status,
    }.get(key, t.created_at)


_INVENTORY_ROWS: list[dict[str, Any]] | None = None


def inventory_rows() -> list[dict[str, Any]]:
    """The inventory template: every valid code of every game (built once, shared)."""
    global _INVENTORY_ROWS
    if _INVENTORY_ROWS is None:
        _INVENTORY_ROWS = [
            {"game_id": g, "wager": wager, "code": code}
            for g in catalog.games()
            for wager, code in catalog.inventory(g)
        ]
    return _INVENTORY_ROWS


def ticket_png(number: int) -> bytes:
    """A small grayscale PNG: a 1-pixel-per-bit stripe of the ticket number (no Pillow needed)."""
    bits = f"{number:032b}"
    width, height = len(bits) * 2, 16
    row = bytes(0 if bit == "1" else 255 for bit in bits for _ in range(2))
    raw = b"".join(b"\x00" + row for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
