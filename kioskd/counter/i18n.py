"""Words and number formats for slips: Spanish (default) and English.

Rules:
- Every text a slip prints comes from `MESSAGES` (or `REASONS` for why something was refused), in
  both languages; a missing key is a KeyError in tests, not a blank line on paper.
- Amounts are printed the es_VE way whatever the language (``1.234,50``: dot for thousands, comma
  for decimals, always two decimals) with a configurable currency label (default ``Bs.``), because
  that is how money is written where the kiosks stand. Locale modules are not used: the Pi's
  locale settings must not change what a receipt says.
- Dates and times are shown in the entity's time zone (passed in), never the machine's, in one
  format: 24 hours (``16:00``) in both languages. Draw times the server sends as text
  (``"04:00 pm"``) are turned into the same form (`clock_text`), so a slip never mixes the two.
- Nothing the server or a device says in English reaches a Spanish slip as it is: device and
  link states go through `STATUS_WORDS`, server refusals through `SERVER_TEXTS` (a pattern per
  known text, its numbers carried over). A text no pattern knows is quoted as the server's own
  (``«...»``) under a Spanish line that says so: kept, never dropped, never passed off as ours.
- Counts agree with their noun (`count_text`: ``1 ticket``, ``2 tickets``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from kioskd.banklot.days import zone

LANGS = ("es", "en")
DEFAULT_LANG = "es"
DEFAULT_CURRENCY = "Bs."

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (es, en)
    "ticket": ("TICKET", "TICKET"),
    "copy": ("*** COPIA ***", "*** COPY ***"),
    "ticket_no": ("Ticket", "Ticket"),
    "pin": ("PIN", "PIN"),
    "date": ("Fecha", "Date"),
    "time": ("Hora", "Time"),
    "total": ("Total", "Total"),
    "wagers": ("Jugadas", "Wagers"),
    "agency": ("Agencia", "Agency"),
    "payout": ("PAGO DE PREMIO", "PRIZE PAYOUT"),
    "prize": ("Premio", "Prize"),
    "paid_at": ("Pagado", "Paid"),
    "pending": ("PAGO PENDIENTE", "PAYMENT PENDING"),
    "pending_warning": ("PENDIENTE — NO PAGAR EN EFECTIVO", "PENDING — DO NOT PAY CASH"),
    "pending_note": (
        "El pago se confirmará al volver la conexión.",
        "The payment will be confirmed when the connection returns.",
    ),
    "pending_sale": ("VENTA PENDIENTE", "SALE PENDING"),
    "pending_sale_warning": ("PENDIENTE — GUARDE ESTE COMPROBANTE", "PENDING — KEEP THIS SLIP"),
    "pending_sale_note": (
        "Su ticket se imprimirá al confirmarse la venta; si no se confirma, un comprobante NO "
        "VENDIDO.",
        "Your ticket prints when the sale is confirmed; if it is not, a NOT SOLD slip prints.",
    ),
    "reference": ("Referencia", "Reference"),
    "delivered_late": ("ENTREGADO TARDE — VENTA CONFIRMADA", "DELIVERED LATE — SALE CONFIRMED"),
    "not_sold": ("NO VENDIDO", "NOT SOLD"),
    "not_winner": ("TICKET NO PREMIADO", "NOT A WINNER"),
    "cancel": ("ANULACIÓN", "CANCELLATION"),
    "canceled": ("Ticket anulado", "Ticket cancelled"),
    "amount_back": ("Monto devuelto", "Amount returned"),
    "expired_sale": ("LA VENTA NO SE REALIZÓ", "THE SALE DID NOT HAPPEN"),
    "expired_pay": ("EL PAGO NO SE REALIZÓ", "THE PAYMENT DID NOT HAPPEN"),
    "expired_cancel": ("LA ANULACIÓN NO SE REALIZÓ", "THE CANCELLATION DID NOT HAPPEN"),
    "expired_note": (
        "No se cobró ni se pagó nada.",
        "Nothing was charged or paid.",
    ),
    "rejected": ("OPERACIÓN RECHAZADA", "OPERATION REJECTED"),
    "reason": ("Motivo", "Reason"),
    "results": ("RESULTADOS", "RESULTS"),
    "no_results": ("Sin resultados todavía", "No results yet"),
    "report": ("REPORTE DE TURNO", "SHIFT REPORT"),
    "sales": ("Ventas", "Sales"),
    "cancellations": ("Anulaciones", "Cancellations"),
    "prizes_paid": ("Premios pagados", "Prizes paid"),
    "balance": ("Saldo", "Balance"),
    "tickets": ("tickets", "tickets"),  # kept for callers; slips use `count_text`
    "status": ("ESTADO DEL TERMINAL", "TERMINAL STATUS"),
    "version": ("Versión", "Version"),
    "terminal": ("Terminal", "Terminal"),
    "ip": ("IP", "IP"),
    "queue": ("Cola", "Queue"),
    "printer": ("Impresora", "Printer"),
    "api": ("Servidor", "Server"),
    "catalog": ("Catálogo", "Catalog"),
    "stale": ("desactualizado", "stale"),
    "test": ("PRUEBA DE IMPRESIÓN", "TEST PRINT"),
    "test_chars": ("Acentos: áéíóú ñ Ñ ¿? ¡!", "Accents: áéíóú ñ Ñ ¿? ¡!"),
    "printed": ("Impreso", "Printed"),
    "day": ("Día", "Day"),
}

REASONS: dict[str, tuple[str, str]] = {
    # catalog (local validation)
    "catalog_not_loaded": ("Catálogo no cargado", "Catalog not loaded"),
    "catalog_failed": ("Catálogo no disponible", "Catalog unavailable"),
    "empty_draft": ("Ticket sin jugadas", "Ticket has no wagers"),
    "unknown_product": ("Producto desconocido", "Unknown product"),
    "event_closed": ("Sorteo cerrado", "Draw closed"),
    "bad_wager_code": ("Número no válido", "Invalid number"),
    "under_min_bet": ("Monto menor al mínimo", "Amount below the minimum"),
    "over_max_bet": ("Monto mayor al máximo", "Amount above the maximum"),
    "not_a_multiple": ("Monto no es múltiplo permitido", "Amount is not an allowed multiple"),
    "too_many_wagers": ("Demasiadas jugadas", "Too many wagers"),
    # grammar
    "grammar": ("Jugada mal escrita", "Badly typed wager"),
    "bad_scan": ("Código no reconocido", "Code not recognised"),
    # server and outbox outcomes (Failed.reason)
    "not_a_winner": ("Ticket no premiado", "Not a winner"),
    "ticket_not_found": ("Ticket no existe", "Unknown ticket"),
    "wrong_pin": ("PIN incorrecto", "Wrong PIN"),
    "already_paid": ("Ticket ya pagado", "Ticket already paid"),
    "ticket_expired": ("Ticket vencido", "Ticket expired"),
    "cancel_window_passed": ("Tiempo de anulación vencido", "Cancel window passed"),
    "already_canceled": ("Ticket ya anulado", "Ticket already cancelled"),
    "events_closed": ("Sorteo cerrado", "Draw closed"),
    "wager_rejected": ("Jugada rechazada por el servidor", "Wager refused by the server"),
    "offline_cap": ("Límite de operaciones sin conexión", "Offline limit reached"),
    "journal_fault": ("Registro del terminal con falla", "Terminal journal fault"),
    "offline": ("Sin conexión", "Offline"),
    "auth_failed": ("Acceso al servidor rechazado", "Server login refused"),
    "in_doubt": ("Resultado en verificación", "Outcome being checked"),
    "supervisor": ("Código de supervisor incorrecto", "Wrong supervisor code"),
    "no_last_ticket": ("No hay ticket anterior", "No previous ticket"),
    "nothing_to_repeat": ("Nada que repetir", "Nothing to repeat"),
    "cancel_refused": ("Anulación no aceptada", "Cancellation refused by the server"),
    "rejected": ("Rechazado por el servidor", "Refused by the server"),
    "error": ("Error del terminal", "Terminal error"),
    "expired": ("Operación vencida", "Operation expired"),
}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown slip language {lang!r} (known: {', '.join(LANGS)})")
    return lang


def t(key: str, lang: str) -> str:
    """The text for `key` in `lang` ("es" or "en")."""
    es, en = MESSAGES[key]
    return en if check_lang(lang) == "en" else es


def reason_text(code: str, lang: str) -> str:
    """A rejection reason code in words; an unknown code is shown as it is (never dropped)."""
    pair = REASONS.get(code)
    if pair is None:
        return code
    return pair[1] if check_lang(lang) == "en" else pair[0]


# Slip texts for the catalog's refusals, from `Rejection.facts` (es, en).
REJECTION_DETAILS: dict[str, tuple[str, str]] = {
    "unknown_product": ("el producto {product} no se vende aquí",
                        "product {product} is not sold here"),
    "event_closed": ("el sorteo {event} del producto {product} está cerrado",
                     "event {event} of product {product} closed"),
    "bad_wager_code": ("{number} no es un número válido del producto {product}",
                       "{number} is not a valid number for product {product}"),
    "under_min_bet": ("monto {amount}: el mínimo es {limit}",
                      "amount {amount} below min_bet {limit}"),
    "over_max_bet": ("monto {amount}: el máximo es {limit}",
                     "amount {amount} above max_bet {limit}"),
    "not_a_multiple": ("monto {amount}: debe ser múltiplo de {limit}",
                       "amount {amount} is not a multiple of {limit}"),
    "too_many_wagers": ("{count} apuestas: máximo {limit} por ticket",
                        "{count} wagers, at most {limit} per ticket"),
    "catalog_not_loaded": ("el catálogo aún no se ha cargado", "the catalog was never loaded"),
    "catalog_failed": ("no se pudo cargar el catálogo: {why}",
                       "the catalog could not be loaded: {why}"),
    "empty_draft": ("sin apuestas", "no wagers"),
}  # fmt: skip


# Refusal details the terminal words itself (es, en).
DETAILS: dict[str, tuple[str, str]] = {
    "internal": ("falla interna del terminal: avise al técnico",
                 "internal terminal fault: call the technician"),
    "cancel_unknown_time": ("no se pudo consultar el ticket antes de anularlo",
                            "the ticket could not be looked up before cancelling it"),
    "cancel_paid": ("el ticket tiene premio: no se puede anular",
                    "the ticket is a winner: it cannot be cancelled"),
    "cancel_late": ("pasó el tiempo para anular", "the cancel window has passed"),
    "cancel_other": ("el servidor no permite anular este ticket (sorteo cerrado u otro terminal)",
                     "the server does not allow cancelling this ticket (draw closed or another "
                     "terminal)"),
}  # fmt: skip


def detail_text(key: str, lang: str) -> str:
    es, en = DETAILS[key]
    return en if check_lang(lang) == "en" else es


# Why the journal cannot be written, per `JournalError.kind` (es, en): for the refusal slip.
JOURNAL_FAULTS: dict[str, tuple[str, str]] = {
    "full": ("disco lleno: llame al técnico", "disk full: call the technician"),
    "locked": ("registro bloqueado por otro programa: llame al técnico",
               "journal locked by another program: call the technician"),
    "readonly": ("registro de solo lectura: llame al técnico",
                 "journal is read-only: call the technician"),
    "corrupt": ("registro dañado: llame al técnico", "journal damaged: call the technician"),
}  # fmt: skip
JOURNAL_FAULT_OTHER = ("error al escribir el registro: llame al técnico",
                       "journal write error: call the technician")  # fmt: skip


def journal_fault_detail(kind: str, lang: str) -> str:
    """The refusal detail for a journal fault of `kind`, in `lang`."""
    es, en = JOURNAL_FAULTS.get(kind, JOURNAL_FAULT_OTHER)
    return en if check_lang(lang) == "en" else es


# Why the first catalog load failed (`CatalogFailed.why` in the session), for the slip.
CATALOG_FAILURES: dict[str, tuple[str, str]] = {
    "offline": ("el servidor no responde", "the API is unreachable"),
    "login": ("el servidor rechazó el acceso", "the API refused the login"),
    "error": ("error del servidor", "the API answered with an error"),
    "timeout": ("no llegó a tiempo", "it did not arrive in time"),
}


def catalog_failure(why: str, lang: str) -> str:
    pair = CATALOG_FAILURES.get(why, CATALOG_FAILURES["error"])
    return pair[0 if lang == "es" else 1]


def rejection_detail(reason: str, facts: Mapping[str, object], lang: str) -> str | None:
    """A refusal's detail in `lang` (None when there is no template or a fact is missing)."""
    pair = REJECTION_DETAILS.get(reason)
    if pair is None:
        return None
    try:
        return pair[0 if lang == "es" else 1].format(**facts)
    except (KeyError, IndexError):
        return None


def format_number(value: int | float | Decimal, decimals: int = 2) -> str:
    """es_VE number: ``1234.5`` -> ``1.234,50``; negatives keep their sign."""
    quant = Decimal(1).scaleb(-decimals)
    number = Decimal(str(value)).quantize(quant, rounding=ROUND_HALF_UP)
    sign = "-" if number < 0 else ""
    text = f"{abs(number):,.{decimals}f}"  # 1,234.50
    text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return sign + text


def format_amount(value: int | float | Decimal, currency: str = DEFAULT_CURRENCY) -> str:
    """``1234`` -> ``Bs. 1.234,00`` (label first, as Venezuelan receipts print it)."""
    number = format_number(value)
    return f"{currency} {number}" if currency else number


def local_datetime(unix: float, tz: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, zone(tz))


def format_date(unix: float, tz: str) -> str:
    """dd/mm/yyyy in zone `tz` (the same in both languages)."""
    return local_datetime(unix, tz).strftime("%d/%m/%Y")


def format_time(unix: float, tz: str, lang: str = DEFAULT_LANG) -> str:
    """24-hour time (``16:05``) in both languages: the one time format of every slip."""
    check_lang(lang)
    return local_datetime(unix, tz).strftime("%H:%M")


_CLOCK_TEXT = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::\d{2})?\s*([ap])\.?\s*m\.?\s*$", re.I)
_CLOCK_24 = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::\d{2})?\s*$")


def clock_text(text: str) -> str:
    """A time of day the server sent as text (``"04:00 pm"``, ``"12:00 am"``, ``"16:00:00"``)
    in the slips' 24-hour form (``16:00``); a text that is no time of day is kept as it is."""
    match = _CLOCK_TEXT.match(text)
    if match:
        hour, minute, half = int(match[1]), int(match[2]), match[3].lower()
        if 1 <= hour <= 12 and minute < 60:
            return f"{hour % 12 + (12 if half == 'p' else 0):02d}:{minute:02d}"
        return text
    match = _CLOCK_24.match(text)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return f"{int(match[1]):02d}:{match[2]}"
    return text


def count_text(count: int, lang: str) -> str:
    """``1 ticket`` / ``3 tickets`` (the word is the same in both languages, the plural too)."""
    check_lang(lang)
    return f"{count} ticket" if count == 1 else f"{count} tickets"


# States of the printer (`PrinterStatus.summary`), of the API link (`Health.api`) and of the
# journal's operations (`kioskd.journal.states`), as the status slip shows them (es, en).
STATUS_WORDS: dict[str, tuple[str, str]] = {
    "ok": ("en servicio", "ok"),
    "online": ("en línea", "online"),
    "offline": ("sin conexión", "offline"),
    "disconnected": ("desconectada", "disconnected"),
    "unknown": ("sin datos", "unknown"),
    "cover_open": ("tapa abierta", "cover open"),
    "paper_out": ("sin papel", "paper out"),
    "paper_near_end": ("papel por acabarse", "paper near end"),
    "in_doubt": ("en verificación", "in doubt"),
    "attention": ("requiere atención", "needs attention"),
    "login refused": ("acceso rechazado", "login refused"),
    "queued": ("en cola", "queued"),
    "sending": ("enviando", "sending"),
    "done": ("hechas", "done"),
    "rejected": ("rechazadas", "rejected"),
    "expired": ("vencidas", "expired"),
    "reconciling": ("verificando", "reconciling"),
    "conflict": ("en conflicto", "conflict"),
}
_STATUS_PREFIXES: dict[str, tuple[str, str]] = {
    "error_": ("con falla", "error"),  # error_<kind> from the printer's status bytes
    "TLS ": ("certificado no válido", "TLS error"),  # the API's certificate was refused
}


def status_word(state: str, lang: str) -> str:
    """A device or link state in words; an unknown state is said as unknown, never printed raw
    in Spanish (it may be English)."""
    pair = STATUS_WORDS.get(state)
    if pair is None:
        pair = next((p for k, p in _STATUS_PREFIXES.items() if state.startswith(k)), None)
    if pair is None:
        return state if check_lang(lang) == "en" else STATUS_WORDS["unknown"][0]
    return pair[1] if check_lang(lang) == "en" else pair[0]


# The server's refusal texts we know (Banklot reference and what the API is seen to answer),
# each with its Spanish wording; `{0}`, `{1}` carry the pattern's groups (numbers, codes).
# Patterns as text: compiled when a refusal is first worded (`_worded`; `re` keeps them),
# not at import, before READY=1 (issue 19: 21 patterns, a few ms of CPU at every start).
SERVER_TEXTS: tuple[tuple[str, str], ...] = (
    (r"amount (\d+) below min_bet (\d+)", "monto {0}: el mínimo es {1}"),
    (r"amount (\d+) above max_bet (\d+)", "monto {0}: el máximo es {1}"),
    (r"amount (\d+) not a multiple of (\d+)", "monto {0}: debe ser múltiplo de {1}"),
    (r"count above ticket_max_wagers (\d+)", "demasiadas jugadas: máximo {0} por producto"),
    (r"wager '?([^' ]+)'? is not in the inventory", "{0} no es un número válido"),
    (r"does not match event (\d+)", "la jugada no corresponde al sorteo {0}"),
    (r"wager list is empty", "ticket sin jugadas"),
    (r"wager (\d+) is malformed", "la jugada {0} está mal formada"),
    (r"closed events:\s*\[([0-9,\s]*)\]", "sorteo cerrado: {0}"),
    (r"events are not open", "sorteo cerrado"),
    (r"no rows in result set", "el servidor no encontró el ticket"),
    (r"not a winner", "el ticket no tiene premio"),
    (r"already rejected", "el ticket ya estaba anulado"),
    (r"already paid", "el premio ya fue pagado"),
    (r"cancel window|time to cancel", "pasó el tiempo para anular"),
    (r"invalid pin|wrong pin", "el PIN no corresponde al ticket"),
    (r"ticket expired", "el ticket está vencido"),
)
SERVER_QUOTE = ("el servidor respondió: «{0}»", "the server said: {0}")


def server_text(message: str, lang: str) -> str:
    """The server's refusal `message` for a slip in `lang`: English stays the server's own text;
    Spanish is the known text's wording, or the server's text quoted as such."""
    message = message.strip()
    if check_lang(lang) == "en":
        return message
    worded = _worded(SERVER_TEXTS, message)
    if worded is not None:
        return worded
    return SERVER_QUOTE[0].format(message) if message else ""


def _worded(table: tuple[tuple[str, str], ...], message: str) -> str | None:
    for pattern, es in table:
        match = re.search(pattern, message, re.I)
        if match:
            return es.format(*(g.strip() for g in match.groups()))
    return None


# Why the outbox refused a new operation (`OutboxRefused`), in Spanish.
OUTBOX_TEXTS: tuple[tuple[str, str], ...] = (
    (r"queue full \((\d+) operations", "cola llena: {0} operaciones esperando"),
    (r"amount would reach (\d+), cap is (\d+)", "en cola llegaría a {0}; el límite es {1}"),
    (r"deadline already passed", "el plazo ya venció"),
    (r"at least one wager", "ticket sin jugadas"),
)


def outbox_text(message: str, lang: str) -> str:
    """The outbox's refusal `message` for a slip: English as it is, Spanish when known (else
    nothing: the reason line says it, the log keeps the text)."""
    if check_lang(lang) == "en":
        return message
    return _worded(OUTBOX_TEXTS, message) or ""


def format_datetime(unix: float, tz: str, lang: str = DEFAULT_LANG) -> str:
    return f"{format_date(unix, tz)} {format_time(unix, tz, lang)}"
