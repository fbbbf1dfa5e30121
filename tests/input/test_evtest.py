"""The evtest text format: real evtest output parses; what we write parses back the same."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kioskd.input import evtest
from kioskd.input.evtest import (
    EV_KEY,
    EV_LED,
    EV_MSC,
    EV_SYN,
    SYN_DROPPED,
    SYN_REPORT,
    EvtestSyntaxError,
    InputEvent,
    format_event,
    parse_block,
    parse_header,
    parse_line,
    parse_lines,
)

# As printed by evtest 1.35 for a Symbol scanner (header abridged), plus an older evtest's sync.
REAL = """\
Input driver version is 1.0.1
Input device ID: bus 0x3 vendor 0x5e0 product 0x1200 version 0x110
Input device name: "Symbol Technologies, Inc, 2008 Symbol Bar Code Scanner"
Supported events:
  Event type 0 (EV_SYN)
  Event type 1 (EV_KEY)
    Event code 30 (KEY_A)
  Event type 4 (EV_MSC)
    Event code 4 (MSC_SCAN)
Properties:
Testing ... (interrupt to exit)
Event: time 1729587036.123456, type 4 (EV_MSC), code 4 (MSC_SCAN), value 7001e
Event: time 1729587036.123456, type 1 (EV_KEY), code 30 (KEY_A), value 1
Event: time 1729587036.123456, -------------- SYN_REPORT ------------
Event: time 1729587036.131000, type 1 (EV_KEY), code 30 (KEY_A), value 2
Event: time 1729587036.140001, -------------- SYN_DROPPED ------------
Event: time 1729587036.150000, -------------- Report Sync ------------
"""


def test_real_evtest_output() -> None:
    events = list(parse_lines(REAL.splitlines()))
    assert events == [
        InputEvent(1729587036.123456, EV_MSC, 4, 0x7001E),
        InputEvent(1729587036.123456, EV_KEY, 30, 1),
        InputEvent(1729587036.123456, EV_SYN, SYN_REPORT, 0),
        InputEvent(1729587036.131, EV_KEY, 30, 2),
        InputEvent(1729587036.140001, EV_SYN, SYN_DROPPED, 0),
        InputEvent(1729587036.15, EV_SYN, SYN_REPORT, 0),
    ]
    header = parse_header(REAL.splitlines())
    assert (header.name, header.vendor, header.product) == (
        "Symbol Technologies, Inc, 2008 Symbol Bar Code Scanner",
        0x5E0,
        0x1200,
    )


def test_bad_event_line_names_its_line() -> None:
    with pytest.raises(EvtestSyntaxError, match="line 3"):
        list(parse_lines(["Testing", "", "Event: time 1.0, type one"]))


def test_header_lines_are_not_events() -> None:
    assert parse_line("    Event code 30 (KEY_A)") is None
    assert parse_line('Input device name: "Event: time"') is None


events = st.builds(
    InputEvent,
    st.integers(0, 2_000_000_000_000_000).map(lambda us: us / 1_000_000),
    st.sampled_from([EV_KEY, EV_MSC]),
    st.integers(0, 255),
    st.integers(0, 2),
) | st.builds(
    InputEvent,
    st.integers(0, 2_000_000_000_000_000).map(lambda us: us / 1_000_000),
    st.just(EV_SYN),
    st.sampled_from([SYN_REPORT, SYN_DROPPED]),
    st.just(0),
)


@given(st.lists(events, max_size=20))
def test_written_events_parse_back(evs: list[InputEvent]) -> None:
    assert list(parse_lines(format_event(e) for e in evs)) == evs


# ------------------------------------------------------------------ parse_block and its fast path

# Lines of every shape: evtest's and `format_event`'s (the fast path's), other spellings the
# full parser reads, header lines, and lines that start like an event but cannot be read.
CANONICAL = [
    "Event: time 1729587036.123456, type 4 (EV_MSC), code 4 (MSC_SCAN), value 7001e",
    "Event: time 1729587036.123456, type 4 (EV_MSC), code 4 (MSC_SCAN), value 70028",
    "Event: time 1729587036.123456, type 4 (EV_MSC), code 4 (MSC_SCAN), value -7001E",
    "Event: time 1729587036.123456, type 1 (EV_KEY), code 30 (KEY_A), value 1",
    "Event: time 1729587036.123456, type 1 (EV_KEY), code 30 (KEY_A), value 0",
    "Event: time 1729587036.131000, type 1 (EV_KEY), code 30 (KEY_A), value 2",
    "Event: time 1729587036.131000, type 1 (EV_KEY), code 767 (?), value 1",
    "Event: time 1729587036.131000, type 1 (EV_KEY), code 30 (KEY_A), value -1",
    "Event: time 1729587036.131000, type 1 (EV_KEY), code 30 (KEY_A), value 1f",
    "Event: time 1.5, type 01 (EV_KEY), code 030 (KEY_A), value 01",
    "Event: time 1.5, type 2 (EV_REL), code 8 (REL_WHEEL), value -1",
    "Event: time 1.5, type 3 (EV_ABS), code 0 (ABS_X), value ff",
    "Event: time 1.5, type 3 (EV_ABS), code 0 (ABS_X), value -ff",
    "Event: time 1.5, type 17 (EV_LED), code 0 (LED_NUML), value 1",
    "Event: time 1.5, type 0 (EV_SYN), code 1 (?), value 0",
    "Event: time 1.5, type 9 (?), code 2 (?), value 3",
    "Event: time 1729587036.123456, -------------- SYN_REPORT ------------",
    "Event: time 1729587036.140001, -------------- SYN_DROPPED ------------",
    "Event: time 1729587036.150000, -------------- Report Sync ------------",
    "Event: time 1.5, - SYN_REPORT -",
]
OTHER_EVENTS = [
    "  Event: time 1.5, type 1 (EV_KEY), code 30 (KEY_A), value 1  ",
    "Event: time 1.5, type 1 (EV_KEY), code 30 (KEY_A), value 1\r",
    "\tEvent: time 1.5, -------------- SYN_REPORT ------------",
    "Event: time 1, type 1, code 30, value 1",
    "Event: time 1.5, type 1 (EV KEY), code 30 (KEY A), value 1",
    "Event: time 1.5, type 1 (), code 30 (key-a), value 1",
    "Event: time 1.5, type 1 (EV_KEY), code 30 (KEY_A), value 0x1f",
    "Event: time 1.5, type 4 (EV_MSC), code 4 (MSC_SCAN), value -0x7001e",
    "Event: time 2, -------------- SYN_DROPPED ------------",
]
HEADER = [
    "",
    "Input driver version is 1.0.1",
    "    Event code 30 (KEY_A)",
    'Input device name: "Event: time"',
    "Testing ... (interrupt to exit)",
    "event: time 1.5, type 1 (EV_KEY), code 30 (KEY_A), value 1",
]
BAD = [
    "Event: time 1.0, type one",
    "Event: time 1.5, -------------- SYN_CONFIG ------------",
    "Event: time 1.5, type 1 (EV_KEY), code 30 (KEY_A), value",
    "Event: time 1.5, type 1 (EV_KEY), code 30 (KEY_A), value 1 x",
    "Event: time 1.5, type 1 (EV_KEY), code 30 (KEY_A), value zz",
    "Event: time 1.5.6, type 1 (EV_KEY), code 30 (KEY_A), value 1",
    "Event: time 1.5,  type 1 (EV_KEY), code 30 (KEY_A), value 1",
    "Event: time x",
]
CORPUS = CANONICAL + OTHER_EVENTS + HEADER + BAD


def line_by_line(lines: list[str], first_lineno: int = 1) -> list[InputEvent]:
    """What `parse_block` must give: `parse_line` on each line (the first bad line raises)."""
    events = [parse_line(line, n) for n, line in enumerate(lines, first_lineno)]
    return [event for event in events if event is not None]


def error_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(EvtestSyntaxError) as caught:
        call()
    return str(caught.value)


@pytest.fixture
def full_parser_off(monkeypatch: pytest.MonkeyPatch):
    """`parse_line` unusable: what parses now went through the fast path."""

    def refuse(line: str, lineno: int = 0) -> None:
        raise AssertionError(f"full parser called for {line!r}")

    monkeypatch.setattr(evtest, "parse_line", refuse)


@pytest.mark.parametrize("line", CORPUS)
def test_a_line_reads_the_same_in_a_block(line: str) -> None:
    if line in BAD:
        expected = error_of(lambda: parse_line(line, 7))
        assert "line 7" in expected
        assert error_of(lambda: parse_block(line + "\n", 7)) == expected
        assert parse_block(line + "\n", 7, skip_bad=True) == []
    else:
        assert parse_block(line + "\n", 7) == line_by_line([line], 7)
        assert parse_block(line, 7) == line_by_line([line], 7)  # no newline at the end


def test_canonical_lines_take_the_fast_path_and_agree(full_parser_off: None) -> None:
    text = "".join(line + "\n" for line in CANONICAL)
    expected = [
        InputEvent(1729587036.123456, EV_MSC, 4, 0x7001E),
        InputEvent(1729587036.123456, EV_MSC, 4, 0x70028),
        InputEvent(1729587036.123456, EV_MSC, 4, -0x7001E),
        InputEvent(1729587036.123456, EV_KEY, 30, 1),
        InputEvent(1729587036.123456, EV_KEY, 30, 0),
        InputEvent(1729587036.131, EV_KEY, 30, 2),
        InputEvent(1729587036.131, EV_KEY, 767, 1),
        InputEvent(1729587036.131, EV_KEY, 30, -1),
        InputEvent(1729587036.131, EV_KEY, 30, 0x1F),
        InputEvent(1.5, EV_KEY, 30, 1),
        InputEvent(1.5, 2, 8, -1),
        InputEvent(1.5, 3, 0, 0xFF),
        InputEvent(1.5, 3, 0, -0xFF),
        InputEvent(1.5, EV_LED, 0, 1),
        InputEvent(1.5, EV_SYN, 1, 0),
        InputEvent(1.5, 9, 2, 3),
        InputEvent(1729587036.123456, EV_SYN, SYN_REPORT, 0),
        InputEvent(1729587036.140001, EV_SYN, SYN_DROPPED, 0),
        InputEvent(1729587036.15, EV_SYN, SYN_REPORT, 0),
        InputEvent(1.5, EV_SYN, SYN_REPORT, 0),
    ]
    assert parse_block(text) == expected
    assert all(type(event) is InputEvent for event in parse_block(text))
    assert parse_block("") == []


def test_canonical_lines_agree_with_the_full_parser() -> None:
    text = "".join(line + "\n" for line in CANONICAL)
    assert parse_block(text) == line_by_line(CANONICAL)


def test_a_block_with_other_lines_is_read_line_by_line() -> None:
    lines = HEADER + CANONICAL + OTHER_EVENTS + CANONICAL
    text = "\n".join(lines) + "\n"
    assert parse_block(text) == line_by_line(lines)
    assert parse_block(text.replace("\n", "\r\n")) == line_by_line([x + "\r" for x in lines])


def test_a_bad_line_in_a_block_names_its_line_or_is_skipped() -> None:
    lines = [*CANONICAL[:3], BAD[0], *CANONICAL[3:6], BAD[1]]
    text = "\n".join(lines) + "\n"
    assert "line 4:" in error_of(lambda: parse_block(text))
    assert "line 13:" in error_of(lambda: parse_block(text, 10))
    assert parse_block(text, skip_bad=True) == line_by_line(CANONICAL[:6])


@given(st.lists(st.sampled_from(CORPUS), max_size=30), st.integers(1, 1000))
def test_any_mix_of_lines_reads_as_line_by_line(lines: list[str], first: int) -> None:
    text = "".join(line + "\n" for line in lines)
    good = [line for line in lines if line not in BAD]
    assert parse_block(text, first, skip_bad=True) == line_by_line(good)
    if len(good) == len(lines):
        assert parse_block(text, first) == line_by_line(lines, first)
    else:
        assert error_of(lambda: parse_block(text, first)) == error_of(
            lambda: line_by_line(lines, first)
        )


any_events = st.builds(
    InputEvent,
    st.integers(0, 2_000_000_000_000_000).map(lambda us: us / 1_000_000),
    st.sampled_from([0, 1, 2, 3, 4, 17]),
    st.integers(0, 0x2FF),
    st.integers(-(2**31), 2**31 - 1),
).filter(lambda ev: not (ev.type == EV_SYN and ev.code in (SYN_REPORT, SYN_DROPPED)))


@given(st.lists(events | any_events, max_size=20))
def test_written_events_parse_back_through_the_fast_path(evs: list[InputEvent]) -> None:
    text = "".join(format_event(e) + "\n" for e in evs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evtest, "parse_line", None)  # any line it does not take would fail
        assert parse_block(text) == evs


def test_after_a_header_the_event_lines_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["Input driver version is 1.0.1", "", *CANONICAL, *CANONICAL]
    text = "\n".join(lines) + "\n"
    expected = line_by_line(lines, 3)
    seen: list[str] = []

    def counting(line: str, lineno: int = 0) -> InputEvent | None:
        seen.append(line)
        return parse_line(line, lineno)

    monkeypatch.setattr(evtest, "parse_line", counting)
    assert parse_block(text, 3) == expected
    assert seen == lines[:2]  # the header only
    seen.clear()
    bad_at_end = text + BAD[0] + "\n"
    assert f"line {3 + len(lines)}:" in error_of(lambda: parse_block(bad_at_end, 3))
    assert parse_block(bad_at_end, 3, skip_bad=True) == expected
    assert len(seen) == 2 * (len(lines) + 1)  # no fast path: every line, both times
