"""Response examples copied from the Banklot API reference (the seed), truncated lists closed.

Used to prove that every documented response shape parses. Values are the seed's, unchanged.
"""

from __future__ import annotations

from typing import Any

from kioskd.proving.fakes.samples import limits_row


def _wager(event: int, current: int, name: str, time: str, wager: str) -> dict[str, Any]:
    return {
        "amount": 3,
        "current_event_id": current,
        "event_id": event,
        "event_name": name,
        "game_id": 3,
        "list_id": 3,
        "p_event_time": time,
        "status": "sold",
        "wager": wager,
    }


LOOKUP_REQUEST = {"ticket_number": 32426439, "date": "2024-10-22"}
LOOKUP = {
    "status": 201,
    "response": {
        "ticket_number": 32426439,
        "pin_number": 76479163,
        "num_wagers": 6,
        "entity_id": 213,
        "parent_id": 212,
        "entity_name": "test-1",
        "parent_name": "test",
        "created_at": 1729587036,
        "wagers": [
            _wager(23173, 23336, "ASTRO ZAMORANO", "12:00 pm", "444-ARI"),
            _wager(23173, 23336, "ASTRO ZAMORANO", "12:00 pm", "444-CAN"),
            _wager(23173, 23336, "ASTRO ZAMORANO", "12:00 pm", "444-ACU"),
            _wager(23147, 23310, "ZODÍACO DEL ZULIA", "12:45 pm", "444-ARI"),
            _wager(23147, 23310, "ZODÍACO DEL ZULIA", "12:45 pm", "444-CAN"),
            _wager(23147, 23310, "ZODÍACO DEL ZULIA", "12:45 pm", "444-ACU"),
        ],
        "amount": 18,
    },
}

LAST = {
    "status": 202,
    "response": {
        "ticket_number": 10063292,
        "pin_number": 38037945,
        "num_wagers": 3,
        "entity_id": 213,
        "parent_id": 212,
        "entity_name": "test-1",
        "parent_name": "test",
        "created_at": 1729664000,
        "wagers": [
            {
                "amount": 22,
                "current_event_id": 23301,
                "event_id": 23301,
                "event_name": "JUNGLA MILLONARIA",
                "game_id": 5,
                "list_id": None,
                "p_event_time": "09:00 am",
                "status": "sold",
                "wager": w,
            }
            for w in ("0", "1", "2")
        ],
        "amount": 66,
    },
}


def _row(uuid: str, number: int, created: int, status: str, total: int, prize: int) -> dict:
    return {
        "id": uuid,
        "ticket_number": number,
        "created_at": created,
        "user_id": 864,
        "email": "username@banklot.net",
        "status": status,
        "total": total,
        "prize": prize,
        "entity_id": 213,
        "parent_id": 212,
        "entity_name": "test-1",
        "parent_name": "test",
    }


LIST_CANCELED_REQUEST = {
    "filter": {
        "between_created_at": ["2024-06-05T04:00:00.000Z", "2024-10-23T03:59:59.999Z"],
        "status": "canceled",
    },
    "sort": {"created_at": 1},
}
LIST_CANCELED = {
    "status": 200,
    "response": [
        _row("639a1521-49b9-4876-a36c-36c621593930", 13239361, 1721660369, "canceled", 6, 0)
    ],
}
LIST_WINNER = {
    "status": 200,
    "response": [
        _row("af681029-87a2-4834-b7f9-56d88ee3a74e", 23315522, 1728066656, "winner", 33, 330)
    ],
}
LIST_WAGER_REQUEST = {
    "filter": {
        "between_created_at": ["2024-08-28T04:00:00.000Z", "2024-08-29T03:59:59.999Z"],
        "transaction_type": "wager",
    },
    "order_by": [{"name": "created_at", "value": "desc"}],
}
LIST_WAGER = {
    "status": 200,
    "response": [_row("16baefc2-5c3e-4f17-a26c-c19808e22655", 30213646, 1724896556, "sold", 10, 0)],
}


def _limits(product_id: int) -> dict:
    return limits_row(product_id, 1)


GET_DATA = {
    "status": 200,
    "response": {
        "entity_id": 213,
        "name": "test-1",
        "status": "active",
        "games": ["animalitos77", "animalitos", "tripleta", "lottery"],
        "entity_data": {
            "address1": "",
            "address2": "",
            "city": "",
            "municipality": 1,
            "rif": "1234",
            "seconds_to_cancel": 180,
            "state": 3,
            "ticket_expiration_days": 3,
            "ticket_footer": "123",
            "ticket_header": "123",
            "time_zone": "America/Caracas",
        },
        "game_data": [_limits(1), _limits(2), _limits(3)],
    },
}

PAY_REQUEST = {"ticket_number": 10653459, "pin_number": 84038675, "date": "2024-09-16"}
PAY_NOT_A_WINNER = {"status": 200, "error": "not a winner"}

COPY_REQUEST = {"ticket_number": 71998218, "date": "2024-09-17"}
COPY = {
    "status": 201,
    "response": {
        "ticket_uuid": "362a5a41-2ac4-4c8f-a8f7-a907f86e4426",
        "ticket_number": 71998218,
        "num_wagers": 1,
        "wagers": [
            {"amount": 5, "event_id": 23335, "game_id": 1, "old_event_id": 18748, "wager": "001"}
        ],
    },
}

CANCEL_REQUEST = {"ticket_number": 18712010}
CANCEL_NOT_FOUND = {"status": 400, "error": "no rows in result set"}
REVERT_REQUEST = {"ticket_number": 71998218}
REVERT_ALREADY = {"status": 401, "error": "ticket already rejected by user"}

CREATE_REQUEST = {
    "ticket": {
        "wagers": [
            {"amount": 2000, "event_id": 18859, "game_id": 1, "wager": "341"},
            {"amount": 2000, "event_id": 18859, "game_id": 1, "wager": "000"},
        ]
    }
}
CREATE_CLOSED = {"status": 409, "error": "events are not open. closed events: [18859]"}

REPORTS_REQUEST = {
    "between_timestamp": ["2024-06-27T04:00:00.000Z", "2024-06-28T03:59:59.999Z"],
    "group": "user",
    "category": "lottery",
}
REPORTS = {
    "status": 200,
    "total": {"agency": 0, "balance": 0, "parent_balance": 0, "prize": 0, "sale": 0},
}

RESULTS_REQUEST = {
    "filter": {"between_created_at": ["2024-08-18T04:00:00.000Z", "2024-09-18T03:59:59.999Z"]},
    "order_by": [{"name": "event_timestamp", "value": "desc"}],
}
_CREATED = {"seconds": 1726545660, "nanos": 192719000}
RESULTS = {
    "status": 200,
    "response": [
        {
            "id": 18697,
            "game_product_id": 6,
            "name": "JUNGLA MILLONARIA",
            "event_time": "16:00",
            "event_time_utc": "20:00",
            "closing_timestamp": {"seconds": 1729713300},
            "game_category": "animalitos",
            "status": "result",
            "event_timestamp": {"seconds": 1726603200},
            "display_order": 20,
            "main_result": "5",
            "event_status": "closed",
            "result_created_at": _CREATED,
        },
        {
            "id": 18732,
            "game_product_id": 1,
            "name": "TRIPLE ZAMORANO",
            "event_time": "16:00",
            "event_time_utc": "20:00",
            "closing_timestamp": {"seconds": 1729713300},
            "game_category": "lottery",
            "status": "result",
            "event_timestamp": {"seconds": 1726603200},
            "display_order": 19,
            "list": "C",
            "list_id": 3,
            "main_result": "000-ACU",
            "event_status": "closed",
            "zodiac": True,
            "result_created_at": _CREATED,
        },
        {
            "id": 18731,
            "game_product_id": 1,
            "name": "TRIPLE ZAMORANO",
            "event_time": "16:00",
            "event_time_utc": "20:00",
            "closing_timestamp": {"seconds": 1729713300},
            "game_category": "lottery",
            "status": "result",
            "event_timestamp": {"seconds": 1726603200},
            "display_order": 19,
            "list": "A",
            "list_id": 1,
            "main_result": "000",
            "event_status": "closed",
            "result_created_at": _CREATED,
        },
    ],
}

INVENTORY = {
    "status": 200,
    "response": [
        {"game_id": 1, "wager": "001", "code": "001"},
        {"game_id": 1, "wager": "002", "code": "002"},
    ],
}

EVENTS_KIOSK_REQUEST = {
    "filter": {
        "between_created_at": ["2024-06-05T04:00:00.000Z", "2024-06-06T03:59:59.999Z"],
        "game_category": "lottery",
        "status": "open",
    },
    "sort": {"game_category": "desc", "event_timestamp": "desc", "display_order": "0"},
}
EVENTS_KIOSK_EMPTY = {"status": 201, "total": 0}


def _product(pid, name, lottery, lid, quota, cat, event_id, time, next_date, next_time):
    return {
        "id": pid,
        "name": name,
        "lottery": lottery,
        "lottery_id": lid,
        "status": "active",
        "quota": quota,
        "game_category": cat,
        "lottery_status": "active",
        "data": [
            {
                "event_date": "2024-10-23",
                "event_id": event_id,
                "event_time": time,
                "next_event_date": next_date,
                "next_event_time": next_time,
            }
        ],
    }


PRODUCTS = {
    "status": 201,
    "response": [
        _product(
            17,
            "TRIPLE DORADO",
            "LOTERIA DE GUAYANA",
            22,
            1000000,
            "lottery",
            23286,
            "14:00:00",
            "2024-10-24",
            "12:00:00",
        ),
        _product(
            30,
            "LOTTO REY",
            "LOTERIA DE MARGARITA",
            24,
            1000000,
            "animalitos",
            23431,
            "13:30:00",
            "2024-10-24",
            "11:30:00",
        ),
        _product(
            18,
            "GUACHARO ACTIVO",
            "LOTERÍA DE ORIENTE",
            23,
            1000000,
            "animalitos77",
            23346,
            "14:00:00",
            "2024-10-24",
            "12:00:00",
        ),
        _product(
            27,
            "TRIPLE CHANCE",
            "LOTERÍA DE ORIENTE",
            23,
            1000000,
            "lottery",
            23366,
            "16:30:00",
            "2024-10-23",
            None,
        ),
        _product(
            2,
            "TRIPLE ZULIA",
            "LOTERÍA DEL ZÚLIA",
            1,
            1000000,
            "lottery",
            23311,
            "16:45:00",
            "2024-10-23",
            None,
        ),
        _product(
            1,
            "TRIPLE ZAMORANO",
            "LOTERÍA DEL ZÚLIA",
            1,
            100,
            "lottery",
            23316,
            "16:00:00",
            "2024-10-23",
            None,
        ),
    ],
}
