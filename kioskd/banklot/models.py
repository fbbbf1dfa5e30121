"""Typed results of the Banklot API: frozen dataclasses built from the JSON `response` payloads.

Rules:
- Every model has `from_json(obj)`. It reads only the fields it knows; unknown extra fields are
  tolerated (the API grows), a missing required field or a wrong type raises `BadResponse` naming
  the model and the field path (e.g. `Ticket.wagers[2].amount: expected int, got str`). Error texts
  name types, never values: a value could be a PIN.
- Types are strict: an `int` field refuses `"12"`, `12.5` and `True`. Money and identifiers that
  arrive in the wrong shape are a broken answer, not something to guess about.
- Statuses stay text. Known ones are listed as constants; an unknown status is kept as it came,
  never a crash (the back office may add `expired` tomorrow).
- `pin_number` is never shown by `repr` (dataclass `repr=False`).
- No I/O here. `WagerRequest` is the one model we *send*; it validates itself on construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kioskd.banklot.errors import BadResponse

T = TypeVar("T")

# Ticket statuses seen in the API (plus `paid`); wager statuses add `loser`.
SOLD = "sold"
CANCELED = "canceled"
WINNER = "winner"
PAID = "paid"
LOSER = "loser"
TICKET_STATUSES = frozenset({SOLD, CANCELED, WINNER, PAID})
WAGER_STATUSES = frozenset({SOLD, CANCELED, WINNER, PAID, LOSER})


# --------------------------------------------------------------------------- field readers


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _bad(where: str, expected: str, value: object) -> BadResponse:
    return BadResponse(f"{where}: expected {expected}, got {_type_name(value)}")


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(where, "object", value)
    return value


def _get(d: Mapping[str, Any], key: str, where: str, required: bool) -> Any:
    if key not in d or (d[key] is None and required):
        if required:
            raise BadResponse(f"{where}.{key}: missing")
        return None
    return d[key]


def _typed(
    d: Mapping[str, Any], key: str, where: str, required: bool, kind: type, name: str
) -> Any:
    """The field, None when absent and optional, else BadResponse unless it is a `kind`
    (a JSON true/false is never taken for a number)."""
    value = _get(d, key, where, required)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _bad(f"{where}.{key}", name, value)
    return value


def _int(d: Mapping[str, Any], key: str, where: str, required: bool = True) -> Any:
    return _typed(d, key, where, required, int, "int")


def _num(d: Mapping[str, Any], key: str, where: str, required: bool = True) -> Any:
    """A number (int or finite float); integral floats come back as int (amounts are integers)."""
    value = _get(d, key, where, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{where}.{key}", "number", value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(f"{where}.{key}", "finite number", value)
        if value.is_integer():
            return int(value)
    return value


def _str(d: Mapping[str, Any], key: str, where: str, required: bool = True) -> Any:
    return _typed(d, key, where, required, str, "string")


def _bool(d: Mapping[str, Any], key: str, where: str, required: bool = True) -> Any:
    return _typed(d, key, where, required, bool, "bool")


def _timestamp(d: Mapping[str, Any], key: str, where: str, required: bool = True) -> Any:
    """Unix seconds given as a number or as `{"seconds": N, "nanos": M}` (protobuf style)."""
    value = _get(d, key, where, required)
    if value is None:
        return None
    if isinstance(value, Mapping):
        inner = f"{where}.{key}"
        seconds = _num(value, "seconds", inner)
        nanos = _int(value, "nanos", inner, required=False) or 0
        return seconds + nanos / 1e9 if nanos else seconds
    return _num(d, key, where, required)


def _list(d: Mapping[str, Any], key: str, where: str, required: bool = True) -> list[Any]:
    value = _get(d, key, where, required)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"{where}.{key}", "list", value)
    return value


def parse_list(value: object, model: type[T], where: str = "response") -> tuple[T, ...]:
    """Parse a JSON list of objects with `model.from_json`; BadResponse names the bad index."""
    if not isinstance(value, list):
        raise _bad(where, "list", value)
    return tuple(model.from_json(item, f"{where}[{i}]") for i, item in enumerate(value))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- tickets


@dataclass(frozen=True, slots=True)
class Wager:
    """One wager line of a sold ticket."""

    amount: int
    event_id: int
    game_id: int
    wager: str
    current_event_id: int | None = None
    list_id: int | None = None
    status: str | None = None
    event_name: str | None = None
    p_event_time: str | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "Wager") -> Wager:
        d = _obj(obj, where)
        return cls(
            amount=_num(d, "amount", where),
            event_id=_int(d, "event_id", where),
            game_id=_int(d, "game_id", where),
            wager=_str(d, "wager", where),
            current_event_id=_int(d, "current_event_id", where, required=False),
            list_id=_int(d, "list_id", where, required=False),
            status=_str(d, "status", where, required=False),
            event_name=_str(d, "event_name", where, required=False),
            p_event_time=_str(d, "p_event_time", where, required=False),
        )


def ticket_status_from_wagers(statuses: list[str | None]) -> str:
    """A ticket's status when the answer carries none at top level.

    All wagers agree -> that status. Otherwise money decides: any `paid` -> paid, any `winner` ->
    winner; a mix of cancelled and live lines, or sold and lost ones, is still `sold`.
    """
    known = [s for s in statuses if s]
    if not known:
        return SOLD
    if len(set(known)) == 1:
        return known[0]
    if PAID in known:
        return PAID
    if WINNER in known:
        return WINNER
    return SOLD


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket as lookup, last and create answer it. The PIN never shows in repr."""

    ticket_number: int
    pin_number: int | None = field(repr=False)
    created_at: float
    wagers: tuple[Wager, ...]
    amount: int
    num_wagers: int
    status: str
    entity_id: int | None = None
    parent_id: int | None = None
    entity_name: str | None = None
    parent_name: str | None = None
    uuid: str | None = None
    prize: int | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "Ticket") -> Ticket:
        d = _obj(obj, where)
        wagers = tuple(
            Wager.from_json(w, f"{where}.wagers[{i}]")
            for i, w in enumerate(_list(d, "wagers", where))
        )
        amount = _num(d, "amount", where, required=False)
        if amount is None:
            amount = sum(w.amount for w in wagers)
        num_wagers = _int(d, "num_wagers", where, required=False)
        status = _str(d, "status", where, required=False)
        if status is None:
            status = ticket_status_from_wagers([w.status for w in wagers])
        uuid = _str(d, "ticket_uuid", where, required=False)
        if uuid is None:
            uuid = _str(d, "id", where, required=False)
        return cls(
            ticket_number=_int(d, "ticket_number", where),
            pin_number=_int(d, "pin_number", where, required=False),
            created_at=_num(d, "created_at", where),
            wagers=wagers,
            amount=amount,
            num_wagers=len(wagers) if num_wagers is None else num_wagers,
            status=status,
            entity_id=_int(d, "entity_id", where, required=False),
            parent_id=_int(d, "parent_id", where, required=False),
            entity_name=_str(d, "entity_name", where, required=False),
            parent_name=_str(d, "parent_name", where, required=False),
            uuid=uuid,
            prize=_num(d, "prize", where, required=False),
        )


@dataclass(frozen=True, slots=True)
class TicketSummary:
    """A row of the ticket list (`POST /user/ticket/`): no wagers, no PIN."""

    ticket_number: int
    created_at: float
    status: str
    total: int
    prize: int
    id: str | None = None
    user_id: int | None = None
    email: str | None = None
    entity_id: int | None = None
    parent_id: int | None = None
    entity_name: str | None = None
    parent_name: str | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "TicketSummary") -> TicketSummary:
        d = _obj(obj, where)
        return cls(
            ticket_number=_int(d, "ticket_number", where),
            created_at=_num(d, "created_at", where),
            status=_str(d, "status", where),
            total=_num(d, "total", where),
            prize=_num(d, "prize", where, required=False) or 0,
            id=_str(d, "id", where, required=False),
            user_id=_int(d, "user_id", where, required=False),
            email=_str(d, "email", where, required=False),
            entity_id=_int(d, "entity_id", where, required=False),
            parent_id=_int(d, "parent_id", where, required=False),
            entity_name=_str(d, "entity_name", where, required=False),
            parent_name=_str(d, "parent_name", where, required=False),
        )


@dataclass(frozen=True, slots=True)
class PayResult:
    """A confirmed payout."""

    ticket_number: int
    status: str
    prize: int
    paid_at: float | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "PayResult") -> PayResult:
        d = _obj(obj, where)
        return cls(
            ticket_number=_int(d, "ticket_number", where),
            status=_str(d, "status", where, required=False) or PAID,
            prize=_num(d, "prize", where),
            paid_at=_num(d, "paid_at", where, required=False),
        )


@dataclass(frozen=True, slots=True)
class CancelResult:
    """A confirmed cancel or revert."""

    ticket_number: int
    status: str

    @classmethod
    def from_json(cls, obj: object, where: str = "CancelResult") -> CancelResult:
        d = _obj(obj, where)
        return cls(
            ticket_number=_int(d, "ticket_number", where),
            status=_str(d, "status", where, required=False) or CANCELED,
        )


class WagerJson(TypedDict):
    """A `WagerRequest` on the wire (`/user/ticket/create`) and in the journal's payload."""

    amount: int
    event_id: int
    game_id: int
    wager: str


@dataclass(frozen=True, slots=True)
class WagerRequest:
    """One wager to sell (`/user/ticket/create`). Validates itself: this is what we send."""

    amount: int
    event_id: int
    game_id: int
    wager: str

    def __post_init__(self) -> None:
        for name in ("amount", "event_id", "game_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"WagerRequest.{name} must be int, not {_type_name(value)}")
        if self.amount <= 0:
            raise ValueError("WagerRequest.amount must be positive")
        if not isinstance(self.wager, str) or not self.wager:
            raise ValueError("WagerRequest.wager must be a non-empty string")

    def to_json(self) -> WagerJson:
        return {
            "amount": self.amount,
            "event_id": self.event_id,
            "game_id": self.game_id,
            "wager": self.wager,
        }


@dataclass(frozen=True, slots=True)
class CopiedWager:
    """A wager of an old ticket re-targeted to an open event (`old_event_id` -> `event_id`)."""

    amount: int
    event_id: int
    game_id: int
    wager: str
    old_event_id: int | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "CopiedWager") -> CopiedWager:
        d = _obj(obj, where)
        return cls(
            amount=_num(d, "amount", where),
            event_id=_int(d, "event_id", where),
            game_id=_int(d, "game_id", where),
            wager=_str(d, "wager", where),
            old_event_id=_int(d, "old_event_id", where, required=False),
        )


@dataclass(frozen=True, slots=True)
class CopyProposal:
    """What `/user/ticket/copy` answers: a proposal the kiosk then sells through create."""

    ticket_number: int
    wagers: tuple[CopiedWager, ...]
    ticket_uuid: str | None = None
    num_wagers: int | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "CopyProposal") -> CopyProposal:
        d = _obj(obj, where)
        wagers = tuple(
            CopiedWager.from_json(w, f"{where}.wagers[{i}]")
            for i, w in enumerate(_list(d, "wagers", where))
        )
        return cls(
            ticket_number=_int(d, "ticket_number", where),
            wagers=wagers,
            ticket_uuid=_str(d, "ticket_uuid", where, required=False),
            num_wagers=_int(d, "num_wagers", where, required=False),
        )

    def to_requests(self) -> tuple[WagerRequest, ...]:
        """The wagers as a create request (amounts must be int to be sold)."""
        return tuple(WagerRequest(w.amount, w.event_id, w.game_id, w.wager) for w in self.wagers)


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True, slots=True)
class GameLimits:
    """Per-product selling limits from get-data `game_data`."""

    product_id: int
    game_id: int
    min_bet: int
    max_bet: int
    amount_multiple: int
    ticket_max_wagers: int
    max_permutations: int | None = None
    max_sequence_size: int | None = None
    max_sequences: int | None = None
    commission: float | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "GameLimits") -> GameLimits:
        d = _obj(obj, where)
        return cls(
            product_id=_int(d, "product_id", where),
            game_id=_int(d, "game_id", where),
            min_bet=_num(d, "min_bet", where),
            max_bet=_num(d, "max_bet", where),
            amount_multiple=_num(d, "amount_multiple", where),
            ticket_max_wagers=_int(d, "ticket_max_wagers", where),
            max_permutations=_int(d, "max_permutations", where, required=False),
            max_sequence_size=_int(d, "max_sequence_size", where, required=False),
            max_sequences=_int(d, "max_sequences", where, required=False),
            commission=_num(d, "commission", where, required=False),
        )


@dataclass(frozen=True, slots=True)
class EntityData:
    """`/gaming/get-data`: the agency (entity), its rules and its per-product limits."""

    entity_id: int
    name: str
    seconds_to_cancel: int
    ticket_expiration_days: int
    time_zone: str
    header: str = ""
    footer: str = ""
    status: str | None = None
    games: tuple[str, ...] = ()
    limits: dict[int, GameLimits] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: object, where: str = "EntityData") -> EntityData:
        d = _obj(obj, where)
        ed_where = f"{where}.entity_data"
        ed = _obj(_get(d, "entity_data", where, True), ed_where)
        time_zone = _str(ed, "time_zone", ed_where)
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BadResponse(f"{ed_where}.time_zone: unknown time zone") from exc
        games = _list(d, "games", where, required=False)
        for i, g in enumerate(games):
            if not isinstance(g, str):
                raise _bad(f"{where}.games[{i}]", "string", g)
        limits: dict[int, GameLimits] = {}
        for i, row in enumerate(_list(d, "game_data", where, required=False)):
            lim = GameLimits.from_json(row, f"{where}.game_data[{i}]")
            limits[lim.product_id] = lim
        return cls(
            entity_id=_int(d, "entity_id", where),
            name=_str(d, "name", where, required=False) or "",
            seconds_to_cancel=_int(ed, "seconds_to_cancel", ed_where),
            ticket_expiration_days=_int(ed, "ticket_expiration_days", ed_where),
            time_zone=time_zone,
            header=_str(ed, "ticket_header", ed_where, required=False) or "",
            footer=_str(ed, "ticket_footer", ed_where, required=False) or "",
            status=_str(d, "status", where, required=False),
            games=tuple(games),
            limits=limits,
        )


@dataclass(frozen=True, slots=True)
class Product:
    """A product from `/gaming/products/search` with its open event (first `data` row)."""

    id: int
    name: str
    game_category: str
    status: str
    lottery: str | None = None
    lottery_id: int | None = None
    lottery_status: str | None = None
    quota: int | None = None
    open_event_id: int | None = None
    open_event_date: str | None = None
    open_event_time: str | None = None
    next_event_date: str | None = None
    next_event_time: str | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "Product") -> Product:
        d = _obj(obj, where)
        rows = _list(d, "data", where, required=False)
        slot: Mapping[str, Any] = {}
        if rows:
            slot = _obj(rows[0], f"{where}.data[0]")
        sw = f"{where}.data[0]"
        return cls(
            id=_int(d, "id", where),
            name=_str(d, "name", where),
            game_category=_str(d, "game_category", where),
            status=_str(d, "status", where, required=False) or "",
            lottery=_str(d, "lottery", where, required=False),
            lottery_id=_int(d, "lottery_id", where, required=False),
            lottery_status=_str(d, "lottery_status", where, required=False),
            quota=_num(d, "quota", where, required=False),
            open_event_id=_int(slot, "event_id", sw, required=False),
            open_event_date=_str(slot, "event_date", sw, required=False),
            open_event_time=_str(slot, "event_time", sw, required=False),
            next_event_date=_str(slot, "next_event_date", sw, required=False),
            next_event_time=_str(slot, "next_event_time", sw, required=False),
        )


@dataclass(frozen=True, slots=True)
class KioskEvent:
    """An event row from `/gaming/events/search/kiosk` (shape as the result rows)."""

    id: int
    name: str | None = None
    game_product_id: int | None = None
    game_category: str | None = None
    status: str | None = None
    event_status: str | None = None
    event_time: str | None = None
    event_timestamp: float | None = None
    closing_timestamp: float | None = None
    display_order: int | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "KioskEvent") -> KioskEvent:
        d = _obj(obj, where)
        event_id = _int(d, "id", where, required=False)
        if event_id is None:
            event_id = _int(d, "event_id", where)
        product = _int(d, "game_product_id", where, required=False)
        if product is None:
            product = _int(d, "product_id", where, required=False)
        return cls(
            id=event_id,
            name=_str(d, "name", where, required=False),
            game_product_id=product,
            game_category=_str(d, "game_category", where, required=False),
            status=_str(d, "status", where, required=False),
            event_status=_str(d, "event_status", where, required=False),
            event_time=_str(d, "event_time", where, required=False),
            event_timestamp=_timestamp(d, "event_timestamp", where, required=False),
            closing_timestamp=_timestamp(d, "closing_timestamp", where, required=False),
            display_order=_int(d, "display_order", where, required=False),
        )


@dataclass(frozen=True, slots=True)
class InventoryCode:
    """A valid wager code of a game (`/gaming/inventory/template`)."""

    game_id: int
    wager: str
    code: str

    @classmethod
    def from_json(cls, obj: object, where: str = "InventoryCode") -> InventoryCode:
        d = _obj(obj, where)
        wager = _str(d, "wager", where)
        return cls(
            game_id=_int(d, "game_id", where),
            wager=wager,
            code=_str(d, "code", where, required=False) or wager,
        )


@dataclass(frozen=True, slots=True)
class DrawResult:
    """A draw result (`/gaming/result/0`). `id` is the event id; timestamps are unix seconds."""

    id: int
    game_product_id: int
    name: str
    main_result: str
    event_time: str | None = None
    event_time_utc: str | None = None
    game_category: str | None = None
    status: str | None = None
    event_status: str | None = None
    event_timestamp: float | None = None
    closing_timestamp: float | None = None
    result_created_at: float | None = None
    display_order: int | None = None
    list_name: str | None = None
    list_id: int | None = None
    zodiac: bool = False

    @classmethod
    def from_json(cls, obj: object, where: str = "DrawResult") -> DrawResult:
        d = _obj(obj, where)
        return cls(
            id=_int(d, "id", where),
            game_product_id=_int(d, "game_product_id", where),
            name=_str(d, "name", where),
            main_result=_str(d, "main_result", where),
            event_time=_str(d, "event_time", where, required=False),
            event_time_utc=_str(d, "event_time_utc", where, required=False),
            game_category=_str(d, "game_category", where, required=False),
            status=_str(d, "status", where, required=False),
            event_status=_str(d, "event_status", where, required=False),
            event_timestamp=_timestamp(d, "event_timestamp", where, required=False),
            closing_timestamp=_timestamp(d, "closing_timestamp", where, required=False),
            result_created_at=_timestamp(d, "result_created_at", where, required=False),
            display_order=_int(d, "display_order", where, required=False),
            list_name=_str(d, "list", where, required=False),
            list_id=_int(d, "list_id", where, required=False),
            zodiac=bool(_bool(d, "zodiac", where, required=False)),
        )


@dataclass(frozen=True, slots=True)
class ReportTotals:
    """`/gaming/reports` totals (sale, prize, balance...) for a range."""

    sale: int | float
    prize: int | float
    balance: int | float
    agency: int | float = 0
    parent_balance: int | float = 0

    @classmethod
    def from_json(cls, obj: object, where: str = "ReportTotals") -> ReportTotals:
        d = _obj(obj, where)
        return cls(
            sale=_num(d, "sale", where),
            prize=_num(d, "prize", where),
            balance=_num(d, "balance", where),
            agency=_num(d, "agency", where, required=False) or 0,
            parent_balance=_num(d, "parent_balance", where, required=False) or 0,
        )


_TIME_KEYS = ("unix", "time", "now", "timestamp", "seconds", "server_time", "epoch")


@dataclass(frozen=True, slots=True)
class ServerTime:
    """`/gaming/time`: the server's clock as unix seconds (the seed documents no shape)."""

    unix: float

    @classmethod
    def from_json(cls, obj: object, where: str = "ServerTime") -> ServerTime:
        if isinstance(obj, int | float) and not isinstance(obj, bool):
            return cls(unix=_num({"v": obj}, "v", where))
        if isinstance(obj, str):
            return cls(unix=_iso_unix(obj, where))
        d = _obj(obj, where)
        for key in _TIME_KEYS:
            if key in d and d[key] is not None:
                if isinstance(d[key], str):
                    return cls(unix=_iso_unix(d[key], f"{where}.{key}"))
                return cls(unix=_timestamp(d, key, where))
        raise BadResponse(f"{where}: missing a time field ({', '.join(_TIME_KEYS)})")


def _iso_unix(text: str, where: str) -> float:
    from datetime import datetime

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadResponse(f"{where}: not an ISO time") from exc
    if value.tzinfo is None:
        raise BadResponse(f"{where}: ISO time without a zone")
    return value.timestamp()
