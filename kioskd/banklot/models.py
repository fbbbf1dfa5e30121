"""Typed results of the Banklot API: frozen dataclasses built from the JSON `response` payloads.

Rules:
- Every model has `from_json(obj)`, built on one declarative reader (`_read`): each field is
  read by its declared type under its own name (`Money` and `Stamp` say how a number is read),
  required unless it has a default or may be None. It reads only the fields it knows; unknown
  extra fields are tolerated (the API grows), a missing required field or a wrong type raises
  `BadResponse` naming the model and the field path (e.g. `Ticket.wagers[2].amount: expected
  int, got str`). Error texts name types, never values: a value could be a PIN.
- Types are strict: an `int` field refuses `"12"`, `12.5` and `True`. Money and identifiers that
  arrive in the wrong shape are a broken answer, not something to guess about.
- Statuses stay text. Known ones are listed as constants; an unknown status is kept as it came,
  never a crash (the back office may add `expired` tomorrow).
- Every number is range-checked before anything can store it: integers must fit in 64 signed
  bits (SQLite's INTEGER; a bigger one would make the journal write fail), ticket and PIN
  numbers are non-negative, amounts lie in 0..`MAX_AMOUNT`, times are plausible unix seconds.
  Out of range is a `BadResponse` like a wrong type.
- `pin_number` is never shown by `repr` (dataclass `repr=False`).
- No I/O here. `WagerRequest` is the one model we *send*; it validates itself on construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from typing import Any, TypedDict, TypeVar, cast
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


# The journal's INTEGER is a signed 64-bit number: nothing outside it may reach a model.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# The largest amount (ticket total, wager, prize) taken as sane: 2**53 is the largest integer
# every JSON stack between the back office and us (doubles) keeps exact; real ones are far lower.
MAX_AMOUNT = 2**53
# Plausible unix seconds for a ticket's times (1970 .. year 36812).
MAX_STAMP = 2.0**40

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
    value = _typed(d, key, where, required, int, "int")
    if value is not None and not INT64_MIN <= value <= INT64_MAX:
        raise BadResponse(f"{where}.{key}: int outside 64 bits")
    return value


def check_range(where: str, value: float | None, low: float, high: float) -> None:
    """BadResponse unless `value` (None: absent) lies in [low, high]; names no value."""
    if value is not None and not low <= value <= high:
        raise BadResponse(f"{where}: number outside {low:g}..{high:g}")


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
            value = int(value)
    if not INT64_MIN <= value <= INT64_MAX:
        raise BadResponse(f"{where}.{key}: number outside 64 bits")
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


# Declared types that say how a field is read (plain `int` refuses 12.0; `Money` takes it as 12).
Money = int  # amounts, prizes, limits: a number, an integral float taken as an int
Stamp = float  # unix seconds: a number or `{"seconds": N, "nanos": M}`

_READERS: dict[str, Callable[..., Any]] = {
    "int": _int,
    "str": _str,
    "bool": _bool,
    "float": _num,
    "int | float": _num,
    "Money": _num,
    "Stamp": _timestamp,
}


@cache
def _plan(cls: type) -> tuple[tuple[str, str, Callable[..., Any] | None, bool, Any], ...]:
    """(field, JSON key, reader, required, default) per field of a model, from its declaration."""
    out = []
    for f in fields(cls):
        declared = str(f.type)
        optional = declared.endswith(" | None")
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        default = None if f.default is MISSING else f.default
        reader = _READERS.get(declared.removesuffix(" | None"))
        key = f.metadata.get("json", f.name)
        out.append((f.name, key, reader, not (optional or has_default), default))
    return tuple(out)


def _read(cls: type[T], d: Mapping[str, Any], where: str, **given: Any) -> T:
    """Build the model `cls` from the JSON object `d`: the fields in `given` as given, every
    other one read by its declared type (absent or null: its default)."""
    values = dict(given)
    for name, key, reader, required, default in _plan(cast(type, cls)):
        if name in values:
            continue
        if reader is None:
            raise TypeError(f"{cls.__name__}.{name}: no reader for its declared type")
        value = reader(d, key, where, required)
        values[name] = default if value is None else value
    return cls(**values)


def parse_list(value: object, model: type[T], where: str = "response") -> tuple[T, ...]:
    """Parse a JSON list of objects with `model.from_json`; BadResponse names the bad index."""
    if not isinstance(value, list):
        raise _bad(where, "list", value)
    return tuple(model.from_json(item, f"{where}[{i}]") for i, item in enumerate(value))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- tickets


@dataclass(frozen=True, slots=True)
class Wager:
    """One wager line of a sold ticket."""

    amount: Money
    event_id: int
    game_id: int
    wager: str
    current_event_id: int | None = None
    list_id: int | None = None
    status: str | None = None
    event_name: str | None = None
    p_event_time: str | None = None

    def __post_init__(self) -> None:
        check_range("Wager.amount", self.amount, 0, MAX_AMOUNT)

    @classmethod
    def from_json(cls, obj: object, where: str = "Wager") -> Wager:
        return _read(cls, _obj(obj, where), where)


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
    prize: Money | None = None

    def __post_init__(self) -> None:
        check_range("Ticket.ticket_number", self.ticket_number, 0, INT64_MAX)
        check_range("Ticket.pin_number", self.pin_number, 0, INT64_MAX)
        check_range("Ticket.amount", self.amount, 0, MAX_AMOUNT)
        check_range("Ticket.prize", self.prize, 0, MAX_AMOUNT)
        check_range("Ticket.created_at", self.created_at, 0, MAX_STAMP)
        check_range("Ticket.num_wagers", self.num_wagers, 0, 10_000)

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
        return _read(
            cls,
            d,
            where,
            wagers=wagers,
            amount=amount,
            num_wagers=len(wagers) if num_wagers is None else num_wagers,
            status=status,
            uuid=uuid,
        )


@dataclass(frozen=True, slots=True)
class TicketSummary:
    """A row of the ticket list (`POST /user/ticket/`): no wagers, no PIN."""

    ticket_number: int
    created_at: float
    status: str
    total: Money
    prize: Money = 0
    id: str | None = None
    user_id: int | None = None
    email: str | None = None
    entity_id: int | None = None
    parent_id: int | None = None
    entity_name: str | None = None
    parent_name: str | None = None

    def __post_init__(self) -> None:
        check_range("TicketSummary.ticket_number", self.ticket_number, 0, INT64_MAX)
        check_range("TicketSummary.total", self.total, 0, MAX_AMOUNT)
        check_range("TicketSummary.created_at", self.created_at, 0, MAX_STAMP)

    @classmethod
    def from_json(cls, obj: object, where: str = "TicketSummary") -> TicketSummary:
        return _read(cls, _obj(obj, where), where)


@dataclass(frozen=True, slots=True)
class PayResult:
    """A confirmed payout."""

    ticket_number: int
    status: str
    prize: Money
    paid_at: float | None = None

    def __post_init__(self) -> None:
        check_range("PayResult.ticket_number", self.ticket_number, 0, INT64_MAX)
        check_range("PayResult.prize", self.prize, 0, MAX_AMOUNT)
        check_range("PayResult.paid_at", self.paid_at, 0, MAX_STAMP)

    @classmethod
    def from_json(cls, obj: object, where: str = "PayResult") -> PayResult:
        d = _obj(obj, where)
        return _read(cls, d, where, status=_str(d, "status", where, required=False) or PAID)


@dataclass(frozen=True, slots=True)
class CancelResult:
    """A confirmed cancel or revert."""

    ticket_number: int
    status: str

    def __post_init__(self) -> None:
        check_range("CancelResult.ticket_number", self.ticket_number, 0, INT64_MAX)

    @classmethod
    def from_json(cls, obj: object, where: str = "CancelResult") -> CancelResult:
        d = _obj(obj, where)
        return _read(cls, d, where, status=_str(d, "status", where, required=False) or CANCELED)


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

    amount: Money
    event_id: int
    game_id: int
    wager: str
    old_event_id: int | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "CopiedWager") -> CopiedWager:
        return _read(cls, _obj(obj, where), where)


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
        return _read(cls, d, where, wagers=wagers)

    def to_requests(self) -> tuple[WagerRequest, ...]:
        """The wagers as a create request (amounts must be int to be sold)."""
        return tuple(WagerRequest(w.amount, w.event_id, w.game_id, w.wager) for w in self.wagers)


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True, slots=True)
class GameLimits:
    """Per-product selling limits from get-data `game_data`."""

    product_id: int
    game_id: int
    min_bet: Money
    max_bet: Money
    amount_multiple: Money
    ticket_max_wagers: int
    max_permutations: int | None = None
    max_sequence_size: int | None = None
    max_sequences: int | None = None
    commission: float | None = None

    @classmethod
    def from_json(cls, obj: object, where: str = "GameLimits") -> GameLimits:
        return _read(cls, _obj(obj, where), where)


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
        return _read(
            cls,
            d,
            where,
            name=_str(d, "name", where, required=False) or "",
            seconds_to_cancel=_int(ed, "seconds_to_cancel", ed_where),
            ticket_expiration_days=_int(ed, "ticket_expiration_days", ed_where),
            time_zone=time_zone,
            header=_str(ed, "ticket_header", ed_where, required=False) or "",
            footer=_str(ed, "ticket_footer", ed_where, required=False) or "",
            games=tuple(games),
            limits=limits,
        )


@dataclass(frozen=True, slots=True)
class Product:
    """A product from `/gaming/products/search` with its open event (first `data` row)."""

    id: int
    name: str
    game_category: str
    status: str = ""
    lottery: str | None = None
    lottery_id: int | None = None
    lottery_status: str | None = None
    quota: Money | None = None
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
        times = ("open_event_date", "open_event_time", "next_event_date", "next_event_time")
        return _read(
            cls,
            d,
            where,
            open_event_id=_int(slot, "event_id", sw, required=False),
            **{n: _str(slot, n.removeprefix("open_"), sw, required=False) for n in times},
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
    event_timestamp: Stamp | None = None
    closing_timestamp: Stamp | None = None
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
        return _read(cls, d, where, id=event_id, game_product_id=product)


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
        return _read(cls, d, where, code=_str(d, "code", where, required=False) or wager)


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
    event_timestamp: Stamp | None = None
    closing_timestamp: Stamp | None = None
    result_created_at: Stamp | None = None
    display_order: int | None = None
    list_name: str | None = field(default=None, metadata={"json": "list"})
    list_id: int | None = None
    zodiac: bool = False

    @classmethod
    def from_json(cls, obj: object, where: str = "DrawResult") -> DrawResult:
        return _read(cls, _obj(obj, where), where)


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
        return _read(cls, _obj(obj, where), where)


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
