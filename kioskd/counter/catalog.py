"""The catalog: what may be sold right now, and the rules a draft must pass before it is queued.

Rules:
- Built from three API answers (get-data, products search, inventory template) plus the time
  they were fetched; nothing here fetches. `to_json`/`from_json` round-trip it for the journal's
  catalog cache, so a kiosk that restarts offline still validates sales.
- A product's open event closes at its event date + time *in the entity's time zone*
  (zoneinfo), minus an optional safety margin. The Pi's own zone never enters.
- The keypad types an inventory *code*; the API wants the *wager* (code ``44401`` ->
  wager ``444-ARI``; for plain triples the two are equal). A game without inventory codes accepts
  nothing: we do not guess what the back office would take.
- `validate(catalog, draft, now)` returns either the `WagerRequest`s to send or one
  `Rejection(reason, detail, index)`; `reason` is one of `REASONS`. The first failing wager wins,
  so the clerk fixes one thing at a time.
- A stale catalog still validates (offline selling is the point); staleness is reported so the
  daemon can mark slips/logs and refresh.
- Memory (issue 19, a Pi 3's RSS budget): a game's inventory (thousands of codes for the
  whole run) is a `CodeTable`, two texts and two offset arrays, not a dict of str objects.
  Thousands of small strings allocated while the API's JSON was decoded kept the allocator's
  pages of those answers resident after they were freed; a few large objects built after
  the decode leave nothing pinned. Lookups bisect the sorted codes (~14 slices for 13,000).
- The journal's cache keeps each `CodeTable` as it is (`to_parts`: its two texts and its
  offsets as little-endian 32-bit numbers in base64; format 2), so loading it at start decodes
  four strings a game instead of 13,000 JSON rows: ~35 ms of CPU before READY=1 here and a
  burst of small objects less (issue 19). A cache of format 1 (the rows) still loads.
"""

from __future__ import annotations

import base64
import datetime as dt
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

from kioskd.banklot.days import zone
from kioskd.banklot.models import (
    EntityData,
    GameLimits,
    InventoryCode,
    KioskEvent,
    Product,
    WagerRequest,
)
from kioskd.counter.grammar import DraftWager

CATALOG_NOT_LOADED = "catalog_not_loaded"
CATALOG_FAILED = "catalog_failed"  # the first load failed (the session says why)
EMPTY_DRAFT = "empty_draft"
UNKNOWN_PRODUCT = "unknown_product"
EVENT_CLOSED = "event_closed"
BAD_WAGER_CODE = "bad_wager_code"
UNDER_MIN_BET = "under_min_bet"
OVER_MAX_BET = "over_max_bet"
NOT_A_MULTIPLE = "not_a_multiple"
TOO_MANY_WAGERS = "too_many_wagers"
REASONS = (
    CATALOG_NOT_LOADED,
    CATALOG_FAILED,
    EMPTY_DRAFT,
    UNKNOWN_PRODUCT,
    EVENT_CLOSED,
    BAD_WAGER_CODE,
    UNDER_MIN_BET,
    OVER_MAX_BET,
    NOT_A_MULTIPLE,
    TOO_MANY_WAGERS,
)

# `Catalog.refresh_in`: how long after an event closes the catalog is fetched again (the API's
# next draw for that product is open by then), how often while a closed event has no
# successor yet, for how long after its close (then `refresh_s` again: each refresh
# downloads the 600 KB inventory, a night of retries would be 70 MB an hour on a mobile
# link), and the least wait between two refreshes.
AFTER_CLOSE_S = 5.0
CLOSED_RETRY_S = 30.0
CLOSED_RETRY_FOR_S = 600.0
MIN_REFRESH_S = 5.0
FORMAT_VERSION = 2  # 2: inventories as `CodeTable.to_parts`; 1 (rows) is still read
FORMATS_READ = (1, 2)


class CodeTable(Mapping[str, str]):
    """A game's inventory, code -> wager, in a few large objects (see the module's rules).

    The codes are kept sorted in one text, cut by `array` offsets; the wagers likewise, in
    the same order. Equal to any mapping with the same pairs (`Mapping.__eq__`); iterates in
    code order."""

    __slots__ = ("_code_at", "_codes", "_wager_at", "_wagers")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        table = dict(pairs)  # a code given twice: the last wager wins, as in a dict
        codes = sorted(table)
        self._codes = "".join(codes)
        self._code_at = _offsets(codes)
        wagers = [table[c] for c in codes]
        self._wagers = "".join(wagers)
        self._wager_at = _offsets(wagers)

    def _code(self, i: int) -> str:
        return self._codes[self._code_at[i] : self._code_at[i + 1]]

    def __getitem__(self, code: str) -> str:
        if not isinstance(code, str):
            raise KeyError(code)
        n = len(self)
        i = bisect_left(range(n), code, key=self._code)
        if i == n or self._code(i) != code:
            raise KeyError(code)
        return self._wagers[self._wager_at[i] : self._wager_at[i + 1]]

    def __iter__(self) -> Iterator[str]:
        return _cut(self._codes, self._code_at)

    def __len__(self) -> int:
        return len(self._code_at) - 1

    def pairs(self) -> Iterator[tuple[str, str]]:
        """(code, wager) in code order, without a lookup each (`items()` bisects each)."""
        codes, wagers = _cut(self._codes, self._code_at), _cut(self._wagers, self._wager_at)
        return zip(codes, wagers, strict=True)

    def __repr__(self) -> str:
        return f"CodeTable({len(self)} codes)"

    def to_parts(self) -> dict[str, str]:
        """The table as the journal's cache keeps it (`from_parts` reads it back)."""
        return {
            "codes": self._codes,
            "code_at": _u32_text(self._code_at),
            "wagers": self._wagers,
            "wager_at": _u32_text(self._wager_at),
        }

    @classmethod
    def from_parts(cls, parts: Mapping[str, Any]) -> CodeTable:
        """Inverse of `to_parts`; ValueError when the parts do not make a table."""
        table = cls.__new__(cls)
        table._codes, table._wagers = str(parts["codes"]), str(parts["wagers"])
        table._code_at = _u32_array(parts["code_at"])
        table._wager_at = _u32_array(parts["wager_at"])
        for text, at in ((table._codes, table._code_at), (table._wagers, table._wager_at)):
            if not at or at[0] != 0 or at[-1] != len(text) or not _ascending(at):
                raise ValueError("inventory table offsets do not cut its text")
        if len(table._code_at) != len(table._wager_at):
            raise ValueError("inventory table has not one wager per code")
        return table


def _cut(text: str, at: array[int]) -> Iterator[str]:
    return map(text.__getitem__, map(slice, at, islice(at, 1, None)))


def _u32_text(at: array[int]) -> str:
    """Offsets as base64 of little-endian 32-bit numbers (the cache's form)."""
    out = array("I", at)
    if out.itemsize != 4:
        raise ValueError("no 32-bit array type")  # not on Linux (I is 4 bytes there)
    if sys.byteorder == "big":
        out.byteswap()
    return base64.b64encode(out.tobytes()).decode("ascii")


def _u32_array(text: object) -> array[int]:
    if not isinstance(text, str):
        raise ValueError("inventory table offsets are not text")
    out = array("I")
    if out.itemsize != 4:
        raise ValueError("no 32-bit array type")
    out.frombytes(base64.b64decode(text, validate=True))
    if sys.byteorder == "big":
        out.byteswap()
    return out


def _ascending(at: array[int]) -> bool:
    return all(map(int.__le__, at, islice(at, 1, None)))


def _offsets(texts: list[str]) -> array[int]:
    """Where each text starts in their concatenation, and the end: len(texts) + 1 numbers."""
    out = array("I", [0])
    end = 0
    for text in texts:
        end += len(text)
        out.append(end)
    return out


@dataclass(frozen=True)
class Rejection:
    """Why a draft cannot be sold. `index` is the 0-based wager at fault (None: whole ticket)."""

    reason: str
    detail: str
    index: int | None = None
    # The numbers behind `detail`, so slips can say it in their own language
    # (`kioskd.counter.i18n.rejection_detail`); `detail` itself is English, for logs.
    facts: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class CatalogProduct:
    """A product we can sell, joined with its limits and its open event."""

    id: int
    name: str
    lottery: str
    game_category: str
    active: bool
    limits: GameLimits | None
    event_id: int | None
    event_at: float | None  # unix seconds of the draw
    closes_at: float | None  # unix seconds after which the event takes no sales

    @property
    def game_id(self) -> int | None:
        return self.limits.game_id if self.limits else None


def event_time(date_text: str | None, time_text: str | None, tz: str) -> float | None:
    """``2024-10-23`` + ``14:00:00`` in zone `tz` -> unix seconds (None if either is missing)."""
    if not date_text or not time_text:
        return None
    try:
        day = dt.date.fromisoformat(date_text)
        clock = dt.time.fromisoformat(time_text)
    except ValueError:
        return None
    return dt.datetime.combine(day, clock, zone(tz)).timestamp()


@dataclass(frozen=True)
class Catalog:
    """What may be sold now: the entity's rules, products, open events and inventories."""

    entity_id: int
    agency_name: str
    seconds_to_cancel: int
    ticket_expiration_days: int
    time_zone: str
    header: str
    footer: str
    products: Mapping[int, CatalogProduct]
    inventory: Mapping[int, Mapping[str, str]]  # game_id -> code -> wager (a CodeTable)
    fetched_at: float
    close_margin_s: float = 0.0
    # sha256 (hex) of the inventory template answer the inventory was made of (None: not
    # known): a refresh whose answer has the same digest keeps these tables, undecoded
    # (`BanklotClient.inventory_template_since`).
    inventory_digest: str | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        entity: EntityData,
        products: Iterable[Product],
        inventory: Iterable[InventoryCode] | Mapping[int, Mapping[str, str]],
        fetched_at: float,
        *,
        events: Iterable[KioskEvent] = (),
        close_margin_s: float = 0.0,
        inventory_digest: str | None = None,
    ) -> Catalog:
        """Join get-data, products search and the inventory template fetched at `fetched_at`.

        `events` (kiosk events search) may carry an explicit `closing_timestamp`; when it is
        earlier than the event time computed from the product, it wins. `inventory`: the
        template's rows, or the tables `inventory_tables` made of them (the daemon makes
        those first and drops the rows, so the catalog's lasting objects are not allocated
        among the decoded answer's: see the module's rules), with the digest of the answer
        they came from.
        """
        tz = entity.time_zone
        zone(tz)  # fail early on an unknown zone
        closing = {e.id: e.closing_timestamp for e in events if e.closing_timestamp is not None}
        joined: dict[int, CatalogProduct] = {}
        for p in products:
            event_at = event_time(p.open_event_date, p.open_event_time, tz)
            closes_at = None if event_at is None else event_at - close_margin_s
            explicit = closing.get(p.open_event_id) if p.open_event_id is not None else None
            if explicit is not None:
                closes_at = explicit if closes_at is None else min(closes_at, explicit)
            joined[p.id] = CatalogProduct(
                id=p.id,
                name=p.name,
                lottery=p.lottery or "",
                game_category=p.game_category,
                active=(p.status in ("", "active")) and (p.lottery_status in (None, "", "active")),
                limits=entity.limits.get(p.id),
                event_id=p.open_event_id,
                event_at=event_at,
                closes_at=closes_at,
            )
        return cls(
            entity_id=entity.entity_id,
            agency_name=entity.name,
            seconds_to_cancel=entity.seconds_to_cancel,
            ticket_expiration_days=entity.ticket_expiration_days,
            time_zone=tz,
            header=entity.header,
            footer=entity.footer,
            products=joined,
            inventory=(
                dict(inventory) if isinstance(inventory, Mapping) else inventory_tables(inventory)
            ),
            fetched_at=fetched_at,
            close_margin_s=close_margin_s,
            inventory_digest=inventory_digest,
        )

    # ------------------------------------------------------------------ questions

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)

    def is_stale(self, now: float, max_age_s: float) -> bool:
        return self.age(now) > max_age_s

    def refresh_in(self, now: float, refresh_s: float) -> float:
        """Seconds until the next refresh should fetch this catalog again: `refresh_s`, or
        sooner, AFTER_CLOSE_S after the next of its open events closes (the API then names
        that product's next draw, which the counter could not sell until a refresh found it:
        up to `refresh_s`, five minutes an hour with hourly draws), and CLOSED_RETRY_S while
        an active product's event has closed and its next one is not known yet, for up to
        CLOSED_RETRY_FOR_S after that close. `now`: the server's time, as `closes_at`."""
        wait = refresh_s
        for p in self.products.values():
            if not p.active or p.closes_at is None:
                continue
            if p.closes_at > now:
                wait = min(wait, p.closes_at - now + AFTER_CLOSE_S)
            elif now - p.closes_at < CLOSED_RETRY_FOR_S:
                wait = min(wait, CLOSED_RETRY_S)
        return max(MIN_REFRESH_S, wait)

    def product(self, product_id: int) -> CatalogProduct | None:
        return self.products.get(product_id)

    def wager_for_code(self, game_id: int, code: str) -> str | None:
        return self.inventory.get(game_id, {}).get(code)

    def validate(self, draft: Sequence[DraftWager], now: float) -> list[WagerRequest] | Rejection:
        return validate(self, draft, now)

    # ------------------------------------------------------------------ journal cache

    def to_json(self, *, inventory: bool = True) -> dict[str, Any]:
        """The cache's form; without `inventory`, all but the inventory's tables and digest
        (the daemon's cache keeps those in a row of their own, rewritten only when new)."""
        data = {
            "format": FORMAT_VERSION,
            "entity_id": self.entity_id,
            "agency_name": self.agency_name,
            "seconds_to_cancel": self.seconds_to_cancel,
            "ticket_expiration_days": self.ticket_expiration_days,
            "time_zone": self.time_zone,
            "header": self.header,
            "footer": self.footer,
            "fetched_at": self.fetched_at,
            "close_margin_s": self.close_margin_s,
            "products": [
                {
                    **{k: v for k, v in asdict(p).items() if k != "limits"},
                    "limits": asdict(p.limits) if p.limits else None,
                }
                for p in self.products.values()
            ],
        }
        if inventory:
            data["inventory_tables"] = [
                {"game_id": game, **_as_table(table).to_parts()}
                for game, table in self.inventory.items()
            ]
            data["inventory_digest"] = self.inventory_digest
        return data

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Catalog:
        """Inverse of `to_json`; ValueError on a cache written by an unknown format."""
        if obj.get("format") not in FORMATS_READ:
            raise ValueError(f"catalog cache format {obj.get('format')!r} is not supported")
        products: dict[int, CatalogProduct] = {}
        for row in obj["products"]:
            limits = GameLimits(**row["limits"]) if row.get("limits") else None
            fields = {k: v for k, v in row.items() if k != "limits"}
            products[int(row["id"])] = CatalogProduct(limits=limits, **fields)
        # Either form, whatever the format says: the daemon keeps the inventory in a row of
        # its own, written first, so a crash between the two rows may pair them across formats.
        if "inventory_tables" in obj:
            codes = {
                int(t["game_id"]): CodeTable.from_parts(t) for t in obj["inventory_tables"]
            }
        else:
            codes = _tables((int(i["game_id"]), i["code"], i["wager"]) for i in obj["inventory"])
        return cls(
            entity_id=obj["entity_id"],
            agency_name=obj["agency_name"],
            seconds_to_cancel=obj["seconds_to_cancel"],
            ticket_expiration_days=obj["ticket_expiration_days"],
            time_zone=obj["time_zone"],
            header=obj["header"],
            footer=obj["footer"],
            products=products,
            inventory=codes,
            fetched_at=obj["fetched_at"],
            close_margin_s=obj.get("close_margin_s", 0.0),
            inventory_digest=obj.get("inventory_digest"),
        )

    def __repr__(self) -> str:
        return (
            f"Catalog(entity={self.entity_id}, products={len(self.products)}, "
            f"fetched_at={self.fetched_at})"
        )


def _as_table(table: Mapping[str, str]) -> CodeTable:
    return table if isinstance(table, CodeTable) else CodeTable(table.items())


def inventory_tables(inventory: Iterable[InventoryCode]) -> dict[int, CodeTable]:
    """The inventory template's rows -> a `CodeTable` per game (what `Catalog.build` keeps)."""
    return _tables((i.game_id, i.code, i.wager) for i in inventory)


def _tables(rows: Iterable[tuple[int, str, str]]) -> dict[int, CodeTable]:
    """(game_id, code, wager) rows -> a `CodeTable` per game, games in order of appearance."""
    games: dict[int, list[tuple[str, str]]] = {}
    for game, code, wager in rows:
        games.setdefault(game, []).append((code, wager))
    return {game: CodeTable(pairs) for game, pairs in games.items()}


def _closed_reason(p: CatalogProduct, now: float) -> str | None:
    if p.event_id is None or p.closes_at is None:
        return f"product {p.id} has no open event"
    if now >= p.closes_at:
        return f"event {p.event_id} of product {p.id} closed"
    return None


def _money(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def check_wager(
    catalog: Catalog, wager: DraftWager, now: float, index: int = 0
) -> WagerRequest | Rejection:
    """One wager -> its `WagerRequest` or a `Rejection` (count limits are checked by `validate`)."""
    p = catalog.products.get(wager.product)
    if p is None or not p.active or p.limits is None:
        return Rejection(
            UNKNOWN_PRODUCT,
            f"product {wager.product} is not sold here",
            index,
            {"product": wager.product},
        )
    closed = _closed_reason(p, now)
    if closed is not None:
        return Rejection(EVENT_CLOSED, closed, index, {"product": p.id, "event": p.event_id})
    assert p.event_id is not None  # _closed_reason refused products without an open event
    limits = p.limits
    api_wager = catalog.wager_for_code(limits.game_id, wager.number)
    if api_wager is None:
        return Rejection(
            BAD_WAGER_CODE,
            f"{wager.number} is not a valid number for product {p.id}",
            index,
            {"number": wager.number, "product": p.id},
        )
    amount = {"amount": wager.amount}
    if wager.amount < limits.min_bet:
        return Rejection(
            UNDER_MIN_BET,
            f"amount {wager.amount} below min_bet {_money(limits.min_bet)}",
            index,
            {**amount, "limit": _money(limits.min_bet)},
        )
    if wager.amount > limits.max_bet:
        return Rejection(
            OVER_MAX_BET,
            f"amount {wager.amount} above max_bet {_money(limits.max_bet)}",
            index,
            {**amount, "limit": _money(limits.max_bet)},
        )
    multiple = limits.amount_multiple
    if multiple and multiple > 0 and wager.amount % multiple != 0:
        return Rejection(
            NOT_A_MULTIPLE,
            f"amount {wager.amount} is not a multiple of {_money(multiple)}",
            index,
            {**amount, "limit": _money(multiple)},
        )
    return WagerRequest(
        amount=wager.amount, event_id=p.event_id, game_id=limits.game_id, wager=api_wager
    )


def max_wagers(catalog: Catalog, draft: Sequence[DraftWager]) -> int | None:
    """The strictest `ticket_max_wagers` among the draft's products (None if none known)."""
    limits = [
        p.limits.ticket_max_wagers
        for w in draft
        if (p := catalog.products.get(w.product)) is not None and p.limits is not None
    ]
    return min(limits) if limits else None


def check_count(catalog: Catalog, draft: Sequence[DraftWager]) -> Rejection | None:
    """A Rejection when the draft holds more wagers than one of its products allows a ticket."""
    limit = max_wagers(catalog, draft)
    if limit is not None and len(draft) > limit:
        return Rejection(
            TOO_MANY_WAGERS,
            f"{len(draft)} wagers, at most {limit} per ticket",
            facts={"count": len(draft), "limit": limit},
        )
    return None


def validate(
    catalog: Catalog | None, draft: Sequence[DraftWager], now: float
) -> list[WagerRequest] | Rejection:
    """Validate a whole draft: every wager, then the per-ticket wager count."""
    if catalog is None:
        return Rejection(CATALOG_NOT_LOADED, "the catalog was never loaded")
    if not draft:
        return Rejection(EMPTY_DRAFT, "no wagers")
    requests: list[WagerRequest] = []
    for index, wager in enumerate(draft):
        result = check_wager(catalog, wager, now, index)
        if isinstance(result, Rejection):
            return result
        requests.append(result)
    return check_count(catalog, draft) or requests
