import datetime as dt

import pytest

from kioskd.counter.grammar import DraftWager
from kioskd.counter.scan import (
    BadScan,
    ScanParser,
    ScanPatternError,
    SlipScan,
    TicketScan,
    barcode_data,
)

DAY = dt.date(2024, 10, 22)


def test_barcode_data_is_24_digits_and_parses_back():
    data = barcode_data(32426439, 76479163, DAY)
    assert data == "324264397647916320241022"
    assert ScanParser().parse(data) == TicketScan(32426439, 76479163, DAY)


def test_small_numbers_are_zero_padded():
    data = barcode_data(42, 7, DAY)
    assert data == "000000420000000720241022"
    assert ScanParser().parse(data) == TicketScan(42, 7, DAY)


def test_ticket_only_and_ticket_pin_without_date():
    parser = ScanParser()
    assert parser.parse("32426439") == TicketScan(32426439, None, None)
    assert parser.parse("3242643976479163\r\n") == TicketScan(32426439, 76479163, None)


def test_other_terminal_layout_with_custom_pattern():
    parser = ScanParser(r"T(?P<date>\d{4}-\d{2}-\d{2})-(?P<ticket>\d+)-(?P<pin>\d+)")
    assert parser.parse("T2024-10-22-123-456") == TicketScan(123, 456, DAY)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("1234", "no_match"), ("324264397647916320241399", "bad_date"), ("hello", "no_match")],
)
def test_unreadable_scans(text, reason):
    result = ScanParser().parse(text)
    assert isinstance(result, BadScan)
    assert result.reason == reason


def test_play_slip_scan():
    assert ScanParser().parse("K1:1.341.20;1.000.20") == SlipScan(
        (DraftWager(1, "341", 20), DraftWager(1, "000", 20))
    )
    bad = ScanParser().parse("K1:1.341")
    assert isinstance(bad, BadScan) and bad.reason == "slip"


@pytest.mark.parametrize(
    "pattern", [r"(?P<pin>\d{8})", r"(?P<ticket>\d+", r"(?P<ticket>\d)(?P<x>.)"]
)
def test_bad_patterns_are_refused(pattern):
    with pytest.raises(ScanPatternError):
        ScanParser(pattern)


def test_pin_never_in_repr():
    scan = ScanParser().parse(barcode_data(32426439, 76479163, DAY))
    assert "76479163" not in repr(scan)
    assert "32426439" in repr(scan)
