"""Slip builders: plain data in, `kioskd.receipt.Receipt` out, for every kind of slip.

Rules:
- Pure functions: no printer, no clock (the time to print comes in as `now`), no I/O. The same
  builders serve the session, crash-recovery reprints and `kioskd preview`.
- Words come from `kioskd.counter.i18n` in the slip's language, and so do states, counts and
  draw times the server sends as text; amounts are es_VE with the configured currency label;
  dates and times are in the entity's time zone, 24-hour. What a slip prints as it is: numbers,
  codes, and names (agency, products, draws, the agency's header and footer).
- A ticket slip carries the PIN (the customer needs it to cash a prize) and the Code128 barcode
  of ticket + PIN + local date; nothing else ever prints a PIN.
- Reprints and recoveries are marked as copies (`Receipt.copy` plus a visible line).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kioskd.banklot.days import DEFAULT_TIME_ZONE, local_date
from kioskd.banklot.models import CANCELED, PAID, DrawResult, ReportTotals, Ticket, TicketSummary
from kioskd.counter.i18n import (
    DEFAULT_CURRENCY,
    DEFAULT_LANG,
    check_lang,
    clock_text,
    count_text,
    format_amount,
    format_date,
    format_datetime,
    format_time,
    reason_text,
    status_word,
    t,
)
from kioskd.counter.scan import barcode_data
from kioskd.receipt import Barcode, Block, CharChart, Feed, Receipt, Row, Rule, Text, Title

if TYPE_CHECKING:
    from kioskd.counter.catalog import Catalog

DEFAULT_TZ = DEFAULT_TIME_ZONE


@dataclass(frozen=True)
class SlipContext:
    """What every slip shares: language, money label, zone and the agency's header/footer."""

    lang: str = DEFAULT_LANG
    currency: str = DEFAULT_CURRENCY
    time_zone: str = DEFAULT_TZ
    agency: str = ""
    header: str = ""
    footer: str = ""
    terminal_id: str = ""

    def __post_init__(self) -> None:
        check_lang(self.lang)

    @classmethod
    def from_catalog(
        cls,
        catalog: Catalog | None,
        *,
        lang: str = DEFAULT_LANG,
        currency: str = DEFAULT_CURRENCY,
        terminal_id: str = "",
        time_zone: str = DEFAULT_TZ,
    ) -> SlipContext:
        """Zone, agency, header and footer from the catalog (defaults while it is not loaded)."""
        if catalog is None:
            return cls(lang, currency, time_zone, terminal_id=terminal_id)
        return cls(
            lang=lang,
            currency=currency,
            time_zone=catalog.time_zone,
            agency=catalog.agency_name,
            header=catalog.header,
            footer=catalog.footer,
            terminal_id=terminal_id,
        )

    def money(self, value: float) -> str:
        return format_amount(value, self.currency)

    def when(self, unix: float) -> str:
        return format_datetime(unix, self.time_zone, self.lang)


@dataclass(frozen=True)
class ShiftReport:
    """A day's totals for the shift report slip."""

    day: dt.date
    sales: float
    sales_count: int
    cancellations: float
    cancellations_count: int
    prizes_paid: float
    prizes_count: int
    balance: float

    @classmethod
    def from_api(
        cls,
        day: dt.date,
        tickets: Sequence[TicketSummary],
        totals: ReportTotals | None = None,
    ) -> ShiftReport:
        """Counts from the day's ticket list; money from `/gaming/reports` when we have it."""
        live = [x for x in tickets if x.status != CANCELED]
        canceled = [x for x in tickets if x.status == CANCELED]
        paid = [x for x in tickets if x.status == PAID]
        sales = sum(x.total for x in live)
        prizes = sum(x.prize for x in paid)
        return cls(
            day=day,
            sales=totals.sale if totals else sales,
            sales_count=len(live),
            cancellations=sum(x.total for x in canceled),
            cancellations_count=len(canceled),
            prizes_paid=totals.prize if totals else prizes,
            prizes_count=len(paid),
            balance=totals.balance if totals else sales - prizes,
        )


@dataclass(frozen=True)
class StatusInfo:
    """What the status slip (`*3`) shows; the daemon fills it in."""

    version: str
    terminal_id: str
    ip: str
    queue: Mapping[str, int] = field(default_factory=dict)
    printer: str = "unknown"
    api: str = "unknown"
    catalog_age_s: float | None = None
    catalog_stale: bool = False


def _head(ctx: SlipContext, title: str) -> list[Block]:
    blocks: list[Block] = []
    for line in ctx.header.splitlines():
        if line.strip():
            blocks.append(Text(line, align="center"))
    if ctx.agency:
        blocks.append(Text(ctx.agency, align="center", bold=True))
    blocks.append(Title(title))
    return blocks


def _tail(ctx: SlipContext, now: float | None = None, *, footer: bool = False) -> list[Block]:
    """Print time and terminal; the agency's ticket footer goes on tickets only."""
    blocks: list[Block] = []
    if now is not None:
        blocks.append(Text(f"{t('printed', ctx.lang)}: {ctx.when(now)}", align="center"))
    if ctx.terminal_id:
        blocks.append(Text(f"{t('terminal', ctx.lang)} {ctx.terminal_id}", align="center"))
    lines = [line for line in ctx.footer.splitlines() if line.strip()] if footer else []
    if lines:
        blocks.append(Rule())
        blocks.extend(Text(line, align="center") for line in lines)
    blocks.append(Feed(2))
    return blocks


def _copy_label(ctx: SlipContext, copy: bool) -> str | None:
    """The mark of a reprint, in the slip's language; the renderer prints it at the top and
    the bottom of the paper (so a torn-off half still says so)."""
    return t("copy", ctx.lang) if copy else None


# ---------------------------------------------------------------------------- ticket


def ticket_slip(
    ctx: SlipContext, ticket: Ticket, *, copy: bool = False, late_reference: int | None = None
) -> Receipt:
    """The sold ticket: wagers grouped by draw, total, number, PIN, local date/time, barcode.
    `late_reference`: the sale was in doubt (a PENDING slip may carry this reference); the
    ticket says it was delivered late."""
    lang = ctx.lang
    blocks = _head(ctx, t("ticket", lang))
    if late_reference is not None:
        blocks.append(Text(t("delivered_late", lang), align="center", bold=True))
        blocks.append(Row(t("reference", lang), f"{late_reference:06d}"))
    if ticket.entity_name and ticket.entity_name != ctx.agency:
        blocks.append(Text(f"{t('agency', lang)}: {ticket.entity_name}", align="center"))
    blocks.append(Rule())
    current = None
    for w in ticket.wagers:
        draw = (w.event_name or f"#{w.event_id}", clock_text(w.p_event_time or ""))
        if draw != current:
            current = draw
            blocks.append(Text(f"{draw[0]} {draw[1]}".strip(), bold=True))
        blocks.append(Row(w.wager, ctx.money(w.amount)))
    blocks.append(Rule())
    blocks.append(Row(f"{t('total', lang)} ({len(ticket.wagers)})", ctx.money(ticket.amount), True))
    blocks.append(Row(t("ticket_no", lang), f"{ticket.ticket_number:08d}", True))
    if ticket.pin_number is not None:
        blocks.append(Row(t("pin", lang), f"{ticket.pin_number:08d}", True))
    blocks.append(Row(t("date", lang), format_date(ticket.created_at, ctx.time_zone)))
    blocks.append(Row(t("time", lang), format_time(ticket.created_at, ctx.time_zone, lang)))
    if ticket.pin_number is not None:
        data = barcode_data(
            ticket.ticket_number, ticket.pin_number, local_date(ticket.created_at, ctx.time_zone)
        )
        blocks.append(Barcode(data, text=data))
    blocks += _tail(ctx, footer=True)
    return Receipt("ticket", tuple(blocks), copy=copy, copy_label=_copy_label(ctx, copy))


# ---------------------------------------------------------------------------- pay / cancel


def payout_slip(
    ctx: SlipContext, ticket_number: int, prize: float, paid_at: float, *, copy: bool = False
) -> Receipt:
    lang = ctx.lang
    blocks = _head(ctx, t("payout", lang))
    blocks += [
        Row(t("ticket_no", lang), f"{ticket_number:08d}"),
        Text(f"{t('prize', lang)}: {ctx.money(prize)}", align="center", bold=True, double=True),
        Row(t("paid_at", lang), ctx.when(paid_at)),
    ]
    return Receipt(
        "payout", tuple(blocks + _tail(ctx)), copy=copy, copy_label=_copy_label(ctx, copy)
    )


def pending_slip(ctx: SlipContext, ticket_number: int, now: float) -> Receipt:
    """A payment queued offline: the clerk must not hand out cash on this slip."""
    lang = ctx.lang
    blocks = _head(ctx, t("pending", lang))
    blocks += [
        Text(t("pending_warning", lang), align="center", bold=True, double=True),
        Row(t("ticket_no", lang), f"{ticket_number:08d}"),
        Text(t("pending_note", lang), align="center"),
    ]
    return Receipt("pending", tuple(blocks + _tail(ctx, now)))


# A sale not confirmed this long after it went in doubt (or was queued) gets a PENDING slip.
PENDING_AFTER_S = 2.0


def pending_sale_slip(ctx: SlipContext, reference: int, amount: float, now: float) -> Receipt:
    """A sale still in doubt after a couple of seconds: the customer keeps this slip. The ticket
    prints when the sale is proven done (marked as delivered late, with this reference), or a
    NOT SOLD slip with the same reference when it is proven not applied and no longer valid."""
    lang = ctx.lang
    blocks = _head(ctx, t("pending_sale", lang))
    blocks += [
        Text(t("pending_sale_warning", lang), align="center", bold=True, double=True),
        Row(t("reference", lang), f"{reference:06d}"),
        Row(t("total", lang), ctx.money(amount)),
        Text(t("pending_sale_note", lang), align="center"),
    ]
    return Receipt("pending", tuple(blocks + _tail(ctx, now)))


def not_winner_slip(ctx: SlipContext, ticket_number: int, now: float) -> Receipt:
    blocks = _head(ctx, t("not_winner", ctx.lang))
    blocks.append(Row(t("ticket_no", ctx.lang), f"{ticket_number:08d}"))
    return Receipt("not_winner", tuple(blocks + _tail(ctx, now)))


def cancel_slip(
    ctx: SlipContext, ticket_number: int, now: float, amount: float | None = None
) -> Receipt:
    lang = ctx.lang
    blocks = _head(ctx, t("cancel", lang))
    blocks += [
        Text(t("canceled", lang), align="center", bold=True),
        Row(t("ticket_no", lang), f"{ticket_number:08d}"),
    ]
    if amount is not None:
        blocks.append(Row(t("amount_back", lang), ctx.money(amount), True))
    return Receipt("cancel", tuple(blocks + _tail(ctx, now)))


EXPIRED_TITLES = {"sale": "expired_sale", "pay": "expired_pay", "cancel": "expired_cancel"}


def expired_slip(
    ctx: SlipContext,
    what: str,
    now: float,
    *,
    ticket_number: int | None = None,
    amount: float | None = None,
    reference: int | None = None,
) -> Receipt:
    """An operation that did not happen (expired unsent, or proven not applied and no longer
    valid): `what` is ``sale``, ``pay`` or ``cancel``. A sale says NOT SOLD in large letters;
    `reference` matches the PENDING slip the customer may hold."""
    lang = ctx.lang
    blocks = _head(ctx, t(EXPIRED_TITLES[what], lang))
    if what == "sale":
        blocks.append(Text(t("not_sold", lang), align="center", bold=True, double=True))
    if reference is not None:
        blocks.append(Row(t("reference", lang), f"{reference:06d}"))
    if ticket_number is not None:
        blocks.append(Row(t("ticket_no", lang), f"{ticket_number:08d}"))
    if amount is not None:
        blocks.append(Row(t("total", lang), ctx.money(amount)))
    blocks.append(Text(t("expired_note", lang), align="center"))
    return Receipt("expired", tuple(blocks + _tail(ctx, now)))


def rejected_slip(
    ctx: SlipContext,
    reason: str,
    now: float,
    *,
    detail: str = "",
    ticket_number: int | None = None,
) -> Receipt:
    """Why a sale, payment or cancel was refused (locally or by the server)."""
    lang = ctx.lang
    blocks = _head(ctx, t("rejected", lang))
    blocks.append(Text(reason_text(reason, lang), align="center", bold=True))
    if detail:
        blocks.append(Text(detail, align="center"))
    if ticket_number is not None:
        blocks.append(Row(t("ticket_no", lang), f"{ticket_number:08d}"))
    return Receipt("rejected", tuple(blocks + _tail(ctx, now)))


# ---------------------------------------------------------------------------- reports


def results_slip(ctx: SlipContext, results: Sequence[DrawResult], now: float) -> Receipt:
    """Today's draws, grouped by product name in draw-time order."""
    lang = ctx.lang
    blocks = _head(ctx, t("results", lang))
    blocks.append(Text(format_date(now, ctx.time_zone), align="center"))
    blocks.append(Rule())
    if not results:
        blocks.append(Text(t("no_results", lang), align="center"))

    def order(r: DrawResult) -> tuple:
        return (r.name, r.event_timestamp or 0, r.display_order or 0, r.list_name or "")

    current = None
    for r in sorted(results, key=order):
        if r.name != current:
            current = r.name
            blocks.append(Text(r.name, bold=True))
        when = (
            format_time(r.event_timestamp, ctx.time_zone, lang)
            if r.event_timestamp is not None
            else clock_text(r.event_time or "")
        )
        label = f"{when} {r.list_name}" if r.list_name else when
        blocks.append(Row(label, r.main_result))
    return Receipt("results", tuple(blocks + _tail(ctx, now)))


def report_slip(ctx: SlipContext, report: ShiftReport, now: float) -> Receipt:
    lang = ctx.lang
    blocks = _head(ctx, t("report", lang))
    blocks += [
        Row(t("day", lang), report.day.strftime("%d/%m/%Y")),
        Rule(),
        Row(
            f"{t('sales', lang)} ({count_text(report.sales_count, lang)})",
            ctx.money(report.sales),
        ),
        Row(
            f"{t('cancellations', lang)} ({count_text(report.cancellations_count, lang)})",
            ctx.money(report.cancellations),
        ),
        Row(
            f"{t('prizes_paid', lang)} ({count_text(report.prizes_count, lang)})",
            ctx.money(report.prizes_paid),
        ),
        Rule(),
        Row(t("balance", lang), ctx.money(report.balance), True),
    ]
    return Receipt("report", tuple(blocks + _tail(ctx, now)))


def status_slip(ctx: SlipContext, info: StatusInfo, now: float) -> Receipt:
    lang = ctx.lang
    blocks = _head(ctx, t("status", lang))
    blocks += [
        Row(t("version", lang), info.version),
        Row(t("terminal", lang), info.terminal_id),
        Row(t("ip", lang), info.ip),
        Row(t("printer", lang), status_word(info.printer, lang)),
        Row(t("api", lang), status_word(info.api, lang)),
    ]
    if info.catalog_age_s is not None:
        age = f"{int(info.catalog_age_s // 60)} min"
        if info.catalog_stale:
            age += f" ({t('stale', lang)})"
        blocks.append(Row(t("catalog", lang), age))
    if info.queue:
        blocks.append(Rule())
        blocks.append(Text(t("queue", lang), bold=True))
        for state, count in sorted(info.queue.items()):
            blocks.append(Row(status_word(state, lang), str(count)))
    return Receipt("status", tuple(blocks + _tail(ctx, now)))


def test_slip(ctx: SlipContext, now: float, info: StatusInfo | None = None) -> Receipt:
    """Test print: accents, a rule, a barcode and the money format, to check the printer. The
    chart (``CharChart``) shows the code page's number and each accented character with its
    byte and a plain-ASCII description, so a box on paper says the page is wrong."""
    lang = ctx.lang
    blocks = _head(ctx, t("test", lang))
    blocks += [
        Text(t("test_chars", lang), align="center"),
        Rule("="),
        CharChart(),
        Rule("="),
        Row(t("total", lang), ctx.money(1234.5)),
        Barcode("000000000000000000000000", text="000000000000000000000000"),
    ]
    if info is not None:
        blocks += [
            Row(t("version", lang), info.version),
            Row(t("terminal", lang), info.terminal_id),
        ]
    return Receipt("test", tuple(blocks + _tail(ctx, now)))


SLIP_KINDS = (
    "ticket",
    "payout",
    "pending",
    "not_winner",
    "cancel",
    "expired",
    "rejected",
    "results",
    "report",
    "status",
    "test",
)
