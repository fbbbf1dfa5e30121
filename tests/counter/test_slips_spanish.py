"""No English on a Spanish slip: every slip kind, every refusal reason, every detail the
terminal or the server can put on one, every state the status slip shows, rendered in Spanish
and read word by word.

A word passes if it is in `SPANISH` (written and reviewed by hand: Spanish words, and the few
terms a Venezuelan counter uses as they are: ticket, PIN, IP, Bs., min) or if it comes from the
data the slip was given (names: agency, header and footer, products, draws, list names, wager
codes, terminal id). Nothing is taken from the catalogue's Spanish column: a word put there in
English must fail here.
"""

from __future__ import annotations

import re

import pytest

from kioskd.banklot import errors
from kioskd.counter import i18n, slips
from kioskd.daemon.executor import detail_for
from kioskd.outbox.outbox import OutboxRefused
from kioskd.proving.fakes import samples
from kioskd.receipt import Receipt
from tests.slip_text import slip_lines

NOW = samples.NOW

# Reviewed word by word (lower case). Grouped by where they show, to keep review easy.
WORDS = frozenset(
    """
    a al anulación anulaciones anulado anular antes ante aún
    cargado catálogo cerrado cobró cola comprobante con conexión confirmada confirmará confirmarse
    consultar copia corresponde
    de debe del demasiadas desactualizado devuelto día disco dañado
    el en entregado error es escritura escribir estaba este está estado efectivo
    falla fecha formada fue
    guarde
    hechas hora
    imprimirá impresión impreso impresora interna
    jugada jugadas
    la las le lectura lleno llegaría llame límite línea lo los
    máximo mínimo mal monto motivo múltiplo
    nada ni no número
    operación operaciones otro
    pagado pagados pagar pago pagó papel para pasó pendiente permite plazo por premiado premio
    premios producto programa prueba pudo puede
    realizó rechazada rechazadas rechazado referencia registro reporte requiere respondió
    resultado resultados
    saldo se servicio servidor si sin solo sorteo su
    tapa técnico terminal tiempo tiene todavía total turno
    un una
    vencida vencidas vencido venció venta ventas verificación verificando versión volver vendido
    válido
    abierta acabarse acceso aviso avise atención bloqueado certificado conflicto datos
    desconectada encontró enviando esperando
    escrita código reconocido anterior repetir supervisor incorrecto existe ya
    aquí vende cargar responde llegó tiempo apuestas tarde confirma disponible desconocido
    menor mayor permitido hay que aceptada ser ha llena rechazó anularlo u
    """.split()  # noqa: SIM905 (a reviewable block of words)
)
# Terms a Venezuelan counter uses as they are.
TERMS = frozenset({"ticket", "tickets", "pin", "ip", "bs", "min"})
# The print test's accents sample (the print test's words belong to its own slip).
ACCENTS = frozenset({"acentos", "áéíóú", "ñ"})
SPANISH = WORDS | TERMS | ACCENTS

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def names_of_the_data() -> set[str]:
    """Words the slips print from the data they are given (names, codes): allowed as they are."""
    catalog = samples.catalog()
    texts = [catalog.agency_name, catalog.header, catalog.footer, "K-07"]
    ticket = samples.ticket()
    texts += [w.event_name or "" for w in ticket.wagers] + [w.wager for w in ticket.wagers]
    for r in samples.results():
        texts += [r.name, r.list_name or "", r.main_result]
    return {w.lower() for text in texts for w in WORD.findall(text)}


# What the server answers when it refuses (the Banklot reference and the simulator's texts):
# each must come out worded in Spanish.
SERVER_SAYS = [
    "wager amount 150 above max_bet 99 for product 1",
    "wager amount 0 below min_bet 1 for product 1",
    "wager amount 7 not a multiple of 5 for product 3",
    "wager count above ticket_max_wagers 20 for product 1",
    "wager '1000' is not in the inventory of game 1",
    "wager game_id 2 does not match event 23304 (game_id 1)",
    "wager list is empty: expected ticket.wagers",
    "wager 0 is malformed: amount must be an integer",
    "events are not open. closed events: [18859]",
    "no rows in result set",
    "not a winner",
    "ticket already rejected by user",
    "ticket already paid",
    "cancel window passed",
    "invalid pin",
    "ticket expired",
]
OUTBOX_SAYS = [
    "queue full (50 operations waiting)",
    "queued amount would reach 5000, cap is 2000",
    "create deadline already passed",
    "a sale needs at least one wager",
]
FACTS = {"product": "TRIPLE ZAMORANO", "event": 23304, "number": "1000", "amount": 150,
         "limit": 99, "count": 21, "why": i18n.catalog_failure("offline", "es")}  # fmt: skip


def every_spanish_slip() -> list[tuple[str, Receipt]]:
    ctx = slips.SlipContext.from_catalog(samples.catalog(), lang="es", terminal_id="K-07")
    out = list(samples.all_slips("es").items())
    ticket = samples.ticket()
    out += [
        ("ticket-late", slips.ticket_slip(ctx, ticket, late_reference=12)),
        ("pending-sale", slips.pending_sale_slip(ctx, 12, 40, NOW)),
        ("expired-cancel", slips.expired_slip(ctx, "cancel", NOW, ticket_number=1)),
        ("results-none", slips.results_slip(ctx, [], NOW)),
    ]
    details = [i18n.rejection_detail(k, FACTS, "es") or "" for k in i18n.REJECTION_DETAILS]
    details += [detail_for(errors.rejection_for(text), "es") for text in SERVER_SAYS]
    details += [detail_for(OutboxRefused(text), "es") for text in OUTBOX_SAYS]
    details += [i18n.journal_fault_detail(k, "es") for k in [*i18n.JOURNAL_FAULTS, "io"]]
    details += [i18n.catalog_failure(k, "es") for k in i18n.CATALOG_FAILURES]
    details += [i18n.detail_text(k, "es") for k in i18n.DETAILS]
    details += [detail_for(errors.NotSent("connect refused"), "es")]
    for reason in i18n.REASONS:
        out.append((f"rejected-{reason}", slips.rejected_slip(ctx, reason, NOW)))
    for i, detail in enumerate(details):
        out.append((f"detail-{i}", slips.rejected_slip(ctx, "rejected", NOW, detail=detail)))
    states = [*i18n.STATUS_WORDS, "error_recoverable", "TLS certificate verify failed", "weird"]
    for state in states:
        info = slips.StatusInfo("0.1.0", "K-07", "192.0.2.7", {state: 1}, state, state, 600, True)
        out.append((f"status-{state}", slips.status_slip(ctx, info, NOW)))
    return out


def test_every_slip_kind_is_rendered():
    kinds = {receipt.kind for _name, receipt in every_spanish_slip()}
    assert set(slips.SLIP_KINDS) <= kinds, "add a sample of the new slip kind to this test"


@pytest.mark.parametrize(("name", "receipt"), every_spanish_slip(), ids=lambda x: str(x)[:30])
def test_no_english_word_on_a_spanish_slip(name, receipt):
    allowed = SPANISH | names_of_the_data()
    words = [w for line in slip_lines(receipt, barcode=None) for w in WORD.findall(line)]
    strangers = sorted({w for w in words if w.lower() not in allowed})
    assert strangers == [], f"{name}: not Spanish: {strangers}"


def test_the_word_check_catches_english():
    """The check itself: an English status or server text would be caught."""
    ctx = slips.SlipContext(lang="es")
    english = slips.rejected_slip(ctx, "rejected", NOW, detail="amount 150 above max_bet 99")
    words = {w.lower() for line in slip_lines(english) for w in WORD.findall(line)}
    assert {"amount", "above"} <= words - SPANISH


def test_an_unknown_server_text_is_quoted_as_the_servers_not_dropped():
    text = i18n.server_text("kaboom: database on fire", "es")
    assert text == "el servidor respondió: «kaboom: database on fire»"
    assert i18n.server_text("wager amount 150 above max_bet 99", "en").startswith("wager amount")


@pytest.mark.parametrize(
    ("server", "slip"),
    [("04:00 pm", "16:00"), ("12:00 pm", "12:00"), ("12:45 am", "00:45"), ("09:00 AM", "09:00"),
     ("16:00:00", "16:00"), ("9:05", "09:05"), ("13:00 pm", "13:00 pm"), ("mañana", "mañana")],
)  # fmt: skip
def test_server_clock_texts_become_24_hours(server, slip):
    assert i18n.clock_text(server) == slip


def test_one_time_format_on_a_ticket():
    ctx = slips.SlipContext.from_catalog(samples.catalog(), lang="es")
    lines = slip_lines(slips.ticket_slip(ctx, samples.ticket()))
    times = [m for line in lines for m in re.findall(r"\d{1,2}:\d{2}(?:\s*[ap]m)?", line)]
    assert times and all(re.fullmatch(r"\d{2}:\d{2}", t) for t in times), times


def test_counts_agree_with_their_noun():
    assert i18n.count_text(1, "es") == "1 ticket"
    assert i18n.count_text(0, "es") == "0 tickets"
    assert i18n.count_text(3, "en") == "3 tickets"
