"""The server-time estimator (pure) and the clocks it sits on."""

from __future__ import annotations

import math

import pytest

from kioskd import servertime as st
from kioskd.clock import ServerTimeClock, VirtualClock

T0 = 1_780_000_000.0


def test_one_answer_brackets_the_server_time_within_the_round_trip_and_the_resolution():
    est = st.ServerTime()
    assert est.estimate(10.0).state == st.UNKNOWN
    # Exchange from mono 10.0 to 10.2; Date says T0 (whole second).
    est.learn(T0, 10.0, 10.2)
    e = est.estimate(10.2)
    assert e.known
    assert e.lower <= T0 + 0.2 and e.upper >= T0  # the true reading lies inside
    assert e.upper - e.lower == pytest.approx(1.2, abs=1e-6)


def test_samples_intersect_and_the_interval_narrows():
    est = st.ServerTime()
    est.learn(T0, 10.0, 10.1)  # server truly T0 + 0.7 at mono 10.05
    est.learn(T0 + 10, 20.0, 20.1)  # true T0 + 10.7 at 20.05
    est.learn(T0 + 21, 30.2, 30.3)  # true T0 + 20.9 .. 21.0
    e = est.estimate(30.3)
    assert e.upper - e.lower < 1.0
    assert e.lower <= T0 + 20.7 + 0.3 <= e.upper


def test_the_interval_widens_with_the_drift_bound_between_answers():
    est = st.ServerTime()
    est.learn(T0, 0.0, 0.0)
    width_now = est.estimate(0.0).upper - est.estimate(0.0).lower
    width_hour = est.estimate(3600.0).upper - est.estimate(3600.0).lower
    assert width_hour == pytest.approx(width_now + 2 * st.DRIFT * 3600)


def test_a_sample_that_contradicts_the_estimate_counts_as_a_server_step_and_replaces_it():
    est = st.ServerTime()
    est.learn(T0, 0.0, 0.1)
    assert est.learn(T0 + 3600 + 5, 5.0, 5.1) is False  # server stepped +1 h
    assert est.steps == 1
    e = est.estimate(5.1)
    assert e.lower >= T0 + 3600 + 4.9


def test_the_wall_clock_is_never_an_input():
    # Nothing in the estimator's interface takes the wall clock except `skew`, which only
    # reports it: a wall-clock step of any size cannot change an estimate.
    est = st.ServerTime()
    est.learn(T0, 0.0, 0.1)
    e = est.estimate(1.0)
    assert st.skew(e, T0 - 7200) == pytest.approx(7200 + 1.0, abs=1.0)
    assert est.estimate(1.0) == e


def test_restart_on_the_same_boot_keeps_the_offset():
    est = st.ServerTime()
    est.learn(T0, 100.0, 100.1)
    rec = est.to_record("boot-a", 200.0)
    assert rec is not None
    again = st.ServerTime()
    assert again.restore(rec, "boot-a", 250.0) == st.KNOWN
    assert again.estimate(250.0).lower == pytest.approx(est.estimate(250.0).lower, abs=0.2)


def test_after_a_reboot_only_a_floor_is_kept_and_it_grows_with_the_new_boots_clock():
    est = st.ServerTime()
    est.learn(T0, 100.0, 100.1)
    rec = est.to_record("boot-a", 200.0)
    assert rec is not None
    again = st.ServerTime()
    assert again.restore(rec, "boot-b", 30.0) == st.PROVISIONAL
    e = again.estimate(30.0)
    assert not e.known and math.isinf(e.upper)
    assert e.lower == pytest.approx(rec["floor"] + 30.0 * (1 - st.DRIFT))
    assert e.lower <= T0 + 100 + 30  # never above the truth (the reboot took time too)
    # The first answer makes it known; the timeline only jumps forward.
    again.learn(T0 + 5000, 40.0, 40.1)
    assert again.estimate(40.1).known and again.estimate(40.1).lower > e.lower


def test_a_garbled_record_is_ignored():
    est = st.ServerTime()
    assert est.restore({"boot_id": "x"}, "x", 1.0) == st.UNKNOWN


def test_http_date_parsing():
    assert st.parse_http_date("Sun, 06 Dec 2026 21:00:00 GMT") == 1796590800.0
    assert st.parse_http_date("garbage") is None
    assert st.parse_http_date(None) is None


def test_virtual_clock_wall_steps_leave_monotonic_and_server_time_alone():
    clock = VirtualClock(T0)
    server = clock.server_view(offset=-600.0)
    est = st.ServerTime()
    stc = ServerTimeClock(clock, est)
    est.learn(server.now(), clock.monotonic(), clock.monotonic())
    before = (clock.monotonic(), server.now(), stc.now())
    for step in (3600.0, -7200.0, 100.0, -86400.0 * 3):
        clock.step_wall(step)
        assert (clock.monotonic(), server.now(), stc.now()) == before
    assert clock.now() == T0 + 3600 - 7200 + 100 - 86400 * 3
    clock.advance(10.0)
    assert stc.now() == pytest.approx(before[2] + 10.0, abs=1.0)
    with pytest.raises(ValueError):
        clock.advance(-1.0)


def test_server_time_clock_without_any_knowledge_says_unknown():
    clock = VirtualClock(T0)
    stc = ServerTimeClock(clock, st.ServerTime())
    assert stc.state() == st.UNKNOWN
    assert stc.now() == clock.now()  # a stamp only; the outbox refuses money in this state


@pytest.mark.parametrize("known", ["unknown", "provisional", "known"])
def test_the_lower_bound_read_alone_is_the_estimates_to_the_last_bit(known: str) -> None:
    """`lower(mono)` (the money clock's `now()`) skips building the estimate: it must give
    exactly the estimate's lower bound, or a stamp and a comparison could differ."""
    import random

    rng = random.Random(19)
    est = st.ServerTime()
    if known == "provisional":
        est.restore({"boot_id": "other", "mono": 5.0, "lo": 1.0, "hi": 2.0, "floor": T0}, "b", 9.0)
    elif known == "known":
        est.learn(T0 + 0.3, 10.0, 10.25)
        est.learn(T0 + 7.1, 17.05, 17.4)
    for _ in range(2000):
        mono = rng.uniform(-1e3, 1e7) if rng.random() < 0.5 else rng.uniform(0.0, 50.0)
        assert est.lower(mono) == est.estimate(mono).lower or (
            math.isnan(est.lower(mono)) and math.isnan(est.estimate(mono).lower)
        )
    stc = ServerTimeClock(VirtualClock(T0), est)
    assert stc.lower() == stc.estimate().lower
