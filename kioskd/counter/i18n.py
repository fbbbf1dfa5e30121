"""Words and number formats for slips: Spanish (default) and English.

Rules:
- Every text a slip prints comes from `MESSAGES` (or `REASONS` for why something was refused), in
  both languages; a missing key is a KeyError in tests, not a blank line on paper.
- Amounts are printed the es_VE way whatever the language (``1.234,50``: dot for thousands, comma
  for decimals, always two decimals) with a configurable currency label (default ``Bs.``), because
  that is how money is written where the kiosks stand. Locale modules are not used: the Pi's
  locale settings must not change what a receipt says.
- Dates and times are shown in the entity's time zone (passed in), never the machine's.
"""

from __future__ import annotations

import datetime as dt
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
    "tickets": ("tickets", "tickets"),
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
    """24-hour time in Spanish, 12-hour with am/pm in English."""
    moment = local_datetime(unix, tz)
    if check_lang(lang) == "en":
        return moment.strftime("%I:%M %p").lower().lstrip("0")
    return moment.strftime("%H:%M")


def format_datetime(unix: float, tz: str, lang: str = DEFAULT_LANG) -> str:
    return f"{format_date(unix, tz)} {format_time(unix, tz, lang)}"
