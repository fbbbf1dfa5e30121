import pytest

from kioskd.counter.grammar import (
    SLIP_PREFIX,
    DraftWager,
    GrammarError,
    parse_play_slip,
    parse_wager,
)


def play_slip_code(wagers: list[DraftWager]) -> str:
    """The inverse of `parse_play_slip`: what a play slip's QR code holds."""
    return SLIP_PREFIX + ";".join(w.text() for w in wagers)


def test_wager_keeps_leading_zeros_of_the_number():
    assert parse_wager("1.341.20") == DraftWager(1, "341", 20)
    assert parse_wager("2.000.5") == DraftWager(2, "000", 5)
    assert parse_wager("30.00.10").number == "00"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("1.341", "parts"),
        ("1.341.20.5", "parts"),
        (".341.20", "product"),
        ("1..20", "number"),
        ("1.341.", "amount"),
        ("1.341.0", "amount"),
        ("1.3a1.20", "number"),
        ("1.341.2000000000", "amount"),
        ("1.٣.20", "number"),  # non-ASCII digits are not keypad digits
    ],
)
def test_malformed_wagers(text, reason):
    with pytest.raises(GrammarError) as info:
        parse_wager(text)
    assert info.value.reason == reason


def test_play_slip_equals_typed_wagers_and_round_trips():
    wagers = parse_play_slip("K1:1.341.20;1.000.20;")
    assert wagers == [DraftWager(1, "341", 20), DraftWager(1, "000", 20)]
    assert parse_play_slip(play_slip_code(wagers)) == wagers
    assert parse_play_slip("k1:3.44401.5") == [DraftWager(3, "44401", 5)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [("K2:1.2.3", "slip_prefix"), ("K1:", "slip_empty"), ("K1:1.341.20;1.341", "parts")],
)
def test_bad_play_slips(text, reason):
    with pytest.raises(GrammarError) as info:
        parse_play_slip(text)
    assert info.value.reason == reason


def test_bad_slip_names_the_wager():
    with pytest.raises(GrammarError, match="wager 2"):
        parse_play_slip("K1:1.341.20;1.x.20")
