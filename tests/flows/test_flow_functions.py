"""The `*` functions: reprint last (marked copy), results, shift report, status, test print."""

from __future__ import annotations

from kioskd.printer.layout import Line, layout
from kioskd.proving.sim.simulator import COMMISSION_PCT
from tests.flows.conftest import texts


async def function_slip(kiosk, keys: str, kind: str) -> list[str]:
    """Type a `*` function; the lines of the slip it prints, once the kiosk is idle again."""
    kiosk.type(keys)
    slip = await kiosk.slip(kind)
    await kiosk.idle()
    return texts(slip)


async def test_reprint_last_prints_a_copy_of_the_newest_ticket(kiosk):
    ticket = await kiosk.sell("+1.341.20\n\n")

    kiosk.type("*\n")
    slip = await kiosk.slip("ticket", nth=2)
    await kiosk.idle()

    assert slip.copy and slip.copy_label == "*** COPIA ***"
    paper = [i.text for i in layout(slip, 80) if isinstance(i, Line)]
    assert paper.count("*** COPIA ***") == 2  # top and bottom of the paper
    lines = texts(slip)
    assert f"Ticket | {ticket['ticket_number']:08d}" in lines
    assert f"PIN | {ticket['pin_number']:08d}" in lines
    assert len(kiosk.tickets()) == 1  # a reprint sells nothing
    assert kiosk.lights()["state"] == "ready"


async def test_reprint_last_with_no_ticket_is_refused(kiosk):
    kiosk.type("*\n")
    slip = await kiosk.slip("rejected")
    assert "No hay ticket anterior" in texts(slip)
    assert kiosk.signals[-1] == "reject"


async def test_results_slip_lists_todays_posted_draws(kiosk):
    kiosk.sim.force_result(kiosk.open_event(6) - 1, "7")  # the 10:00 JUNGLA draw (posted)

    lines = await function_slip(kiosk, "*1\n", "results")
    assert "RESULTADOS" in lines and "23/10/2024" in lines
    assert "JUNGLA MILLONARIA" in lines
    assert "10:00 | 7" in lines
    assert not any(line.startswith("11:00") for line in lines)  # not drawn yet
    assert kiosk.lights()["state"] == "ready"


async def test_shift_report_counts_sales_and_cancellations(kiosk):
    await kiosk.sell("+1.341.20\n\n")
    second = await kiosk.sell("+6.12.10\n\n")
    kiosk.type(f"-{second['ticket_number']:08d}\n")
    await kiosk.slip("cancel")
    await kiosk.idle()

    lines = await function_slip(kiosk, "*2\n", "report")
    assert "REPORTE DE TURNO" in lines
    assert "Ventas (1 ticket) | Bs. 20,00" in lines
    assert "Anulaciones (1 ticket) | Bs. 10,00" in lines
    # the balance is the back office's (sales - prizes - agency commission)
    balance = 20 - 20 * COMMISSION_PCT // 100
    assert f"Saldo | Bs. {balance},00" in lines


async def test_status_slip_shows_terminal_queue_and_api(kiosk):
    await kiosk.sell("+1.341.20\n\n")
    lines = await function_slip(kiosk, "*3\n", "status")
    assert "ESTADO DEL TERMINAL" in lines
    assert "Terminal | flow-1" in lines
    assert "Servidor | en servicio" in lines
    assert any(line.startswith("Versión | ") for line in lines)
    assert "hechas | 1" in lines  # the journal state "done", in Spanish


async def test_test_print(kiosk):
    lines = await function_slip(kiosk, "*9\n", "test")
    assert "PRUEBA DE IMPRESIÓN" in lines
    assert "Total | Bs. 1.234,50" in lines
    # it reached the (loopback) printer: bytes with a cut
    await kiosk.wait_for(lambda: kiosk.printer.core.cuts >= 1)
    assert b"PRUEBA" in bytes(kiosk.printer.core.printed)
    assert kiosk.tickets() == []
