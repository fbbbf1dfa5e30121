"""The counter session driven by real key names and scan texts: commands, feedback, slips."""

import dataclasses
import datetime as dt

import pytest

from kioskd.banklot.models import CancelResult, CopyProposal, WagerRequest
from kioskd.counter import slips
from kioskd.counter.keymap import Keymap
from kioskd.counter.scan import barcode_data
from kioskd.counter.session import (
    Cancel,
    CatalogUpdated,
    CounterSession,
    Done,
    Failed,
    Feedback,
    Key,
    Lookup,
    Pay,
    PrintSlip,
    Queued,
    Repeat,
    ReprintLast,
    Results,
    Scan,
    Sell,
    SessionError,
    SessionSettings,
    ShiftReport,
    State,
    StatusSlip,
    TestPrint,
    Tick,
)
from kioskd.proving.fakes import samples
from tests.slip_text import slip_lines

from .conftest import press

NOW = samples.NOW
TICKET = samples.ticket()
BARCODE = barcode_data(32426439, 76479163, samples.DAY)


def feedback(actions) -> list[str]:
    return [a.name for a in actions if isinstance(a, Feedback)]


def commands(actions) -> list:
    return [a for a in actions if not isinstance(a, Feedback | PrintSlip)]


def printed(actions) -> list:
    return [a.receipt for a in actions if isinstance(a, PrintSlip)]


def text_of(receipt) -> str:
    return "\n".join(slip_lines(receipt, barcode=None))


def only_command(actions):
    (cmd,) = commands(actions)
    return cmd


# ---------------------------------------------------------------------------- sell


def test_sell_typed_wagers_then_empty_enter(session):
    assert press(session, "+") == []
    assert feedback(press(session, "1.341.20\n")) == ["beep"]
    assert feedback(press(session, "3.44401.5\n")) == ["beep"]
    assert session.state is State.SELL
    actions = press(session, "\n")
    sell = only_command(actions)
    assert isinstance(sell, Sell)
    assert sell.wagers == (
        WagerRequest(amount=20, event_id=23301, game_id=1, wager="341"),
        WagerRequest(amount=5, event_id=23303, game_id=3, wager="444-ARI"),
    )
    assert sell.closes_at == session.catalog.products[1].closes_at  # the earliest close
    assert feedback(actions) == ["working"]
    assert session.state is State.IDLE

    done = session.handle(Done(sell.command_id, TICKET, now=NOW + 1))
    assert feedback(done) == ["beep", "idle"]
    (receipt,) = printed(done)
    assert receipt.kind == "ticket" and not receipt.copy
    assert "PIN | 76479163" in text_of(receipt)
    assert session.pending == {}


def test_second_plus_commits_the_line_and_sells(session):
    actions = press(session, "+1.341.20+")
    sell = only_command(actions)
    assert [w.wager for w in sell.wagers] == ["341"]


def test_backspace_edits_the_line_and_takes_back_the_last_wager(session):
    press(session, "+1.341.29\b0\n")  # 29 corrected to 20
    assert [w.text() for w in session.draft] == ["1.341.20"]
    press(session, "\b\b5\n")  # empty line: backspace takes 1.341.20 back, edit to 1.341.25
    assert [w.text() for w in session.draft] == ["1.341.25"]


@pytest.mark.parametrize("drop", ["\x1b", "-"])
def test_escape_or_minus_on_empty_line_drops_the_draft(session, drop):
    press(session, "+1.341.20\n")
    actions = press(session, drop)
    assert feedback(actions) == ["double_beep"]
    assert session.state is State.IDLE and session.draft == ()
    assert commands(actions) == []


def test_minus_with_a_line_typed_is_refused(session):
    assert feedback(press(session, "+1.34-")) == ["reject"]
    assert session.state is State.SELL


@pytest.mark.parametrize(
    ("line", "reason_text"),
    [
        ("4.341.10", "Sorteo cerrado"),
        ("1.341.100", "Monto mayor al máximo"),
        ("2.341.4", "Monto menor al mínimo"),
        ("2.341.12", "Monto no es múltiplo permitido"),
        ("1.3410.10", "Número no válido"),
        ("77.341.10", "Producto desconocido"),
        ("1.341", "Jugada mal escrita"),
    ],
)
def test_a_bad_line_is_refused_with_a_slip_and_the_draft_kept(session, line, reason_text):
    press(session, "+1.000.20\n")
    actions = press(session, line + "\n")
    assert feedback(actions) == ["reject"]
    (receipt,) = printed(actions)
    assert receipt.kind == "rejected" and reason_text in text_of(receipt)
    assert [w.text() for w in session.draft] == ["1.000.20"]
    assert session.state is State.SELL


def test_too_many_wagers_refused_on_the_line_that_exceeds(session):
    press(session, "+2.001.5\n2.002.5\n2.003.5\n")
    actions = press(session, "2.004.5\n")
    assert "Demasiadas jugadas" in text_of(printed(actions)[0])
    assert len(session.draft) == 3


def test_line_reject_slip_can_be_turned_off():
    s = CounterSession(settings=SessionSettings(line_reject_slip=False), catalog=samples.catalog())
    actions = press(s, "+1.341.100\n")
    assert feedback(actions) == ["reject"] and printed(actions) == []


def test_catalog_never_loaded_refuses_the_sale():
    s = CounterSession()
    actions = press(s, "+1.341.20\n")
    assert feedback(actions) == ["reject"]
    assert "Catálogo no cargado" in text_of(printed(actions)[0])
    s.handle(CatalogUpdated(samples.catalog()))
    assert feedback(press(s, "1.341.20\n")) == ["beep"]


def test_event_closing_between_line_and_sell_rejects_the_ticket(session):
    press(session, "+30.12.10\n", now=NOW)
    closes = session.catalog.products[30].closes_at
    actions = press(session, "\n", now=closes + 1)
    assert commands(actions) == []
    assert feedback(actions) == ["reject"]
    assert "Sorteo cerrado" in text_of(printed(actions)[0])
    assert session.state is State.IDLE


def test_play_slip_scan_starts_a_sale_then_enter_sells(session):
    actions = session.handle(Scan("K1:1.341.20;1.000.20", NOW))
    assert feedback(actions) == ["beep"] and session.state is State.SELL
    press(session, "30.0.10\n")  # the clerk may add to it
    sell = only_command(press(session, "\n"))
    assert [w.wager for w in sell.wagers] == ["341", "000", "0"]


def test_play_slip_with_a_bad_wager_adds_nothing(session):
    actions = session.handle(Scan("K1:1.341.20;1.000.500", NOW))
    assert feedback(actions) == ["reject"]
    assert session.state is State.IDLE and session.draft == ()


def test_sell_failures_print_expired_or_rejected(session):
    sell = only_command(press(session, "+1.341.20\n\n"))
    actions = session.handle(Failed(sell.command_id, "expired"))
    assert feedback(actions) == ["reject", "idle"]
    assert "LA VENTA NO SE REALIZÓ" in text_of(printed(actions)[0])

    sell = only_command(press(session, "+1.341.20\n\n"))
    actions = session.handle(Failed(sell.command_id, "events_closed", "closed events: [23301]"))
    assert "Sorteo cerrado" in text_of(printed(actions)[0])
    assert "closed events: [23301]" in text_of(printed(actions)[0])


def test_queued_sell_stops_working_and_prints_later(session):
    sell = only_command(press(session, "+1.341.20\n\n"))
    assert session.handle(Queued(sell.command_id)) == [Feedback("idle")]
    later = session.handle(Done(sell.command_id, TICKET, now=NOW + 900))
    assert feedback(later) == ["beep"]
    assert printed(later)[0].kind == "ticket"


# ---------------------------------------------------------------------------- pay


def test_scan_with_pin_pays_at_once(session):
    actions = session.handle(Scan(BARCODE, NOW))
    pay = only_command(actions)
    assert isinstance(pay, Pay)
    assert (pay.ticket, pay.pin, pay.date) == (32426439, 76479163, samples.DAY)
    assert feedback(actions) == ["beep", "working"]
    done = session.handle(Done(pay.command_id, samples.pay_result()))
    (receipt,) = printed(done)
    assert receipt.kind == "payout" and "Premio: Bs. 12.345,00" in text_of(receipt)
    assert feedback(done) == ["beep", "idle"]


def test_ticket_only_scan_asks_for_the_pin(session):
    assert feedback(session.handle(Scan("32426439", NOW))) == ["beep"]
    assert session.state is State.PAY_PIN
    pay = only_command(press(session, "76479163\n"))
    assert (pay.ticket, pay.pin, pay.date) == (32426439, 76479163, None)


def test_typed_ticket_enter_pin_enter(session):
    assert press(session, "3242643") == []
    assert session.state is State.PAY_TICKET
    press(session, "9\n")
    assert session.state is State.PAY_PIN
    pay = only_command(press(session, "76479163\n"))
    assert (pay.ticket, pay.pin, pay.date) == (32426439, 76479163, None)


def test_ninth_digit_is_refused(session):
    press(session, "12345678")
    assert feedback(press(session, "9")) == ["reject"]


def test_queued_payment_prints_pending_then_payout(session):
    pay = only_command(session.handle(Scan(BARCODE, NOW)))
    pending = session.handle(Queued(pay.command_id))
    assert printed(pending)[0].kind == "pending"
    assert "PENDIENTE — NO PAGAR EN EFECTIVO" in text_of(printed(pending)[0])
    assert feedback(pending) == ["idle"]
    confirmed = session.handle(Done(pay.command_id, samples.pay_result(), now=NOW + 3600))
    assert printed(confirmed)[0].kind == "payout"


def test_not_a_winner_slip_or_flash():
    s = CounterSession(catalog=samples.catalog())
    pay = only_command(s.handle(Scan(BARCODE, NOW)))
    actions = s.handle(Failed(pay.command_id, "not_a_winner"))
    assert feedback(actions) == ["reject", "idle"]
    assert printed(actions)[0].kind == "not_winner"

    quiet = CounterSession(
        settings=SessionSettings(not_winner_slip=False), catalog=samples.catalog()
    )
    pay = only_command(quiet.handle(Scan(BARCODE, NOW)))
    actions = quiet.handle(Failed(pay.command_id, "not_a_winner"))
    assert feedback(actions) == ["reject", "idle"] and printed(actions) == []


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("wrong_pin", "PIN incorrecto"),
        ("ticket_not_found", "Ticket no existe"),
        ("already_paid", "Ticket ya pagado"),
        ("offline_cap", "Límite de operaciones sin conexión"),
    ],
)
def test_pay_refusals_print_the_reason(session, reason, words):
    pay = only_command(session.handle(Scan(BARCODE, NOW)))
    actions = session.handle(Failed(pay.command_id, reason))
    assert words in text_of(printed(actions)[0])
    assert "32426439" in text_of(printed(actions)[0])
    assert "76479163" not in text_of(printed(actions)[0])


def test_pay_expired_unsent(session):
    pay = only_command(session.handle(Scan(BARCODE, NOW)))
    actions = session.handle(Failed(pay.command_id, "expired"))
    assert "EL PAGO NO SE REALIZÓ" in text_of(printed(actions)[0])


# ---------------------------------------------------------------------------- cancel


def test_cancel_looks_up_then_cancels_inside_the_window(session):
    assert press(session, "-") == [] and session.state is State.CANCEL_TICKET
    lookup = only_command(session.handle(Scan(BARCODE, NOW)))
    assert isinstance(lookup, Lookup) and lookup.date == samples.DAY
    assert session.state is State.CANCEL_CHECK
    assert feedback(press(session, "5")) == ["reject"]  # waiting: keys refused
    actions = session.handle(Done(lookup.command_id, TICKET, now=NOW))
    cancel = only_command(actions)
    assert isinstance(cancel, Cancel)
    assert (cancel.ticket, cancel.created_at) == (32426439, TICKET.created_at)
    assert session.state is State.IDLE
    done = session.handle(Done(cancel.command_id, CancelResult(32426439, "canceled")))
    (receipt,) = printed(done)
    assert receipt.kind == "cancel" and "Monto devuelto | Bs. 1.290,00" in text_of(receipt)


@pytest.mark.parametrize(
    ("status", "age_s", "why"),
    [
        ("sold", 60, "el servidor no permite anular este ticket"),
        ("sold", 600, "pasó el tiempo para anular"),
        ("winner", 60, "el ticket tiene premio"),
    ],
)
def test_cancel_refused_with_no_rows_after_a_good_lookup_names_why(session, status, age_s, why):
    """The server's "no rows in result set" on a cancel of a ticket the lookup just showed is no
    "unknown ticket": the slip says the cancel was refused and what the ticket tells of why."""
    ticket = samples.ticket(status=status, created_at=NOW - age_s)
    session.settings = dataclasses.replace(session.settings, cancel_local_check=False)
    lookup = only_command(press(session, "-32426439\n"))
    cancel = only_command(session.handle(Done(lookup.command_id, ticket, now=NOW)))
    actions = session.handle(Failed(cancel.command_id, "ticket_not_found", "el servidor no"))
    text = text_of(printed(actions)[0])
    assert "Ticket no existe" not in text
    assert "Anulación no aceptada" in text and why in text, text


def test_cancel_typed_ticket(session):
    lookup = only_command(press(session, "-32426439\n"))
    assert (lookup.ticket, lookup.date) == (32426439, None)


def test_cancel_refused_locally_after_the_window(session):
    lookup = only_command(press(session, "-32426439\n"))
    late = TICKET.created_at + 181
    actions = session.handle(Done(lookup.command_id, TICKET, now=late))
    assert commands(actions) == []
    assert feedback(actions) == ["reject", "idle"]
    assert "Tiempo de anulación vencido" in text_of(printed(actions)[0])


def test_cancel_refused_from_the_scan_date_alone(session):
    old = barcode_data(32426439, 76479163, samples.DAY - dt.timedelta(days=1))
    press(session, "-")
    actions = session.handle(Scan(old, NOW))
    assert commands(actions) == []
    assert "Tiempo de anulación vencido" in text_of(printed(actions)[0])


def test_cancel_of_a_cancelled_ticket(session):
    lookup = only_command(press(session, "-32426439\n"))
    actions = session.handle(Done(lookup.command_id, samples.ticket(status="canceled")))
    assert commands(actions) == [] and "Ticket ya anulado" in text_of(printed(actions)[0])


def test_cancel_unknown_ticket(session):
    lookup = only_command(press(session, "-11111111\n"))
    actions = session.handle(Failed(lookup.command_id, "ticket_not_found"))
    assert commands(actions) == [] and "Ticket no existe" in text_of(printed(actions)[0])


def test_cancel_still_queued_when_the_lookup_cannot_reach_the_server(session):
    lookup = only_command(press(session, "-32426439\n"))
    cancel = only_command(session.handle(Failed(lookup.command_id, "offline")))
    assert isinstance(cancel, Cancel) and cancel.created_at is None


def test_server_says_cancel_window_passed(session):
    lookup = only_command(press(session, "-32426439\n"))
    cancel = only_command(session.handle(Done(lookup.command_id, TICKET)))
    actions = session.handle(Failed(cancel.command_id, "cancel_window_passed"))
    assert "Tiempo de anulación vencido" in text_of(printed(actions)[0])


def test_escape_while_checking_abandons_the_cancel(session):
    lookup = only_command(press(session, "-32426439\n"))
    assert feedback(press(session, "\x1b")) == ["double_beep"]
    assert session.handle(Done(lookup.command_id, TICKET)) == [Feedback("idle")]


# ---------------------------------------------------------------------------- repeat


def test_repeat_copies_then_sells(session):
    repeat = only_command(press(session, "/32426439\n"))
    assert isinstance(repeat, Repeat) and repeat.ticket == 32426439
    proposal = CopyProposal.from_json(
        {
            "ticket_number": 32426439,
            "wagers": [{"amount": 20, "event_id": 23401, "game_id": 1, "wager": "341"}],
        }
    )
    actions = session.handle(Done(repeat.command_id, proposal))
    sell = only_command(actions)
    assert isinstance(sell, Sell)
    assert sell.wagers == (WagerRequest(20, 23401, 1, "341"),)
    assert feedback(actions) == ["working"]  # still working: the sale is in flight
    done = session.handle(Done(sell.command_id, TICKET))
    assert printed(done)[0].kind == "ticket" and feedback(done) == ["beep", "idle"]


def test_repeat_by_scan(session):
    press(session, "/")
    repeat = only_command(session.handle(Scan(BARCODE, NOW)))
    assert (repeat.ticket, repeat.date) == (32426439, samples.DAY)


# ---------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("keys", "cls"),
    [
        ("*\n", ReprintLast),
        ("*1\n", Results),
        ("*2\n", ShiftReport),
        ("*3\n", StatusSlip),
        ("*9\n", TestPrint),
    ],
)
def test_functions(session, keys, cls):
    assert isinstance(only_command(press(session, keys)), cls)


def test_function_results_print_slips(session):
    cmd = only_command(press(session, "*\n"))
    reprint = printed(session.handle(Done(cmd.command_id, TICKET)))[0]
    assert reprint.copy and reprint.copy_label == "*** COPIA ***"

    cmd = only_command(press(session, "*1\n"))
    assert printed(session.handle(Done(cmd.command_id, samples.results())))[0].kind == "results"

    cmd = only_command(press(session, "*2\n"))
    report = slips.ShiftReport.from_api(samples.DAY, samples.day_tickets())
    assert printed(session.handle(Done(cmd.command_id, report)))[0].kind == "report"

    cmd = only_command(press(session, "*3\n"))
    info = slips.StatusInfo("0.1.0", "K-07", "192.0.2.7")
    assert printed(session.handle(Done(cmd.command_id, info)))[0].kind == "status"

    cmd = only_command(press(session, "*9\n"))
    assert printed(session.handle(Done(cmd.command_id, None)))[0].kind == "test"


def test_unknown_function_is_refused(session):
    actions = press(session, "*5\n")
    assert feedback(actions) == ["reject"] and commands(actions) == []


def test_supervisor_code_guards_configured_functions():
    settings = SessionSettings(supervisor_code="4321", supervised_functions=frozenset({"2"}))
    s = CounterSession(settings=settings, catalog=samples.catalog())
    assert feedback(press(s, "*2\n")) == ["beep"] and s.state is State.SUPERVISOR
    actions = press(s, "1111\n")
    assert commands(actions) == [] and feedback(actions)[0] == "reject"
    assert isinstance(only_command(press(s, "*2\n4321\n")), ShiftReport)
    assert isinstance(only_command(press(s, "*1\n")), Results)  # not supervised
    assert "4321" not in repr(settings)


def test_supervised_functions_need_a_code():
    with pytest.raises(ValueError, match="supervisor_code"):
        SessionSettings(supervised_functions=frozenset({"report"}))
    with pytest.raises(ValueError, match="'7'"):
        SessionSettings(supervisor_code="1", supervised_functions=frozenset({"7"}))


# ---------------------------------------------------------------------------- idle reset


def test_partial_entry_dropped_after_idle_reset(session):
    press(session, "+1.341.20\n1.0", now=NOW)
    assert session.handle(Tick(NOW + 19)) == []
    assert session.handle(Tick(NOW + 20)) == [Feedback("double_beep")]
    assert session.state is State.IDLE and session.draft == ()
    assert session.handle(Tick(NOW + 40)) == []


def test_each_key_restarts_the_idle_timer(session):
    press(session, "1234", now=NOW)
    press(session, "5", now=NOW + 15)
    assert session.handle(Tick(NOW + 30)) == []
    assert session.handle(Tick(NOW + 35)) == [Feedback("double_beep")]


def test_pin_entry_is_dropped_too(session):
    session.handle(Scan("32426439", NOW))
    press(session, "7647", now=NOW + 1)
    assert session.handle(Tick(NOW + 21)) == [Feedback("double_beep")]
    actions = press(session, "9163\n", now=NOW + 22)  # now a typed ticket, not the old PIN
    assert commands(actions) == [] and session.state is State.PAY_PIN


# ---------------------------------------------------------------------------- errors, masking


def test_unbound_keys_are_ignored(session):
    assert session.handle(Key("KEY_NUMLOCK", NOW)) == []
    assert session.state is State.IDLE


def test_bad_scan_rejected(session):
    assert feedback(session.handle(Scan("hello", NOW))) == ["reject"]


def test_results_for_unknown_commands_raise_naming_event_and_state(session):
    with pytest.raises(SessionError, match=r"Done for unknown command 42 in state IDLE"):
        session.handle(Done(42, None))
    pay = only_command(session.handle(Scan(BARCODE, NOW)))
    with pytest.raises(SessionError, match="Done carrying Ticket for Pay"):
        session.handle(Done(pay.command_id, TICKET))


def test_the_table_names_handler_functions_and_real_states():
    from kioskd.counter import session as module

    for state, row in module.TRANSITIONS.items():
        assert isinstance(state, State)
        for token, step in row.items():
            assert token in module.TOKENS
            assert step.run.__qualname__.startswith("CounterSession._h_")
            assert all(isinstance(s, State) for s in step.to)


def test_a_handler_ending_in_a_state_its_step_does_not_list_raises(session, monkeypatch):
    from kioskd.counter import session as module

    wrong = module.Step(CounterSession._h_begin_pay, (State.SELL,))  # begin_pay -> PAY_TICKET
    monkeypatch.setitem(module.TRANSITIONS[State.IDLE], "digit", wrong)
    with pytest.raises(SessionError, match=r"'digit' in state IDLE: _h_begin_pay went to PAY_T"):
        press(session, "3")


def test_pins_and_keys_are_masked_everywhere(session):
    session.handle(Scan("32426439", NOW))
    press(session, "7647916")
    assert "7647916" not in repr(session)
    pay = only_command(press(session, "3\n"))
    assert "76479163" not in repr(pay)
    assert "76479163" not in repr(Scan(BARCODE, NOW))
    assert "KEY_KP7" not in repr(Key("KEY_KP7", NOW))


def test_remapped_keymap_drives_the_session():
    km = Keymap.from_config({"sell": "KEY_F1", "enter": "KEY_F2"})
    s = CounterSession(km, catalog=samples.catalog())
    for name in [
        "KEY_F1",
        "KEY_KP1",
        "KEY_KPDOT",
        "KEY_KP3",
        "KEY_KP4",
        "KEY_KP1",
        "KEY_KPDOT",
        "KEY_KP2",
        "KEY_KP0",
        "KEY_F2",
        "KEY_F2",
    ]:
        actions = s.handle(Key(name, NOW))
    assert isinstance(only_command(actions), Sell)


def test_english_session_slips():
    s = CounterSession(settings=SessionSettings(lang="en"), catalog=samples.catalog())
    pay = only_command(s.handle(Scan(BARCODE, NOW)))
    pending = printed(s.handle(Queued(pay.command_id)))[0]
    assert "PENDING — DO NOT PAY CASH" in text_of(pending)
