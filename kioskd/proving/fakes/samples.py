"""Sample data for `kioskd preview`, docs and tests: a small catalog and matching answers.

Shaped exactly like the Banklot API answers (built with the real `from_json` parsers), at a fixed
moment: 2024-10-23 12:30 in America/Caracas. Nothing here is a real ticket, PIN or agency.
"""

from __future__ import annotations

import datetime as dt
import functools

from kioskd.banklot.models import (
    DrawResult,
    EntityData,
    InventoryCode,
    PayResult,
    Product,
    Ticket,
    TicketSummary,
)
from kioskd.counter.catalog import Catalog, event_time
from kioskd.counter.i18n import server_text
from kioskd.counter.slips import (
    ShiftReport,
    SlipContext,
    StatusInfo,
    cancel_slip,
    expired_slip,
    not_winner_slip,
    payout_slip,
    pending_slip,
    rejected_slip,
    report_slip,
    results_slip,
    status_slip,
    test_slip,
    ticket_slip,
)
from kioskd.proving.sim.games import TIME_ZONE
from kioskd.receipt import Receipt

TZ = TIME_ZONE
#: 2024-10-23 12:30:00 in Caracas (UTC-4).
NOW = dt.datetime(2024, 10, 23, 12, 30, tzinfo=dt.UTC).timestamp() + 4 * 3600
DAY = dt.date(2024, 10, 23)


def limits_row(product_id: int, game_id: int, **kw: int) -> dict:
    """One get-data `game_data` row (the seed's values unless `kw` says otherwise)."""
    row = {
        "amount_multiple": 1,
        "commission": 10,
        "game_id": game_id,
        "max_bet": 99,
        "max_permutations": 6,
        "max_sequence_size": 10,
        "max_sequences": 2,
        "min_bet": 1,
        "product_id": product_id,
        "ticket_max_wagers": 100,
    }
    row.update(kw)
    return row


GET_DATA = {
    "entity_id": 213,
    "name": "AGENCIA EL TREBOL",
    "status": "active",
    "games": ["animalitos", "lottery"],
    "entity_data": {
        "seconds_to_cancel": 180,
        "ticket_expiration_days": 3,
        "ticket_footer": "Caduca a los 3 días\nGracias por su compra",
        "ticket_header": "LOTERÍA DEMO\nRIF J-00000000-0",
        "time_zone": TZ,
    },
    "game_data": [
        limits_row(1, 1),
        limits_row(2, 1, min_bet=5, max_bet=500, amount_multiple=5, ticket_max_wagers=3),
        limits_row(3, 3),
        limits_row(4, 1),
        limits_row(30, 5, max_bet=200),
    ],
}


def _product(pid: int, name: str, lottery: str, category: str, time: str) -> dict:
    return {
        "id": pid,
        "name": name,
        "lottery": lottery,
        "lottery_id": pid,
        "status": "active",
        "quota": 1000000,
        "game_category": category,
        "lottery_status": "active",
        "data": [
            {
                "event_date": DAY.isoformat(),
                "event_id": 23300 + pid,
                "event_time": time,
                "next_event_date": (DAY + dt.timedelta(days=1)).isoformat(),
                "next_event_time": "12:00:00",
            }
        ],
    }


PRODUCTS = [
    _product(1, "TRIPLE ZAMORANO", "LOTERÍA DEL ZULIA", "lottery", "16:00:00"),
    _product(2, "TRIPLE ZULIA", "LOTERÍA DEL ZULIA", "lottery", "16:45:00"),
    _product(3, "ZODÍACO DEL ZULIA", "LOTERÍA DEL ZULIA", "lottery", "19:00:00"),
    _product(4, "TRIPLE MAÑANA", "LOTERÍA DE ORIENTE", "lottery", "12:00:00"),  # closed at NOW
    _product(30, "LOTTO REY", "LOTERIA DE MARGARITA", "animalitos", "13:30:00"),
]

SIGNS = ["ARI", "TAU", "GEM", "CAN", "LEO", "VIR", "LIB", "ESC", "SAG", "CAP", "ACU", "PIS"]
INVENTORY = (
    [{"game_id": 1, "wager": f"{n:03d}", "code": f"{n:03d}"} for n in range(1000)]
    + [
        {"game_id": 3, "wager": f"{n:03d}-{sign}", "code": f"{n:03d}{i + 1:02d}"}
        for n in range(1000)
        for i, sign in enumerate(SIGNS)
    ]
    + [{"game_id": 5, "wager": w, "code": w} for w in ["0", "00", *map(str, range(1, 37))]]
)


def entity() -> EntityData:
    return EntityData.from_json(GET_DATA)


def products() -> list[Product]:
    return [Product.from_json(p) for p in PRODUCTS]


def inventory() -> list[InventoryCode]:
    """A new list each call, of codes parsed once (13,000 frozen rows: parsing them for every
    `catalog()` cost a fifth of a second, many times per test run)."""
    return list(_parsed_inventory())


@functools.cache
def _parsed_inventory() -> tuple[InventoryCode, ...]:
    return tuple(InventoryCode.from_json(i) for i in INVENTORY)


def catalog(fetched_at: float = NOW - 60) -> Catalog:
    return Catalog.build(entity(), products(), inventory(), fetched_at)


TICKET_JSON = {
    "ticket_number": 32426439,
    "pin_number": 76479163,
    "num_wagers": 3,
    "entity_id": 213,
    "entity_name": "AGENCIA EL TREBOL",
    "created_at": NOW - 30,
    "status": "sold",
    "wagers": [
        *(
            {
                "amount": 20,
                "current_event_id": 23301,
                "event_id": 23301,
                "event_name": "TRIPLE ZAMORANO",
                "game_id": 1,
                "list_id": 1,
                "p_event_time": "04:00 pm",
                "status": "sold",
                "wager": number,
            }
            for number in ("341", "000")
        ),
        {
            "amount": 1250,
            "current_event_id": 23303,
            "event_id": 23303,
            "event_name": "ZODÍACO DEL ZULIA",
            "game_id": 3,
            "list_id": 3,
            "p_event_time": "07:00 pm",
            "status": "sold",
            "wager": "444-ARI",
        },
    ],
    "amount": 1290,
}


def ticket(**changes: object) -> Ticket:
    return Ticket.from_json({**TICKET_JSON, **changes})


def pay_result() -> PayResult:
    return PayResult.from_json(
        {"ticket_number": 32426439, "status": "paid", "prize": 12345, "paid_at": NOW}
    )


RESULTS_JSON = [
    {
        "id": 23290 + i,
        "game_product_id": pid,
        "name": name,
        "event_time": time,
        "event_timestamp": {"seconds": int(event_time(DAY.isoformat(), time, TZ) or 0)},
        "game_category": "lottery",
        "status": "result",
        "main_result": result,
        "event_status": "closed",
        **({"list": lst} if lst else {}),
    }
    for i, (pid, name, time, result, lst) in enumerate(
        [
            (1, "TRIPLE ZAMORANO", "11:00", "341", "A"),
            (1, "TRIPLE ZAMORANO", "11:00", "000-ACU", "C"),
            (30, "LOTTO REY", "10:30", "12", None),
            (4, "TRIPLE MAÑANA", "09:00", "807", None),
        ]
    )
]


def results() -> list[DrawResult]:
    return [DrawResult.from_json(r) for r in RESULTS_JSON]


def day_tickets() -> list[TicketSummary]:
    rows = [
        (10000001, "sold", 120, 0),
        (10000002, "sold", 1500, 0),
        (10000003, "canceled", 40, 0),
        (10000004, "paid", 60, 600),
    ]
    return [
        TicketSummary.from_json(
            {"ticket_number": n, "created_at": NOW - 600, "status": s, "total": t, "prize": p}
        )
        for n, s, t, p in rows
    ]


# What the server answers to a wager above the product's limit (the slip words it).
REFUSAL = "wager amount 150 above max_bet 99 for product 1"


def all_slips(lang: str = "es", currency: str = "Bs.") -> dict[str, Receipt]:
    """One receipt of every slip kind from the sample data (for `kioskd preview` and docs)."""
    ctx = SlipContext.from_catalog(catalog(), lang=lang, currency=currency, terminal_id="K-07")
    info = StatusInfo(
        version="0.1.0",
        terminal_id="K-07",
        ip="192.0.2.7",
        queue={"queued": 1, "in_doubt": 0, "done": 42},
        printer="ok",
        api="online",
        catalog_age_s=60,
    )
    t = ticket()
    return {
        "ticket": ticket_slip(ctx, t),
        "ticket-copy": ticket_slip(ctx, t, copy=True),
        "payout": payout_slip(ctx, t.ticket_number, 12345, NOW),
        "pending": pending_slip(ctx, t.ticket_number, NOW),
        "not-winner": not_winner_slip(ctx, t.ticket_number, NOW),
        "cancel": cancel_slip(ctx, t.ticket_number, NOW, t.amount),
        "expired-sale": expired_slip(ctx, "sale", NOW, amount=40),
        "expired-pay": expired_slip(ctx, "pay", NOW, ticket_number=t.ticket_number),
        "rejected": rejected_slip(ctx, "wager_rejected", NOW, detail=server_text(REFUSAL, lang)),
        "results": results_slip(ctx, results(), NOW),
        "report": report_slip(ctx, ShiftReport.from_api(DAY, day_tickets()), NOW),
        "status": status_slip(ctx, info, NOW),
        "test": test_slip(ctx, NOW, info),
    }
