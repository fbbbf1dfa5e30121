"""The evtest text format: real evtest output parses; what we write parses back the same."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kioskd.input.evtest import (
    EV_KEY,
    EV_MSC,
    EV_SYN,
    SYN_DROPPED,
    SYN_REPORT,
    EvtestSyntaxError,
    InputEvent,
    format_event,
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
