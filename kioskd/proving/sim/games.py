"""The simulator's catalog: games, products, their daily draws and the wager inventory.

Rules:
- Pure data and arithmetic: no clock, no randomness. Everything here follows from the date.
- Event ids are computed, not stored: `EVENT_ID_BASE + day_index * SLOTS_PER_DAY + slot`, where
  `day_index` counts local days (entity zone) since 2020-01-01 and `slot` indexes `SLOTS` (every
  (product, draw time) pair). So an id names its product, its day and its draw, and two
  simulators always agree on it.
- Each product has exactly one open event at any moment: the next of its draws whose closing
  time has not passed. Selling for a draw therefore opens when the previous draw of the same
  product closes (the first draw of a day opens when yesterday's last draw closes).
- A draw closes at its event time (`CLOSE_BEFORE_S` earlier if set) and its result is posted
  `RESULT_DELAY_S` after the event time.
- Games: 1 = triple (codes "000".."999"); 3 = triple with zodiac (wager "444-ARI", keypad code
  "44401": the triple followed by the sign index 01-12); 5 = animalitos ("0", "00", "1".."36").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

TIME_ZONE = "America/Caracas"
ZONE = ZoneInfo(TIME_ZONE)

EVENT_ID_BASE = 20000
SLOTS_PER_DAY = 64
DAY_ZERO = date(2020, 1, 1)
CLOSE_BEFORE_S = 0
RESULT_DELAY_S = 300

SIGNS = ("ARI", "TAU", "GEM", "CAN", "LEO", "VIR", "LIB", "ESC", "SAG", "CAP", "ACU", "PIS")

# Prize multipliers per game (prize = amount x multiplier for a wager equal to the result).
MULTIPLIERS = {1: 600, 3: 6000, 5: 30}

# game_id -> (list name, list_id) as in the seed's results; animalitos have no list.
GAME_LISTS: dict[int, tuple[str | None, int | None]] = {1: ("A", 1), 3: ("C", 3), 5: (None, None)}


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    name: str
    lottery: str
    lottery_id: int
    game_id: int
    game_category: str
    times: tuple[str, ...]  # local "HH:MM", ascending
    display_order: int
    quota: int
    min_bet: int
    max_bet: int
    amount_multiple: int
    ticket_max_wagers: int


PRODUCTS: tuple[Product, ...] = (
    Product(1, "TRIPLE ZAMORANO", "LOTERÍA DEL ZÚLIA", 1, 1, "lottery",
            ("12:00", "16:00", "19:00"), 19, 100, 1, 99, 1, 100),
    Product(2, "TRIPLE ZULIA", "LOTERÍA DEL ZÚLIA", 1, 1, "lottery",
            ("12:45", "16:45", "19:45"), 18, 1000000, 1, 99, 1, 100),
    Product(3, "ASTRO ZAMORANO", "LOTERÍA DEL ZÚLIA", 1, 3, "lottery",
            ("12:00", "16:00", "19:00"), 21, 1000000, 1, 99, 1, 100),
    Product(4, "ZODÍACO DEL ZULIA", "LOTERÍA DEL ZÚLIA", 1, 3, "lottery",
            ("12:45", "16:45", "19:45"), 22, 1000000, 1, 99, 1, 100),
    Product(6, "JUNGLA MILLONARIA", "LOTERÍA JUNGLA", 5, 5, "animalitos",
            tuple(f"{h:02d}:00" for h in range(9, 20)), 20, 1000000, 2, 100, 2, 20),
)  # fmt: skip

PRODUCTS_BY_ID = {p.id: p for p in PRODUCTS}

# Every (product, draw index) of a day; the index in this tuple is the event id's slot.
SLOTS: tuple[tuple[Product, int], ...] = tuple(
    (p, i) for p in PRODUCTS for i in range(len(p.times))
)
SLOT_OF = {(p.id, i): s for s, (p, i) in enumerate(SLOTS)}
assert len(SLOTS) <= SLOTS_PER_DAY


@dataclass(frozen=True, slots=True)
class Event:
    """One draw of one product on one local day."""

    id: int
    product: Product
    day: date
    time: str  # local "HH:MM"
    event_ts: float
    closing_ts: float
    result_ts: float

    @property
    def p_event_time(self) -> str:
        """ "12:00 pm" as printed in the seed's wagers."""
        return datetime.strptime(self.time, "%H:%M").strftime("%I:%M %p").lower()

    @property
    def event_time_utc(self) -> str:
        return datetime.fromtimestamp(self.event_ts, ZoneInfo("UTC")).strftime("%H:%M")


def local_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, ZONE).date()


def day_start(day: date) -> float:
    """Unix seconds of local midnight starting `day`."""
    return datetime.combine(day, time(0, 0), ZONE).timestamp()


@lru_cache(maxsize=65536)
def event(event_id: int) -> Event | None:
    """The event an id names, or None for an id this catalog never issues."""
    offset = event_id - EVENT_ID_BASE
    if offset < 0:
        return None
    day_index, slot = divmod(offset, SLOTS_PER_DAY)
    if slot >= len(SLOTS):
        return None
    product, i = SLOTS[slot]
    return _make(product, DAY_ZERO + timedelta(days=day_index), i)


def event_for(product: Product, day: date, index: int) -> Event:
    return _day_events(product, day)[index]


def _make(product: Product, day: date, index: int) -> Event:
    hh, mm = (int(x) for x in product.times[index].split(":"))
    event_ts = datetime.combine(day, time(hh, mm), ZONE).timestamp()
    event_id = EVENT_ID_BASE + (day - DAY_ZERO).days * SLOTS_PER_DAY + SLOT_OF[(product.id, index)]
    return Event(
        id=event_id,
        product=product,
        day=day,
        time=product.times[index],
        event_ts=event_ts,
        closing_ts=event_ts - CLOSE_BEFORE_S,
        result_ts=event_ts + RESULT_DELAY_S,
    )


@lru_cache(maxsize=8192)
def _day_events(product: Product, day: date) -> tuple[Event, ...]:
    return tuple(_make(product, day, i) for i in range(len(product.times)))


def open_event(product: Product, now: float) -> Event:
    """The product's one open event: the first draw whose closing time is still ahead."""
    day = local_day(now) - timedelta(days=1)
    while True:
        for ev in _day_events(product, day):
            if ev.closing_ts > now:
                return ev
        day += timedelta(days=1)


def next_event(ev: Event) -> Event:
    """The draw after `ev` of the same product."""
    i = ev.product.times.index(ev.time)
    if i + 1 < len(ev.product.times):
        return _make(ev.product, ev.day, i + 1)
    return _make(ev.product, ev.day + timedelta(days=1), 0)


def events_between(start: float, end: float) -> list[Event]:
    """Every event whose event time falls in [start, end], ordered by time then slot."""
    out: list[Event] = []
    day = local_day(start)
    last = local_day(end)
    while day <= last:
        for product, i in SLOTS:
            ev = _make(product, day, i)
            if start <= ev.event_ts <= end:
                out.append(ev)
        day += timedelta(days=1)
    out.sort(key=lambda e: (e.event_ts, e.id))
    return out


@cache
def inventory(game_id: int) -> tuple[tuple[str, str], ...]:
    """Every valid (wager, code) of a game, in the template's order."""
    if game_id == 1:
        return tuple((f"{n:03d}", f"{n:03d}") for n in range(1000))
    if game_id == 3:
        return tuple(
            (f"{n:03d}-{sign}", f"{n:03d}{k + 1:02d}")
            for n in range(1000)
            for k, sign in enumerate(SIGNS)
        )
    if game_id == 5:
        return tuple((w, w) for w in ["0", "00", *(str(n) for n in range(1, 37))])
    return ()


@cache
def _wager_by_code(game_id: int) -> dict[str, str]:
    table = {code: wager for wager, code in inventory(game_id)}
    table.update({wager: wager for wager, _ in inventory(game_id)})
    return table


def normalize_wager(game_id: int, text: str) -> str | None:
    """The canonical wager for a wager or inventory code of the game, None if not valid."""
    return _wager_by_code(game_id).get(text)


def games() -> tuple[int, ...]:
    return tuple(sorted({p.game_id for p in PRODUCTS}))
