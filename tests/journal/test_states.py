"""The operation state table: legal paths, illegal events, and properties over random walks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kioskd.journal import states
from kioskd.journal.states import IllegalTransition, next_state
from kioskd.outbox import reconcile


def test_happy_path_of_a_sale() -> None:
    s = next_state(states.QUEUED, states.SEND)
    assert s == states.SENDING
    assert next_state(s, states.ANSWERED_OK) == states.DONE


def test_sending_found_at_start_up_is_in_doubt_never_queued() -> None:
    assert next_state(states.SENDING, states.RECOVERED) == states.IN_DOUBT
    assert next_state(states.RECONCILING, states.RECOVERED) == states.IN_DOUBT


@pytest.mark.parametrize(
    ("event", "target"),
    [
        (states.PROVED_APPLIED, states.DONE),
        (states.PROVED_NOT_APPLIED, states.QUEUED),
        (states.PROVED_NOT_APPLIED_EXPIRED, states.EXPIRED),
        (states.UNDECIDED, states.IN_DOUBT),
        (states.MISMATCH, states.CONFLICT),
    ],
)
def test_reconciliation_outcomes(event: str, target: str) -> None:
    assert next_state(next_state(states.IN_DOUBT, states.PROBE), event) == target


@pytest.mark.parametrize("state", [states.IN_DOUBT, states.CONFLICT])
def test_operator_can_resolve_doubt_and_conflict(state: str) -> None:
    assert next_state(state, states.OPERATOR_APPLIED) == states.DONE
    assert next_state(state, states.OPERATOR_NOT_APPLIED) == states.REJECTED
    assert next_state(state, states.OPERATOR_RETRY) == states.QUEUED


def test_illegal_transition_names_op_event_and_state() -> None:
    with pytest.raises(IllegalTransition) as info:
        next_state(states.IN_DOUBT, states.SEND, op_id=42)
    text = str(info.value)
    assert "42" in text and "'send'" in text and "'in_doubt'" in text
    assert "outbox" in text and info.value.actor == "outbox"


def test_illegal_operator_move_names_the_operator() -> None:
    with pytest.raises(IllegalTransition, match="operator can't handle event 'operator_retry'"):
        next_state(states.DONE, states.OPERATOR_RETRY, op_id=7)


def test_states_are_strings_in_sql_and_json() -> None:
    assert states.QUEUED == "queued" and isinstance(states.QUEUED, str)
    assert f"{states.IN_DOUBT}" == "in_doubt"
    assert set(states.STATES) == set(states.State)


@pytest.mark.parametrize(
    ("verdict", "event"),
    [
        (reconcile.APPLIED, states.PROVED_APPLIED),
        (reconcile.NOT_APPLIED, states.PROVED_NOT_APPLIED),
        (reconcile.NOT_APPLIED_EXPIRED, states.PROVED_NOT_APPLIED_EXPIRED),
        (reconcile.CONFLICT, states.MISMATCH),
        (reconcile.UNDECIDED, states.UNDECIDED),
    ],
)
def test_every_verdict_is_an_event_from_reconciling(verdict: str, event: str) -> None:
    assert states.event_for_verdict(verdict) == event
    assert event in states.allowed_events(states.RECONCILING)


def test_a_verdict_without_an_event_is_a_bug() -> None:
    with pytest.raises(ValueError, match="need_window"):
        states.event_for_verdict(reconcile.NEED_WINDOW)


def test_every_event_has_an_actor_and_column_rules_name_real_events() -> None:
    assert set(states.ACTORS) == set(states.Event) == set(states.EVENTS)
    assert set(states.EVENT_COLUMNS) <= states.EVENTS


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (states.IN_DOUBT, states.SEND),  # never resend a doubtful operation directly
        (states.SENDING, states.SEND),
        (states.QUEUED, states.ANSWERED_OK),  # nothing answered what was never sent
        (states.DONE, states.EXPIRE),
        (states.SENDING, states.EXPIRE),  # may be applied: cannot just expire
        (states.IN_DOUBT, states.EXPIRE),
        (states.QUEUED, states.OPERATOR_APPLIED),
        (states.RECONCILING, states.OPERATOR_APPLIED),
    ],
)
def test_forbidden_moves(state: str, event: str) -> None:
    with pytest.raises(IllegalTransition):
        next_state(state, event)


def test_terminal_states_accept_nothing() -> None:
    for state in states.TERMINAL:
        assert states.allowed_events(state) == frozenset()


@given(st.lists(st.sampled_from(sorted(states.EVENTS)), max_size=40))
def test_random_walks_never_leave_a_maybe_applied_operation_resendable(events: list[str]) -> None:
    """From any state that may have reached the server, `queued` (resendable) is reachable only
    through a proof (reconciliation) or a person (operator retry)."""
    state = states.QUEUED
    for event in events:
        try:
            new = next_state(state, event)
        except IllegalTransition:
            continue
        if state in states.MAYBE_APPLIED and new == states.QUEUED:
            assert event in (states.PROVED_NOT_APPLIED, states.OPERATOR_RETRY, states.NOT_SENT)
            if event == states.NOT_SENT:
                assert state == states.SENDING
        assert new in states.STATES
        state = new
