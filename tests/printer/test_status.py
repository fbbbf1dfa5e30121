"""DLE EOT parsing: fixed bits validated, unknown stays unknown."""

from __future__ import annotations

import pytest

from kioskd.printer.status import PrinterStatus, parse_status, query, reply_byte, valid_reply

OK = {1: reply_byte(), 2: reply_byte(), 3: reply_byte(), 4: reply_byte()}


def test_query_bytes_and_bounds():
    assert query(1) == b"\x10\x04\x01"
    with pytest.raises(ValueError):
        query(5)


def test_all_good_is_printable():
    s = parse_status(OK)
    assert (s.online, s.cover, s.paper, s.error) == (True, "closed", "ok", "none")
    assert s.printable and not s.blocking and s.summary() == "ok"


@pytest.mark.parametrize(
    ("replies", "field", "value", "summary"),
    [
        ({**OK, 4: reply_byte(near_end=True)}, "paper", "near_end", "paper_near_end"),
        ({**OK, 4: reply_byte(paper_out=True)}, "paper", "out", "paper_out"),
        ({**OK, 2: reply_byte(cover_open=True)}, "cover", "open", "cover_open"),
        ({**OK, 3: reply_byte(cutter=True)}, "error", "cutter", "error_cutter"),
        (
            {**OK, 3: reply_byte(unrecoverable=True)},
            "error",
            "unrecoverable",
            "error_unrecoverable",
        ),
        ({**OK, 1: reply_byte(offline=True)}, "online", False, "offline"),
        ({**OK, 2: reply_byte(paper_stop=True)}, "paper", "out", "paper_out"),
    ],
)
def test_single_conditions(replies, field, value, summary):
    s = parse_status(replies)
    assert getattr(s, field) == value
    assert s.summary() == summary


def test_near_end_still_printable_and_not_blocking():
    s = parse_status({**OK, 4: reply_byte(near_end=True)})
    assert s.printable and not s.blocking


def test_missing_paper_sensor_is_unknown_not_ok():
    s = parse_status({1: OK[1], 2: OK[2], 3: OK[3], 4: None})
    assert s.paper == "unknown"
    assert not s.printable and not s.blocking


@pytest.mark.parametrize("bad", [0x00, 0xFF, 0x13, 0x92, 0x02])
def test_reply_with_wrong_fixed_bits_counts_as_no_reply(bad):
    assert not valid_reply(bad)
    s = parse_status({**OK, 4: bad})
    assert s.paper == "unknown"


def test_no_answer_at_all():
    s = parse_status({1: None})
    assert s.answered is False and s.connected
    assert (s.online, s.cover, s.paper, s.error) == (None, "unknown", "unknown", "unknown")
    assert s.summary() == "unknown"


def test_disconnected_json():
    data = parse_status({}, connected=False).to_json()
    assert data["online"] == "unknown" and data["paper"] == "unknown"
    assert data["state"] == "disconnected" and data["printable"] is False
    assert PrinterStatus().needs_person
