"""Slip contents in both languages, and es_VE money."""

import datetime as dt
from decimal import Decimal

import pytest

from kioskd.counter import i18n, slips
from kioskd.counter.i18n import format_amount, format_number
from kioskd.proving.fakes import samples
from kioskd.receipt import Barcode
from tests.slip_text import slip_lines

NOW = samples.NOW


lines = slip_lines


def ctx(lang="es") -> slips.SlipContext:
    return slips.SlipContext.from_catalog(samples.catalog(), lang=lang, terminal_id="K-07")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0,00"),
        (5, "5,00"),
        (1234.5, "1.234,50"),
        (1234567, "1.234.567,00"),
        (Decimal("0.005"), "0,01"),
        (-1500, "-1.500,00"),
    ],
)
def test_es_ve_numbers(value, text):
    assert format_number(value) == text


def test_currency_label_is_configurable():
    assert format_amount(1234.5) == "Bs. 1.234,50"
    assert format_amount(20, "USD") == "USD 20,00"
    assert format_amount(20, "") == "20,00"


def test_every_message_has_both_languages():
    for key in i18n.MESSAGES:
        assert i18n.t(key, "es") and i18n.t(key, "en")
    assert i18n.reason_text("over_max_bet", "es") == "Monto mayor al máximo"
    assert i18n.reason_text("over_max_bet", "en") == "Amount above the maximum"
    assert i18n.reason_text("something_new", "en") == "something_new"
    with pytest.raises(ValueError, match="'fr'"):
        i18n.t("ticket", "fr")


def test_ticket_slip_in_spanish():
    receipt = slips.ticket_slip(ctx(), samples.ticket())
    text = lines(receipt)
    assert receipt.kind == "ticket" and not receipt.copy
    assert text[:4] == ["LOTERÍA DEMO", "RIF J-00000000-0", "AGENCIA EL TREBOL", "TICKET"]
    assert "TRIPLE ZAMORANO 16:00" in text  # the server's "04:00 pm", in the slips' 24 h
    assert "341 | Bs. 20,00" in text
    assert "444-ARI | Bs. 1.250,00" in text
    assert "ZODÍACO DEL ZULIA 19:00" in text
    assert "Total (3) | Bs. 1.290,00" in text
    assert "Ticket | 32426439" in text
    assert "PIN | 76479163" in text
    # created 12:29:30 in Caracas, 16:29:30 UTC: the slip shows the entity's local time
    assert "Fecha | 23/10/2024" in text
    assert "Hora | 12:29" in text
    assert "[324264397647916320241023] 324264397647916320241023" in text
    assert text[-2:] == ["Caduca a los 3 días", "Gracias por su compra"]


def test_ticket_barcode_uses_the_local_date_not_utc():
    # 23:30 in Caracas is already the 24th in UTC.
    late = dt.datetime(2024, 10, 24, 3, 30, tzinfo=dt.UTC).timestamp()
    receipt = slips.ticket_slip(ctx(), samples.ticket(created_at=late))
    barcode = next(b for b in receipt.blocks if isinstance(b, Barcode))
    assert barcode.data.endswith("20241023")


def test_copy_is_marked_in_both_languages():
    es = slips.ticket_slip(ctx(), samples.ticket(), copy=True)
    en = slips.ticket_slip(ctx("en"), samples.ticket(), copy=True)
    assert es.copy and en.copy
    assert es.copy_label == "*** COPIA ***"
    assert en.copy_label == "*** COPY ***"
    from kioskd.printer.layout import Line, layout

    printed = [i.text for i in layout(en, 80) if isinstance(i, Line)]
    assert printed[0] == printed[-1] == "*** COPY ***"  # top and bottom of the paper
    assert "Time | 12:29" in lines(en)  # one time format in both languages


def test_pending_slip_says_do_not_pay_cash():
    assert "PENDIENTE — NO PAGAR EN EFECTIVO" in lines(slips.pending_slip(ctx(), 32426439, NOW))
    assert "PENDING — DO NOT PAY CASH" in lines(slips.pending_slip(ctx("en"), 32426439, NOW))


def test_payout_slip():
    text = lines(slips.payout_slip(ctx(), 32426439, 12345, NOW))
    assert "PAGO DE PREMIO" in text
    assert "Premio: Bs. 12.345,00" in text
    assert "Pagado | 23/10/2024 12:30" in text


def test_expired_slips():
    assert "LA VENTA NO SE REALIZÓ" in lines(slips.expired_slip(ctx(), "sale", NOW, amount=40))
    assert "THE PAYMENT DID NOT HAPPEN" in lines(slips.expired_slip(ctx("en"), "pay", NOW))
    assert "LA ANULACIÓN NO SE REALIZÓ" in lines(slips.expired_slip(ctx(), "cancel", NOW))


def test_rejected_slip_names_the_reason():
    text = lines(slips.rejected_slip(ctx(), "event_closed", NOW, detail="event 23304 closed"))
    assert text[3:6] == ["OPERACIÓN RECHAZADA", "Sorteo cerrado", "event 23304 closed"]


def test_results_slip_groups_by_product():
    text = lines(slips.results_slip(ctx(), samples.results(), NOW))
    assert "RESULTADOS" in text
    i = text.index("TRIPLE ZAMORANO")
    assert text[i + 1 : i + 3] == ["11:00 A | 341", "11:00 C | 000-ACU"]
    assert "Sin resultados todavía" in lines(slips.results_slip(ctx(), [], NOW))


def test_report_from_ticket_lists():
    report = slips.ShiftReport.from_api(samples.DAY, samples.day_tickets())
    assert (report.sales, report.sales_count) == (1680, 3)
    assert (report.cancellations, report.cancellations_count) == (40, 1)
    assert (report.prizes_paid, report.prizes_count) == (600, 1)
    assert report.balance == 1080
    text = lines(slips.report_slip(ctx(), report, NOW))
    assert "Ventas (3 tickets) | Bs. 1.680,00" in text
    assert "Saldo | Bs. 1.080,00" in text


def test_status_and_test_slips():
    info = slips.StatusInfo(
        "0.1.0", "K-07", "192.0.2.7", {"queued": 2, "in_doubt": 1}, "ok", "online", 125, True
    )
    text = lines(slips.status_slip(ctx("en"), info, NOW))
    assert "Version | 0.1.0" in text and "IP | 192.0.2.7" in text
    assert "Catalog | 2 min (stale)" in text
    assert "in doubt | 1" in text
    es = lines(slips.status_slip(ctx(), info, NOW))
    assert "Impresora | en servicio" in es and "Servidor | en línea" in es
    assert "en verificación | 1" in es and "en cola | 2" in es
    assert "Acentos: áéíóú ñ Ñ ¿? ¡!" in lines(slips.test_slip(ctx(), NOW))


def test_only_the_ticket_slip_prints_a_pin():
    pin = "76479163"
    for receipt in [
        slips.payout_slip(ctx(), 32426439, 10, NOW),
        slips.pending_slip(ctx(), 32426439, NOW),
        slips.cancel_slip(ctx(), 32426439, NOW, 40),
        slips.not_winner_slip(ctx(), 32426439, NOW),
    ]:
        assert not any(pin in line for line in lines(receipt))
