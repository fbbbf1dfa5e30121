"""`kioskd run`: every piece of the kiosk wired together under one asyncio TaskGroup.

Rules:
- This module only wires and supervises. What a key means lives in the counter session, how an
  operation is sent exactly once in the outbox, how a slip is laid out in `kioskd.counter.slips`.
- The counter session is fed from one place (`feed`), on the event loop, so it never sees two
  events at once. Its actions are carried out here: commands by the executor (as tasks), feedback
  by the lights, slips by the spooler.
- A failing device task (scanner, keypad, printer status) is restarted with backoff and never
  takes the rest down. A fatal error (no usable config, no API password) exits non-zero with
  one clear message.
- systemd: READY=1 once the journal is open and the devices have been tried; STATUS= lines a
  person can read; WATCHDOG=1 from the event loop itself (a stalled loop is killed); RELOADING=1
  on SIGHUP (a broken file keeps the last good config); STOPPING=1 and a bounded drain on SIGTERM.
- Never a PIN, password or token in a log line: the API password is registered with the log
  redactor; a PIN never enters a record (history and digests are masked, an operation's repr
  holds none, a scan is logged by its reason, never its text), and `pin=...` forms are masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import functools
import gc
import logging
import os
import pickle
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kioskd import __version__
from kioskd import servertime as st
from kioskd.banklot.days import DEFAULT_TIME_ZONE
from kioskd.clock import Clock, ServerTimeClock, SystemClock, sleeps_in_real_time
from kioskd.config import EXIT_CONFIG, Config, ConfigHolder
from kioskd.counter import session as s  # the counter's events and actions, per key
from kioskd.daemon import logs as klog
from kioskd.daemon import malloc

if TYPE_CHECKING:
    # Imported lazily at run time (start-up cost, and escpos must see its cache first).
    import httpx

    from kioskd.banklot.client import BanklotClient
    from kioskd.counter.catalog import Catalog
    from kioskd.counter.session import CounterSession, Event
    from kioskd.counter.slips import SlipContext, StatusInfo
    from kioskd.daemon.executor import Context, Executor
    from kioskd.daemon.metrics import Metrics
    from kioskd.daemon.notify import Notifier
    from kioskd.daemon.spooler import Spooler
    from kioskd.input.devices import NodeOpener
    from kioskd.input.reader import DeviceState, InputSource
    from kioskd.journal.store import Journal
    from kioskd.lights import Lights
    from kioskd.outbox.outbox import Outbox, Outcome
    from kioskd.outbox.policy import Policy
    from kioskd.printer.status import PrinterStatus
from kioskd.journal import states

log = logging.getLogger("kioskd.daemon")

DRAIN_S = 10.0  # SIGTERM: how long in-flight work may take to finish (unit: TimeoutStopSec=30)
STATUS_EVERY_S = 5.0
HEAL_FIRST_S = 0.5  # journal fault: first retry, doubling up to HEAL_MAX_S
HEAL_MAX_S = 4.0  # a cleared fault is noticed within this (the bound: 10 s)
JOURNAL_RETRY_S = 3.0  # a journal in attention at start: how often its files are looked at
# Pause between two retention transactions: the event loop's writes (sales) take the lock.
RETENTION_PAUSE_S = 0.02
# The journal asks whether another connection committed at most this often (issue 19: a
# dozen looks a sale; see `Journal.recheck_s`). Only tools that need the daemon stopped write
# its unfinished operations; retention's deletes are said to the journal at once.
JOURNAL_RECHECK_S = 1.0
# A big journal's whole quick_check starts this long after READY=1 (store.QUICK_CHECK_PAGES).
DEFERRED_CHECK_AFTER_S = 30.0
TICK_S = 0.5  # session Tick: idle reset resolution
# The server-time estimate is kept in the journal (catalog table) under this key: written when
# it first becomes known in a run, then at most every SERVER_TIME_SAVE_S (a floor at most this
# old after a reboot costs nothing: the first answer replaces it; SD cards wear) and at stop.
SERVER_TIME_KEY = "server_time"


def _catalog_parts(catalog: Any, inventory: bool = True) -> list[tuple[str, tuple[str, str]]]:
    """The catalog cache's rows (key, `catalog_text` of its data), inventory first; without
    `inventory`, the small row only (the inventory row holds these tables already)."""
    from kioskd.journal.store import catalog_text

    data = catalog.to_json(inventory=inventory)
    tables = {k: data.pop(k) for k in INVENTORY_FIELDS if k in data}
    rest = [("catalog", catalog_text(data))]
    return [(CATALOG_INVENTORY_KEY, catalog_text(tables)), *rest] if inventory else rest


# Hourly, not every 10 minutes: on an idle kiosk each save is one of the journal's few writes
# (a commit, its fdatasync and a page or two of WAL; issue 19's budget is 2 MB a day to the SD
# card). After the run's first, a record is not committed on its own: it is kept in memory and
# rides with the next write to the catalog table (a draw's new catalog, hourly with the
# simulator's draws: one commit an hour, not two), or is committed with the next record once
# it has waited SERVER_TIME_KEEP_S (with no catalog change, one commit every two hours). A
# record up to two hours old restores the same boot's offset with two hours more of drift
# allowance (about 0.7 s at 100 ppm) or, after a reboot, a floor two hours lower; the first
# answer after the start replaces either.
SERVER_TIME_SAVE_S = 3600.0
SERVER_TIME_KEEP_S = SERVER_TIME_SAVE_S / 2  # half: the hourly calls' jitter never skips one
# An unchanged catalog fetched again is not rewritten; its new fetch time is kept in memory and
# written with the next write to the table (the server-time record, at most two hours apart),
# at stop, or on its own after this long (a fallback, longer than the records' spacing so the
# two never fall out of step into two commits). Idle, one small commit an hour instead of five
# (issue 19: 2 MB a day). The cost: after a crash or power cut, a restart while offline finds
# the cache up to about two hours older than it is and may call it stale sooner (slips and
# status say "stale"; a stale catalog still sells). A changed catalog is written at once: a
# restart offline sells the draws it names.
CATALOG_TIME_SAVE_S = 3 * SERVER_TIME_SAVE_S
# The catalog cache is two rows: the inventory (13,000 wager codes, 600 KB, rarely changes)
# under this key, the rest (products and their open events, 2 KB, changes at every draw)
# under "catalog". Each is written only when its own content changed, so a draw rewrites
# 2 KB, not the 600 KB the whole cache was (issue 19: idle writes, 9.5 MB a day with hourly
# draws). The inventory is written first: a crash between the two leaves a new inventory
# with the previous products, which the API's own checks cover; a cache of one row (older
# kioskd) still loads.
CATALOG_INVENTORY_KEY = "catalog.inventory"
# What the inventory row holds: the tables, and the digest of the answer they were made of
# (`Catalog.inventory_digest`), so the two are always written together.
INVENTORY_FIELDS = ("inventory_tables", "inventory_digest")
# The ESC/POS renderer (python-escpos, Pillow, qrcode...: 7 MB) is loaded when the counter
# first gets a key or a scan, in a worker: it needs it for the slip that typing leads to, and
# loads meanwhile (a sale's keys and its API round trip take longer than the import: ~0.1 s
# of CPU here, ~1.3 s on a Pi 3B); a kiosk nobody used holds none of it (issue 19: RSS after
# start; a slip with no key before it, a reprint at start, loads it itself). Not during the
# first catalog refresh (issue 19, RSS), or only after this long if that refresh has not ended
# by then (an API that hangs until its deadline).
WARM_WAIT_S = 5.0
# Outcomes and API exchanges seen before the metrics exist (they are built after READY=1),
# counted once they do: a start sees a handful; the bound only guards a metrics build that
# never finishes.
EARLY_OBSERVATIONS_MAX = 1000


class FatalError(Exception):
    """The daemon cannot run at all; the message says what to fix."""


@dataclass
class Health:
    """What the lights, STATUS= and `kioskctl status` are derived from."""

    outbox: str = "online"  # online, offline, in_doubt, attention
    printer: str = "unknown"
    printer_needs_person: bool = False
    api: str = "unknown"
    journal: str = "ok"
    journal_fault_since: float | None = None
    alarm: str = ""  # the last alarm raised (a lost sale, a foreign ticket)
    working: bool = False
    devices: dict[str, str] = field(default_factory=dict)
    catalog_age_s: float | None = None
    catalog_stale: bool = False
    last_slip: str = ""
    printer_status: PrinterStatus | None = None  # the last one (metrics: paper, cover, online)


def light_state(h: Health) -> str:
    """The steady light for a health snapshot (DESIGN.md section 4)."""
    if h.journal != "ok" or h.printer_needs_person or h.api == "login refused":
        return "attention"
    if h.api.startswith("TLS "):  # a certificate problem needs a person, not patience
        return "attention"
    if h.outbox == "attention":
        return "attention"
    if h.outbox == "in_doubt":
        return "reconciling"
    if h.outbox == "offline" or h.api == "offline":
        return "offline"
    if h.working:
        return "working"
    return "ready"


# Objects kept out of the cyclic collector (`Daemon.freeze_gc`), counted at the first look
# after each freeze: `gc.get_freeze_count()` walks every frozen object (46,000 here), which
# cost 5.6 ms of the event loop per `kioskctl status` (issue 19). None: count at next look.
_frozen_count: int | None = 0


def _freeze() -> None:
    """`gc.freeze()`: what exists now lives as long as the process (see READY=1 in `run`)."""
    global _frozen_count
    gc.freeze()
    _frozen_count = None


def _loop_lag() -> dict[str, Any]:
    """The loop-lag probe's figures since READY=1 (`kioskd.daemon.looplag`)."""
    from kioskd.daemon.looplag import PROBE

    global _frozen_count
    if _frozen_count is None:
        _frozen_count = gc.get_freeze_count()
    return {**PROBE.as_status(), "gc_frozen_objects": _frozen_count}


def status_line(h: Health, counts: dict[str, int]) -> str:
    queued = sum(counts.get(k, 0) for k in states.AWAITING_OUTBOX)
    parts = [light_state(h), f"{queued} queued", f"printer {h.printer}", f"API {h.api}"]
    if counts.get("conflict"):
        parts.append(f"{counts['conflict']} conflict")
    if h.journal != "ok":
        parts.append(f"journal {h.journal}")
    return " · ".join(parts)


def _local_ip() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            return str(sock.getsockname()[0])
    except OSError:
        return "unknown"


class Daemon:
    """One kiosk. `run()` returns the process exit code."""

    # Built by `run()`.
    journal: Journal
    client: BanklotClient
    outbox: Outbox
    session: CounterSession
    executor: Executor
    spooler: Spooler
    lights: Lights
    metrics: Metrics | None  # None while [metrics] neither writes nor serves, and until READY=1
    _metrics_early: list[tuple[str, tuple[Any, ...]]] | None  # observations before they exist
    _metrics_on: asyncio.Event  # a reload turned them on
    _ready: asyncio.Event  # READY=1 was sent

    def __init__(
        self,
        holder: ConfigHolder,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        input_dir: str = "/dev/input",
        input_opener: NodeOpener | None = None,
        notifier: Notifier | None = None,
        environ: dict[str, str] | None = None,
        freeze_gc: bool = False,
    ) -> None:
        """`freeze_gc`: the process is this daemon's own (`run_daemon`): what start-up made is
        frozen out of the cyclic collector (`gc.freeze`, see `run`), and the collector, off
        while starting (`kioskd.commands.run`), is turned on; never inside a test runner, whose
        other objects would be frozen too."""
        self.holder = holder
        self.freeze_gc = freeze_gc
        # The kiosk's own clocks (wall clock for logs and the skew figure, CLOCK_BOOTTIME for
        # durations) and, over them, the server-time estimate every part that decides money
        # gets as its clock (`kioskd/servertime.py`: the wall clock decides nothing).
        self.wall: Clock = clock or SystemClock()
        self.servertime = st.ServerTime()
        self.clock: ServerTimeClock = ServerTimeClock(self.wall, self.servertime)
        self._skew_logged: float | None = None
        self._time_saved_mono: float | None = None
        self.transport = transport
        self.input_dir = input_dir
        self.input_opener = input_opener
        self.environ = dict(os.environ if environ is None else environ)
        if notifier is None:
            from kioskd.daemon.notify import Notifier

            notifier = Notifier(self.environ)
        self.notifier = notifier
        self.health = Health()
        self.started_at = time.monotonic()
        _escpos_capabilities_cache(
            self.environ.get("CACHE_DIRECTORY") or os.path.dirname(self.cfg.journal.path)
        )
        self._stop = asyncio.Event()
        self._renderer_wanted = asyncio.Event()  # see WARM_WAIT_S
        self._tasks: set[asyncio.Task[object]] = set()
        self._pending_slips: set[int] = set()  # sales whose PENDING slip is due or printed
        # a sale's PENDING slip clock as a plain timer of the loop (`_start_pending_clock`)
        self._pending_timers: dict[int, asyncio.TimerHandle] = {}
        self._catalog: Catalog | None = None
        self._last_status = ""
        self._started_cfg = holder.current
        self.needs_restart: list[str] = []
        self.control: Any = None
        self._tg: asyncio.TaskGroup | None = None
        self._input_tasks: list[asyncio.Task[Any]] = []

    @property
    def cfg(self) -> Config:
        return self.holder.current

    # ================================================================= building

    def _terminal_id(self) -> str:
        return self.cfg.terminal.id or socket.gethostname()

    def _open_journal(self) -> Journal:
        from kioskd.journal.store import Journal

        os.makedirs(os.path.dirname(self.cfg.journal.path) or ".", exist_ok=True)
        return Journal(
            self.cfg.journal.path,
            retention_days=self.cfg.journal.retention_days,
            recheck_s=JOURNAL_RECHECK_S,
        )

    async def _journal_or_attention(self) -> bool:
        """Open the journal the identity record says is ours. A missing, empty, garbled,
        replaced, damaged or locked journal is attention: the control socket opens (so
        `kioskctl status` says what was found and what to do), money is refused, and the files
        are looked at again every few seconds (a technician's `kioskd journal ...` or a lock
        released lets the start go on). False when asked to stop meanwhile."""
        from kioskd.daemon.control import ControlServer
        from kioskd.daemon.control_handler import JournalAttentionHandler
        from kioskd.journal import identity
        from kioskd.journal.store import JournalError

        path = self.cfg.journal.path
        server: ControlServer | None = None
        said = ""
        try:
            while True:
                found = identity.inspect(path)
                problem = f"{found.problem}; {identity.WHAT_TO_DO}" if found.problem else ""
                if not problem:
                    try:
                        journal = self._open_journal()
                    except JournalError as exc:
                        hint = {
                            "locked": "another program holds the journal's lock; "
                            "the start goes on once it lets go",
                            "full": "free disk space; the start goes on by itself",
                        }.get(exc.kind, identity.WHAT_TO_DO)
                        problem = f"{exc.kind}: {exc}; {hint}"
                    else:
                        try:
                            self.identity = identity.settle(journal, path, found, self.clock.now())
                        except (ValueError, JournalError) as exc:
                            journal.close()
                            problem = f"{exc}; {identity.WHAT_TO_DO}"
                        else:
                            self.journal = journal
                            if said:
                                log.info(
                                    "journal usable again",
                                    extra={"MESSAGE_ID": klog.JOURNAL_RECOVERED},
                                )
                            self.health.journal = "ok"  # never outlives its cause
                            return True
                if problem != said:
                    said = problem
                    log.error(
                        "journal needs attention: %s",
                        problem,
                        extra={"MESSAGE_ID": klog.JOURNAL_ATTENTION},
                    )
                self.health.journal = problem
                gc.enable()  # off while starting (`kioskd.commands.run`): this may last
                self.lights.open()  # no READY=1 to wait for: attention is shown at once
                self.lights.set_state("attention")
                if server is None:
                    handler = JournalAttentionHandler(self)
                    server = ControlServer(self.cfg.control.socket, handler)
                    await server.start()
                    self.notifier.ready(status=f"attention · journal: {problem}"[:200])
                self.notifier.status(f"attention · journal: {problem}"[:200])
                try:
                    await asyncio.wait_for(self._stop.wait(), JOURNAL_RETRY_S)
                    return False
                except TimeoutError:
                    continue
        finally:
            if server is not None:
                await server.close()

    async def _first_look_at_last(self) -> None:
        """A new journal's first look at the account's newest ticket: one this journal does not
        know may be a sale lost with the journal before it. Raised as an alarm with what to do,
        once; then the identity is confirmed."""
        from kioskd.banklot import errors
        from kioskd.journal import identity

        ident = self.identity
        while True:
            try:
                last = await self.client.last()
            except errors.TicketNotFound:
                last = None
            except errors.BanklotError:
                await self.clock.sleep(30.0)
                continue
            break
        now = self.clock.now()
        if last is not None and not self.journal.owns_ticket("create", last.ticket_number):
            number = last.ticket_number
            text = (
                f"ticket {number} in /user/ticket/last is not in this journal, which is new "
                f"({ident.how} {identity._when(ident.created_at)}): it may be a sale lost with "
                "the journal before it. Check the ticket with Grupo Banklot's back office and "
                "the previous journal kept beside this one; settle it with the customer if it "
                "was sold here"
            )
            self.journal.alarm(now, {"alarm": text, "ticket_number": number, "journal": ident.id})
            self.health.alarm = text
            log.error(
                "alarm: %s",
                text,
                extra={"MESSAGE_ID": klog.FOREIGN_TICKET, "TICKET_NUMBER": number},
            )
        self.identity = identity.confirm(self.journal, self.cfg.journal.path, ident, now)

    def _policy(self) -> Policy:
        from kioskd.config import outbox_policy

        tz = self._catalog.time_zone if self._catalog is not None else DEFAULT_TIME_ZONE
        return outbox_policy(self.cfg, time_zone=tz)

    def _client(self, password: str) -> BanklotClient:
        from kioskd.banklot.client import BanklotClient

        a = self.cfg.api
        return BanklotClient(
            a.base_url,
            a.email,
            password,
            transport=self.transport,
            connect_timeout=a.connect_timeout_s,
            read_timeout=a.read_timeout_s,
            verify=a.verify_tls,
            ca_bundle=a.ca_bundle,
            on_exchange=self._on_exchange,
            on_answer=self._on_answer,
            monotonic=self.wall.monotonic,
        )

    # ================================================================= the server's clock

    def _on_answer(self, status: int, date: str | None, started: float, ended: float) -> None:
        """Every HTTP answer teaches the server-time estimate (its `Date` header). A gateway's
        502/503/504 is not the API's answer: its clock is not the server's."""
        if status in (502, 503, 504):
            return
        server = st.parse_http_date(date)
        if server is None:
            return
        self._learn(server, started, ended, st.DATE_RESOLUTION_S)

    def _learn(self, server: float, started: float, ended: float, resolution: float) -> None:
        was = self.servertime.known
        if not self.servertime.learn(server, started, ended, resolution):
            log.warning(
                "the server's clock stepped (an answer's time contradicts what was known); "
                "following it", extra={"MESSAGE_ID": klog.SERVER_CLOCK},
            )  # fmt: skip
        self._clock_news(first=not was)
        mono = self.wall.monotonic()
        if not was or self._time_saved_mono is None or mono - self._time_saved_mono >= (
            SERVER_TIME_SAVE_S
        ):
            self._time_saved_mono = mono
            asyncio.get_running_loop().call_soon(self._save_server_time, was)

    def _clock_news(self, *, first: bool = False) -> None:
        """Log the skew once with its figure, and again when it changes a lot."""
        est = self.clock.estimate()
        skew = st.skew(est, self.wall.now())
        if skew is None:
            return
        if not first and self._skew_logged is not None and (
            abs(skew - self._skew_logged) < st.LOG_SKEW_CHANGE_S
        ):
            return
        self._skew_logged = skew
        level = logging.WARNING if abs(skew) > st.WARN_SKEW_S else logging.INFO
        log.log(
            level,
            "server time known: the kiosk's clock is %+.1f s off the server's (+- %.1f s)%s",
            -skew, est.uncertainty,
            "; money does not depend on it" if abs(skew) > st.WARN_SKEW_S else "",
            extra={"MESSAGE_ID": klog.SERVER_CLOCK, "CLOCK_SKEW_S": round(skew, 1)},
        )  # fmt: skip

    def _save_server_time(self, keep: bool = False) -> None:
        """Carry the estimate across a restart (same boot: the offset; a reboot: a floor).
        `keep`: the record may wait for the next write to the table (SERVER_TIME_SAVE_S)."""
        journal = getattr(self, "journal", None)
        if journal is None or journal.attention is not None:
            return
        mono = self.wall.monotonic()
        record = self.servertime.to_record(self.clock.boot_id(), mono)
        if record is None:
            return
        try:
            journal.save_catalog(
                SERVER_TIME_KEY, record, fetched_at=self.clock.now(), defer=keep,
                keep_for_s=SERVER_TIME_KEEP_S if keep else 0.0,
            )  # fmt: skip
        except Exception as exc:
            log.warning("server time not saved in the journal: %s", exc)

    def _restore_server_time(self) -> None:
        cached = self.journal.load_catalog(SERVER_TIME_KEY)
        if cached is None or not isinstance(cached[0], dict):
            return
        state = self.servertime.restore(cached[0], self.clock.boot_id(), self.wall.monotonic())
        log.info("server time at start: %s (saved in the journal)", state)

    async def _server_time_at_start(self) -> None:
        """Read `/gaming/time` once at start (its answer's Date teaches the estimate too);
        again every 30 s only while the server's time is still not known."""
        from kioskd.banklot import errors

        while not self.servertime.known:
            started = self.wall.monotonic()
            try:
                answer = await self.client.time()
            except errors.BanklotError:
                await self.clock.sleep(30.0)
                continue
            self._learn(answer.unix, started, self.wall.monotonic(), st.DATE_RESOLUTION_S)
        await self._stop.wait()  # known: every later answer's Date keeps it so

    def clock_status(self) -> dict[str, Any]:
        """The server-time fields of `kioskctl status --json` (and the metrics)."""
        est = self.clock.estimate()
        skew = st.skew(est, self.wall.now())
        return {
            "server_time": est.state,
            "server_time_unknown": not est.known,
            "clock_skew_s": None if skew is None else round(skew, 1),
            "clock_skew_warn_s": st.WARN_SKEW_S,
            "server_time_uncertainty_s": round(est.uncertainty, 2) if est.known else None,
            "server_clock_steps": self.servertime.steps,
        }

    def _on_exchange(self, endpoint: str, seconds: float, outcome: str) -> None:
        metrics = getattr(self, "metrics", None)
        if metrics is not None:
            metrics.observe_exchange(endpoint, seconds, outcome)
        else:
            self._early_observation("observe_exchange", endpoint, seconds, outcome)

    def _early_observation(self, method: str, *args: Any) -> None:
        """Metrics are built after READY=1 (`_metrics_loop`): what happens before they exist
        is kept (bounded) and counted once they do, so their counters still start at the
        process's start."""
        early = getattr(self, "_metrics_early", None)
        if early is not None and len(early) < EARLY_OBSERVATIONS_MAX:
            early.append((method, args))

    def _session(self) -> CounterSession:
        from kioskd.config import session_keymap, session_settings
        from kioskd.counter.session import CounterSession

        settings = session_settings(self.cfg, self._terminal_id())
        return CounterSession(session_keymap(self.cfg), settings, self._catalog)

    def _lights(self, *, defer: bool = False) -> Lights:
        """The LEDs and buzzer; `defer`: their pins opened later (`Lights.open`)."""
        from kioskd.lights import Lights, Pins

        led = self.cfg.leds
        defaults = Pins()
        pins = Pins(
            green=led.green if led.green is not None else defaults.green,
            amber=led.amber if led.amber is not None else defaults.amber,
            red=led.red if led.red is not None else defaults.red,
            buzzer=led.buzzer if led.buzzer is not None else defaults.buzzer,
        )
        backend = "mock" if led.backend == "mock" else led.pin_factory
        if backend == "rpigpio":
            backend = "auto"
        return Lights(pins, backend=backend, defer=defer)

    def _input_sources(self) -> list[InputSource]:
        from kioskd.config import input_sources
        from kioskd.input.reader import InputSource

        return [
            InputSource(
                sc,
                base_dir=self.input_dir,
                opener=self.input_opener,  # None: real evdev nodes
                on_state=self._device_state,
            )
            for sc in input_sources(self.cfg)
        ]

    def _metrics_wanted(self) -> bool:
        return bool(self.cfg.metrics.textfile_dir or self.cfg.metrics.listen)

    def _metrics(self) -> Metrics | None:
        """The metrics, or None when [metrics] neither writes nor serves: prometheus_client
        (and its HTTP server's modules) is then never imported (issue 19, sized for a Pi 3)."""
        if not self._metrics_wanted():
            return None
        from kioskd.daemon.metrics import Metrics

        return Metrics(
            lambda: self.cfg.metrics,
            terminal_id=self._terminal_id(),
            version=__version__,
            now=self.clock.now,
        )

    async def _metrics_loop(self) -> None:
        """The metrics task. prometheus_client is imported and the metrics built after
        READY=1, in a worker (start-up does not need them: issue 19); what they count that
        happened before is replayed. While they are off, it waits for a reload that turns
        them on (their counters then count from that moment)."""
        await self._ready.wait()
        # After the first catalog refresh, as the renderer: the metrics' objects (2 MB) made
        # among the refresh's temporaries kept their pages resident (bench/bench_rss.py).
        await self._first_refresh_ended()
        while self.metrics is None:
            if self._metrics_wanted():
                metrics = await asyncio.to_thread(self._metrics)
                if metrics is not None:
                    for method, args in self._metrics_early or ():
                        getattr(metrics, method)(*args)
                    self._metrics_early = None
                    self.metrics = metrics
                    break
            self._metrics_early = None  # off: counting starts when a reload turns them on
            self._metrics_on.clear()
            await self._metrics_on.wait()
        from kioskd.daemon.metrics import snapshot_of

        metrics = self.metrics
        metrics.beats = True  # `_ticker` beats it
        await metrics.run(lambda: snapshot_of(self))

    # ================================================================= the session

    def feed(self, event: Event) -> None:
        """The one entry of events into the counter session; carries out its actions."""
        if not self._renderer_wanted.is_set() and isinstance(event, s.Key | s.Scan):
            self._renderer_wanted.set()  # the counter is in use: a slip is coming
        try:
            actions = self.session.handle(event)
        except s.SessionError:
            log.exception("counter session refused an event")
            return
        for action in actions:
            if isinstance(action, s.Command):
                self._spawn(self.executor.execute(action), f"command-{action.command_id}")
            elif isinstance(action, s.Feedback):
                self._feedback(action.name)
            elif isinstance(action, s.PrintSlip):
                self.spooler.submit(action.receipt)
            elif isinstance(action, s.Ignored):
                log.info("%s", action.reason, extra={"DEVICE_ROLE": "scanner"})

    def _feedback(self, name: str) -> None:
        if name == "working":
            self.health.working = True
        elif name == "idle":
            self.health.working = False
        elif name in ("beep", "double_beep", "reject"):
            self.lights.signal(name)
        self._refresh_lights()

    def _refresh_lights(self) -> None:
        self.lights.set_state(light_state(self.health))
        metrics = getattr(self, "metrics", None)
        if metrics is not None:
            metrics.changed()  # every state change of the kiosk passes here

    def _spawn(self, coro: Awaitable[object], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def inject_keys(self, text: str) -> None:
        """Type `text` on the keypad (control socket; `\\n` Enter, `\\b` Backspace, `\\x1b` Esc)."""
        for ch in text:
            self.feed(s.Key(ch, self.clock.now()))

    def inject_scan(self, text: str) -> None:
        self.feed(s.Scan(text, self.clock.now()))

    async def _read_input(self, source: InputSource) -> None:
        from kioskd.input.decoder import ScanToken

        async with source:
            async for token in source.tokens():
                now = self.clock.now()
                if isinstance(token, ScanToken):  # the scanner role's tokens
                    if token.error:
                        log.warning(
                            "scan refused (%s, %d chars)",
                            token.error,
                            len(token.text),
                            extra={"DEVICE_ROLE": "scanner"},
                        )
                        self.lights.signal("reject")
                        continue
                    self.feed(s.Scan(token.text, now))
                else:
                    if self.session.keymap.action(token.key) is None:
                        # The key's name, never a digit (digits may be a PIN).
                        name = "a digit" if token.key.isdigit() else repr(token.key)
                        log.warning(
                            "keypad key %s is not in the keymap: ignored (bind it in [keymap])",
                            name,
                            extra={"DEVICE_ROLE": "keypad"},
                        )
                        self.lights.signal("reject")
                        continue
                    self.feed(s.Key(token.key, now))

    def _reader_for(self, source: InputSource) -> Callable[[], Awaitable[None]]:
        return lambda: self._read_input(source)

    def _device_state(self, state: DeviceState) -> None:
        self.health.devices[state.label] = state.state
        metrics = getattr(self, "metrics", None)
        if metrics is not None:
            metrics.changed()
        msg_id = klog.DEVICE_CONNECTED if state.state in ("open", "grabbed") else klog.DEVICE_LOST
        log.info(
            "%s device %s: %s %s",
            state.label,
            state.path,
            state.state,
            state.detail,
            extra={"DEVICE_ROLE": state.label, "MESSAGE_ID": msg_id},
        )

    # ================================================================= outcomes and status

    def _on_outcome(self, outcome: Outcome) -> None:
        if outcome.kind == "sending":
            # On the sale's critical path (before its request): only start the PENDING
            # slip's clock; nothing to log, match, print or count yet.
            if outcome.op_kind == "create" and outcome.op_id:
                self._start_pending_clock(outcome.op_id)
            return
        if outcome.kind in ("done", "rejected", "expired") and outcome.op_id:
            timer = self._pending_timers.pop(outcome.op_id, None)
            if timer is not None:
                timer.cancel()  # decided in time: no PENDING slip, nothing left to check
        fields = {"OP_ID": outcome.op_id, "OP_KIND": outcome.op_kind}
        if outcome.ticket_number:
            fields["TICKET_NUMBER"] = outcome.ticket_number
        kind = outcome.kind
        if kind == "done":
            fields["MESSAGE_ID"] = {
                "create": klog.SALE_DONE,
                "pay": klog.PAYMENT_DONE,
                "cancel": klog.CANCEL_DONE,
            }.get(outcome.op_kind or "", klog.SALE_DONE)
            log.info("%s done (%s)", outcome.op_kind, outcome.message, extra=fields)
        elif kind == "in_doubt":
            fields["MESSAGE_ID"] = klog.OP_IN_DOUBT
            log.warning("%s in doubt: %s", outcome.op_kind, outcome.message, extra=fields)
        elif kind == "conflict":
            fields["MESSAGE_ID"] = klog.CONFLICT
            log.error("%s needs a person: %s", outcome.op_kind, outcome.message, extra=fields)
        elif kind == "alarm":
            fields["MESSAGE_ID"] = klog.FOREIGN_TICKET
            self.health.alarm = outcome.message
            log.error("alarm: %s", outcome.message, extra=fields)
        else:
            log.info("%s %s: %s", outcome.op_kind, kind, outcome.message, extra=fields)
        if kind == "rejected" and type(outcome.error).__name__ == "EventsClosed":
            # Our catalog thought the draw was open: refresh it now, not at the next period.
            self._spawn(self.refresh_catalog(), "catalog-refresh")
        if (
            kind in ("in_doubt", "queued", "conflict")
            and outcome.op_kind == "create"
            and outcome.op_id
        ):
            self._start_pending_clock(outcome.op_id)
        self.executor.on_outcome(outcome)
        self.spooler.wake()
        if self.metrics is not None:
            self.metrics.observe_outcome(outcome)
        else:
            self._early_observation("observe_outcome", outcome)

    def _start_pending_clock(self, op_id: int) -> None:
        """A sale was sent, or went in doubt, queued or to a person: its PENDING slip is due
        `PENDING_AFTER_S` after the first of these unless it is decided first (once a sale).
        On a real clock a timer of the loop, cancelled when the sale is decided (no task a
        sale: issue 19, CPU a sale); on a virtual one the task that sleeps on it."""
        from kioskd.counter.slips import PENDING_AFTER_S

        if not sleeps_in_real_time(self.clock):
            self._spawn(self._pending_sale_slip(op_id), "pending-slip")
            return
        if op_id in self._pending_slips:
            return
        self._pending_slips.add(op_id)
        loop = asyncio.get_running_loop()
        self._pending_timers[op_id] = loop.call_later(PENDING_AFTER_S, self._pending_due, op_id)

    async def _pending_sale_slip(self, op_id: int) -> None:
        """A sale still not confirmed a couple of seconds after it was sent, went in doubt,
        was queued or went to a person prints a PENDING slip with its reference, once: the
        customer keeps it until the ticket (marked as delivered late) or a NOT SOLD slip
        prints. Selling goes on meanwhile."""
        from kioskd.counter.slips import PENDING_AFTER_S

        if op_id in self._pending_slips:
            return
        self._pending_slips.add(op_id)
        await self.clock.sleep(PENDING_AFTER_S)
        self._pending_due(op_id)

    def _pending_due(self, op_id: int) -> None:
        """The PENDING slip's time came: print it unless the sale was decided meanwhile."""
        from kioskd.counter.slips import pending_sale_slip
        from kioskd.journal.store import JournalError

        self._pending_timers.pop(op_id, None)
        try:
            op = self.journal.get(op_id)
        except (KeyError, JournalError):
            return
        if op.state in states.TERMINAL:
            return  # decided in time: the ticket (or the NOT SOLD slip) says it all
        self.spooler.submit(pending_sale_slip(self._slip_context(), op.id, op.amount,
                                              self.clock.now()))  # fmt: skip
        log.info("sale %s pending: PENDING slip printed", op_id, extra={"OP_ID": op_id})

    def _on_signal(self, signal_name: str) -> None:
        self.health.outbox = signal_name
        if signal_name == "online":
            self.health.api = "ok"
        elif signal_name == "offline":
            self.health.api = "offline"
        elif signal_name == "login_refused":
            # Bad credentials are a person's job, not a network fault: say so everywhere.
            self.health.api = "login refused"
            log.error(
                "API login refused (check api.email and the password): %s; sales and payouts "
                "wait in the queue",
                self.outbox.login_refused,
            )
        self._refresh_lights()

    def _on_printer(self, status: PrinterStatus) -> None:
        self.health.printer = status.summary()
        self.health.printer_status = status
        self.health.printer_needs_person = bool(status.needs_person)
        if status.paper == "out":
            log.error(
                "printer out of paper",
                extra={"MESSAGE_ID": klog.PRINTER_PAPER_OUT, "PRINTER_STATE": status.summary()},
            )
        elif status.online is False or not status.connected:
            log.error(
                "printer offline: %s",
                status.summary(),
                extra={"MESSAGE_ID": klog.PRINTER_OFFLINE, "PRINTER_STATE": status.summary()},
            )
        self._refresh_lights()

    def status(self) -> dict[str, Any]:
        """`kioskctl status --json`."""
        ob = self.outbox
        counts = ob.counts()
        return {
            "version": __version__,
            "terminal_id": self._terminal_id(),
            "state": light_state(self.health),
            "lights": self.lights.current(),
            "api": self.health.api,
            "outbox": self.health.outbox,
            "printer": self.health.printer,
            "journal": self.health.journal,
            "journal_fault_since": self.health.journal_fault_since,
            "needs_restart": list(self.needs_restart),
            "warnings": list(getattr(self, "warnings", [])),
            "journal_id": self.identity.id[:8] if getattr(self, "identity", None) else None,
            "alarm": self.health.alarm or None,
            "devices": dict(self.health.devices),
            "queue": counts,
            "in_doubt": sum(counts.get(k, 0) for k in states.DOUBTFUL),
            "oldest_in_doubt_s": ob.oldest_in_doubt_age(),
            "next_deadline_at": ob.next_deadline(),
            "catalog_age_s": self._catalog.age(self.clock.now()) if self._catalog else None,
            "catalog_stale": self.health.catalog_stale,
            "slips_printed": self.spooler.printed,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            **self.clock_status(),
            **_loop_lag(),
        }

    def status_info(self) -> StatusInfo:
        from kioskd.counter.slips import StatusInfo

        return StatusInfo(
            version=__version__,
            terminal_id=self._terminal_id(),
            ip=_local_ip(),
            queue=self.outbox.counts(),
            printer=self.health.printer,
            api=self.health.api,
            catalog_age_s=self._catalog.age(self.clock.now()) if self._catalog else None,
            catalog_stale=self.health.catalog_stale,
        )

    def _publish_status(self) -> None:
        line = status_line(self.health, self.outbox.counts())
        if line != self._last_status:
            self._last_status = line
            self.notifier.status(line)

    # ================================================================= catalog

    def _load_cached_catalog(self) -> None:
        from kioskd.counter.catalog import Catalog

        cached = self.journal.load_catalog("catalog")
        if cached is None:
            return
        data, fetched_at = cached
        if isinstance(data, dict) and fetched_at > float(data.get("fetched_at") or 0.0):
            data = {**data, "fetched_at": fetched_at}  # fetched again since, unchanged
        kept_apart = ("inventory", "inventory_tables")  # rows (format 1), tables (format 2)
        if isinstance(data, dict) and not any(k in data for k in kept_apart):  # since issue 19
            inventory = self.journal.load_catalog(CATALOG_INVENTORY_KEY)
            if inventory is not None and isinstance(inventory[0], dict):
                fields = (*kept_apart, *INVENTORY_FIELDS)
                data = {**data, **{k: v for k, v in inventory[0].items() if k in fields}}
        try:
            self._catalog = Catalog.from_json(data)
        except Exception:
            log.exception("cached catalog unreadable; waiting for a fresh one")

    async def refresh_catalog(self) -> bool:
        """Fetch the catalog now; errors are logged, never fatal. Returns whether it worked."""
        try:
            return await self._fetch_catalog()
        finally:
            # The renderer's warm-up waits for the first attempt (`_warm_renderer`).
            vars(self).setdefault("_catalog_tried", asyncio.Event()).set()

    async def _fetch_catalog(self) -> bool:
        from kioskd.banklot import errors
        from kioskd.counter.catalog import Catalog, inventory_tables

        now = self.clock.now()
        held = self._catalog
        known = held.inventory_digest if held is not None else None
        try:
            entity = await self.client.get_data()
            products = await self.client.products()
            # An inventory answer byte for byte the one the held tables were made of is not
            # decoded again (~0.14 s of CPU a refresh here: `inventory_template_since`).
            digest, rows = await self.client.inventory_template_since(known)
            tables: Mapping[int, Mapping[str, str]]
            if rows is not None:
                # The 13,000 wager codes become the catalog's compact tables in a worker (on
                # the loop this held it for a second on a shared core: issue 19, loop-lag
                # probe), and the decoded rows are gone before the catalog's lasting objects
                # are made: made among them, those kept the allocator's pages of the answer
                # resident (RSS).
                tables = await asyncio.to_thread(inventory_tables, rows)
            else:
                assert held is not None  # `known` is its digest
                tables = held.inventory
            del rows
            catalog = await asyncio.to_thread(
                functools.partial(Catalog.build, inventory_digest=digest),
                entity, products, tables, now,
            )  # fmt: skip
            del entity, products, tables
        except errors.AuthFailed as exc:
            log.error("catalog refresh: login refused: %s", exc)
            return self._catalog_failed("login", now, api="login refused")
        except errors.NotSent as exc:
            tls = str(exc).split("TLS ", 1)[1] if "TLS " in str(exc) else ""
            log.warning("catalog refresh: API unreachable: %s", exc)
            return self._catalog_failed("offline", now, api=f"TLS {tls}" if tls else "offline")
        except errors.BanklotError as exc:
            log.warning("catalog refresh failed: %s", exc)
            return self._catalog_failed("error", now)
        self._catalog = catalog
        self.health.api = "ok"
        try:
            # Written when its content changed, with the server-time record kept for it
            # (SERVER_TIME_SAVE_S). An unchanged catalog's new fetch time rides with the next
            # write to the table (CATALOG_TIME_SAVE_S: one commit an hour, idle).
            # The whole text is made in a worker (`to_json` too: 13,000 rows, ~10 ms); the
            # inventory's only when it is new (its row holds the same tables otherwise).
            new_inventory = known is None or catalog.inventory_digest != known
            parts = await asyncio.to_thread(_catalog_parts, catalog, new_inventory)
            for key, text in parts:  # the inventory first: see CATALOG_INVENTORY_KEY
                self.journal.save_catalog(
                    key, None, fetched_at=now, keep_for_s=CATALOG_TIME_SAVE_S, text=text
                )
            del parts
        except Exception as exc:
            log.warning("catalog not cached in the journal: %s", exc)
        self.feed(s.CatalogUpdated(catalog, now))
        self.outbox.policy = self._policy()
        # A worker's result stays referenced by the loop's handle that resumed this coroutine
        # until the coroutine yields: the cache text (600 KB) would outlive the trim.
        await asyncio.sleep(0)
        await asyncio.to_thread(malloc.give_back)
        return True

    def _catalog_failed(self, why: str, now: float, api: str | None = None) -> bool:
        """A refresh failed (`api`: what it says about the API, for health and lights). With no
        catalog at all yet, what waits for the first one is handled (and refused) now."""
        if api is not None:
            self.health.api = api
            self._refresh_lights()
        if self._catalog is None:
            self.feed(s.CatalogFailed(why, now))
        return False

    async def _catalog_loop(self) -> None:
        while True:
            ok = await self.refresh_catalog()
            refresh_s = self.cfg.catalog.refresh_s  # read at use: a reload applies it
            wait = refresh_s if ok else min(30.0, refresh_s)
            if ok and self._catalog is not None:
                # Sooner when a draw closes: its next one sells once a refresh finds it.
                wait = self._catalog.refresh_in(self.clock.now(), wait)
            await self.clock.sleep(wait)

    # ================================================================= periodic tasks

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.feed(s.Tick(self.clock.now()))
            if self.metrics is not None:
                self.metrics.beat()  # a reading due after a change rides this wake-up

    async def _watchdog(self, interval_s: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval_s / 2.0)

    async def _status_loop(self) -> None:
        while True:
            now = self.clock.now()
            if self._catalog is not None:
                self.health.catalog_age_s = self._catalog.age(now)
                self.health.catalog_stale = self._catalog.is_stale(
                    now, self.cfg.catalog.stale_after_s
                )
            self._publish_status()
            await asyncio.sleep(STATUS_EVERY_S)

    async def _first_refresh_ended(self) -> None:
        """Until the first catalog refresh has ended (at most WARM_WAIT_S): what lives for
        the whole run is better made after the refresh's temporaries are gone (see below)."""
        tried = vars(self).setdefault("_catalog_tried", asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WARM_WAIT_S):
                await tried.wait()

    async def _warm_renderer(self) -> None:
        """Once the counter gets its first key or scan (WARM_WAIT_S), load the ESC/POS
        renderer in a worker (never on the loop), so the slip that follows costs what every
        other slip costs. A failure here is only logged: the first slip then loads it."""
        from kioskd.printer.printer import warm_renderer

        # Not during the first catalog refresh: the renderer's modules (4 MB of objects that
        # live for the whole run) allocated among the decoded answers' temporaries kept the
        # allocator's pages of those resident (1.3 MB of RSS, bench/bench_rss.py). A slip
        # before then loads the renderer itself, as it would during the import; a refresh
        # that hangs delays this by WARM_WAIT_S at most.
        await self._renderer_wanted.wait()
        await self._first_refresh_ended()
        try:
            await asyncio.to_thread(warm_renderer)
        except Exception as exc:  # an import error shows again at the first slip
            log.warning("could not load the ESC/POS renderer ahead of the first slip: %s", exc)
        if self.freeze_gc:
            _freeze()  # its modules live as long as the process too (see READY=1 in `run`)

    async def _retention_loop(self) -> None:
        """Retention as background work, started after READY=1: short transactions
        (`store.PURGE_BATCH` operations) on a connection of its own in a worker thread, a pause
        between them so sales go first, then free pages given back a few at a time; again
        every `housekeeping_interval_s`. A year past retention goes in minutes, no stall."""
        from kioskd.journal.store import JournalError, Retention

        retention = Retention(self.journal.path, self.journal.retention_days)
        try:
            if self.journal.quick_check == "deferred":
                # Once start-up has settled (the first catalog, the first sales): reading a
                # year of pages competes with them for the CPU and the card.
                await asyncio.sleep(DEFERRED_CHECK_AFTER_S)
                started = time.monotonic()
                check = await asyncio.to_thread(retention.quick_check)
                log.info("journal: whole quick_check %s in %.1f s", check,
                         time.monotonic() - started)  # fmt: skip
                self.journal.quick_check = check
                if check != "ok":
                    self.journal.attention = JournalError(
                        f"journal failed quick_check: {check}", kind="corrupt"
                    )
                    self.journal.fault_point = "quick_check"  # `_journal_watch` says it
            while True:
                retention.retention_days = self.journal.retention_days  # SIGHUP may change it
                if self.journal.attention is None:
                    try:
                        await self._purge_pass(retention)
                    except JournalError as exc:
                        log.warning("retention postponed: %s", exc)
                await self.clock.sleep(self.outbox.policy.housekeeping_interval_s)
        finally:
            retention.close()

    async def _purge_pass(self, retention: Any) -> None:
        from kioskd.journal.store import PURGE_BATCH

        total, started = 0, time.monotonic()
        while self.journal.attention is None:
            deleted = await asyncio.to_thread(retention.step, self.clock.now())
            self.journal.forget(deleted)
            total += sum(deleted.values())
            if sum(deleted.values()) < PURGE_BATCH:
                break
            await asyncio.sleep(RETENTION_PAUSE_S)
        if total:
            log.info(
                "retention: %d settled operations past retention deleted in %.1f s",
                total, time.monotonic() - started,
            )  # fmt: skip
        steps, started = 0, time.monotonic()
        while self.journal.attention is None:
            left = await asyncio.to_thread(retention.vacuum_step)
            steps += 1
            if not left:
                break
            await asyncio.sleep(RETENTION_PAUSE_S)
        if steps > 1:  # a one-step vacuum (at most VACUUM_STEP_PAGES pages, or none): not said
            log.info("retention: freed pages given back to the file system in %.1f s (%d steps)",
                     time.monotonic() - started, steps)  # fmt: skip

    async def _journal_watch(self) -> None:
        """A journal fault is said once (with its cause), shown in status, lit as attention,
        and retried with backoff; when the write works again everything resumes by itself."""
        delay = HEAL_FIRST_S
        while True:
            fault = self.journal.attention
            if fault is None:
                if self.health.journal_fault_since is not None:
                    await self._journal_healed()  # healed by a sale's own write (the outbox)
                    delay = HEAL_FIRST_S
                await asyncio.sleep(TICK_S)
                continue
            self._journal_fault(fault)
            retry_at = time.monotonic() + delay
            while self.journal.attention is not None and time.monotonic() < retry_at:
                await asyncio.sleep(TICK_S)
            if self.journal.attention is None:
                continue  # a sale's own write healed it meanwhile: said at the loop's top
            delay = min(HEAL_MAX_S, delay * 2)
            if self.journal.heal(now=self.clock.now()):
                delay = HEAL_FIRST_S
                await self._journal_healed()

    def _journal_fault(self, fault: Any) -> None:
        text = f"{fault.kind}: {fault}"
        if self.health.journal.startswith(f"{fault.kind}: "):
            return  # said once per cause
        first = self.health.journal_fault_since is None
        if first:
            self.health.journal_fault_since = self.clock.now()
        self.health.journal = text
        log.error(
            "journal cannot be written (%s): %s; new money operations are refused until it "
            "heals (retrying by itself)",
            fault.kind,
            fault,
            extra={"MESSAGE_ID": klog.JOURNAL_ATTENTION, "JOURNAL_FAULT": fault.kind},
        )
        self._refresh_lights()
        self._publish_status()

    async def _journal_healed(self) -> None:
        since = self.health.journal_fault_since
        lasted = self.clock.now() - since if since is not None else 0.0
        log.info(
            "journal writable again after %.0f s (was %s); money operations resume",
            lasted,
            self.health.journal,
            extra={"MESSAGE_ID": klog.JOURNAL_RECOVERED},
        )
        self.health.journal = "ok"
        self.health.journal_fault_since = None
        moved = await self.outbox.resume()
        if moved:
            log.warning("operations %s left in flight by the fault are in doubt", moved)
        self.spooler.wake()
        self._refresh_lights()
        self._publish_status()

    async def _import_connection_modules(self) -> None:
        """After READY=1, in a worker: httpx and the client's HTTP client (`prepare`); then
        let the API's users go."""
        try:
            await asyncio.to_thread(self._prepare_http)
        finally:
            self._connection_modules.set()

    async def _open_printer(self) -> None:
        """After READY=1: import the printer's modules in a worker (its transport, DLE EOT
        status, layout and profile: 15-30 ms of CPU here, issue 19: CPU to READY), then open
        it on the loop (its own thread does the I/O) and hand it to the spooler. Jobs journaled
        meanwhile wait in the journal, as they do for a printer that is off. A printer that
        cannot be built (something the config check let through) is treated like one that needs
        a person: said, the lights at attention, the counter still sells and its slips wait in
        the journal until a reload brings a printer that opens (`Spooler.replace_printer`)."""
        try:
            await asyncio.to_thread(_import_printer)
            printer = self._printer()
        except Exception:
            log.exception("printer: could not be opened; slips wait in the journal")
            self.health.printer = "not opened"
            self.health.printer_needs_person = True
            self._refresh_lights()
            return
        if not self.spooler.attach(printer):  # a reload's printer came first: it prints
            await printer.close()

    async def _open_lights(self) -> None:
        """After READY=1: import gpiozero and open the pins in a worker; the LEDs then show
        the state set meanwhile (`Lights` rules)."""
        try:
            await asyncio.to_thread(self.lights.open)
        except Exception:  # the kiosk still sells: said, and shown by `kioskctl status`
            log.exception("lights: the LEDs and buzzer could not be opened")

    def _prepare_http(self) -> None:
        """The client's HTTP client (httpx, h11 and its transport: `BanklotClient.prepare`),
        built in a worker right after READY=1 (issue 19, CPU to READY). The tasks that talk to
        the API at start (outbox, catalog, server time, first look at /last) wait for it
        (`_after_connection_modules`), so none builds it in a worker of its own meanwhile (a
        counter's request that comes first does). Its first connection imports nothing on the
        loop (H11Transport is an asyncio Protocol); httpx's former transport, httpcore,
        imported anyio's socket, stream and task modules there, which this worker imported
        ahead (20-30 ms of CPU here, no longer spent)."""
        try:
            self.client.prepare()
        except Exception:  # the first request tries again and says why, as one of its errors
            log.exception("the API client could not be prepared")

    def _after_connection_modules(
        self, factory: Callable[[], Awaitable[None]]
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        """`factory`, started once the HTTP client is built (see `_prepare_http`)."""

        async def started() -> None:
            await self._connection_modules.wait()
            await factory()

        return started

    async def _supervised(self, name: str, factory: Callable[[], Awaitable[object]]) -> None:
        """Run a task forever; restart it with backoff when it fails."""
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                await factory()
                if self._stop.is_set():
                    return
                log.warning("%s task ended; restarting", name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s task failed; restarting in %.1f s", name, delay)
            if time.monotonic() - started > 30:
                delay = 0.5
            await asyncio.sleep(delay)
            delay = min(30.0, delay * 2)

    # ================================================================= signals

    def request_stop(self) -> None:
        self._stop.set()

    def reload(self) -> None:
        """SIGHUP: re-read the config; a broken file keeps the last good one. Every changed key
        is applied live or named as needing a restart (`kioskd.daemon.reload`), never claimed."""
        from kioskd.daemon import reload as rl

        self.notifier.reloading()
        old = self.cfg
        ok, detail = self.holder.reload()
        if ok:
            keys = rl.changed(old, self.cfg)
            live, _restart = rl.split(keys)
            failed = self._apply_live(live)
            self.needs_restart = rl.waiting(self._started_cfg, self.cfg)
            applied = [k for k in live if k not in failed]
            log.info(
                "config reloaded: %s",
                "; ".join(
                    part
                    for part in (
                        f"applied live: {', '.join(applied)}" if applied else "",
                        f"could not apply: {', '.join(failed)}" if failed else "",
                        f"needs a restart: {', '.join(self.needs_restart)}"
                        if self.needs_restart
                        else "",
                    )
                    if part
                )
                or "no change",
                extra={"MESSAGE_ID": klog.CONFIG_RELOADED},
            )
            metrics = getattr(self, "metrics", None)
            if metrics is not None:
                metrics.changed()  # [metrics] applies at the next write: now
            elif self._metrics_wanted():
                self._metrics_on.set()  # turned on: the metrics task starts them
        else:
            log.error(
                "config rejected, keeping the last good one: %s",
                "; ".join(str(e) for e in detail),
                extra={"MESSAGE_ID": klog.CONFIG_REJECTED},
            )
        self.notifier.ready(status=status_line(self.health, self.outbox.counts()))

    def _apply_live(self, keys: list[str]) -> list[str]:
        """Carry over the live keys; returns the keys whose part failed to take them."""
        from kioskd.daemon import reload as rl

        c = self.cfg
        failed: list[str] = []
        for part in dict.fromkeys(rl.LIVE[k] for k in keys):
            try:
                if part == rl.LOGGING:
                    klog.setup_logging(c.log.level, c.log.target, terminal_id=self._terminal_id())
                    self._refresh_session()
                elif part == rl.SESSION:
                    self._refresh_session()
                elif part == rl.POLICY:
                    self.outbox.policy = self._policy()
                elif part == rl.CONTROL and self.control is not None:
                    self.control.allow_inject = c.control.allow_inject
                elif part == rl.JOURNAL:
                    self.journal.retention_days = c.journal.retention_days
                elif part == rl.PRINTER:
                    self.spooler.replace_printer(self._printer(), c.printer)
                elif part == rl.LIGHTS:
                    old_lights, self.lights = self.lights, self._lights()
                    old_lights.close()
                    self._refresh_lights()
                elif part == rl.INPUTS:
                    self._restart_inputs()
            except Exception:
                log.exception("reload: %s could not take the new config", part)
                failed += [k for k in keys if rl.LIVE[k] == part]
        return failed

    def _refresh_session(self) -> None:
        """New settings and keymap for the counter session; what the clerk typed stays."""
        fresh = self._session()
        session = self.session
        session.settings = fresh.settings
        session.keymap = fresh.keymap
        if hasattr(fresh, "_scan_parser"):
            session._scan_parser = fresh._scan_parser

    def _printer(self) -> Any:
        from kioskd.printer import open_printer
        from kioskd.printer.profiles import forget_database

        c = self.cfg
        printer = open_printer(
            c.printer.uri,
            timeout_s=c.printer.timeout_s,
            paper_mm=c.printer.paper_mm,
            profile=c.printer.profile,
            dots=c.printer.dots,
            columns=c.printer.columns,
            on_change=self._on_printer,
        )
        forget_database()  # its profile is loaded (and kept): the rest is not needed
        return printer

    def _restart_inputs(self) -> None:
        """Stop the input readers and start them again from the current config."""
        for task in self._input_tasks:
            task.cancel()
        self._input_tasks = []
        if self._tg is None:
            return
        for src in self._input_sources():
            reader = self._supervised(f"input-{src.label}", self._reader_for(src))
            self._input_tasks.append(self._tg.create_task(reader))

    # ================================================================= run

    async def run(self) -> int:
        from kioskd.config import PasswordUnavailable
        from kioskd.daemon.control import ControlServer
        from kioskd.daemon.control_handler import ControlHandler
        from kioskd.daemon.executor import Executor
        from kioskd.daemon.looplag import PROBE
        from kioskd.daemon.notify import watchdog_interval
        from kioskd.daemon.spooler import Spooler
        from kioskd.outbox.outbox import Outbox

        PROBE.install()
        c = self.cfg
        try:
            password = c.api.read_password(self.environ)
        except PasswordUnavailable as exc:
            raise FatalError(str(exc)) from exc
        klog.register_secret(password, permanent=True)
        from kioskd.config import security_warnings

        self.warnings = security_warnings(c, self.holder.path)
        for warning in self.warnings:
            log.warning("config: %s", warning)

        # gpiozero (~50 ms of CPU here, ~0.7 s on a Pi 3B) is imported and the pins opened
        # right after READY=1, in a worker (`_open_lights`; issue 19: CPU to READY): the LEDs
        # are dark while the daemon starts, then show its state.
        self.lights = self._lights(defer=True)
        self.lights.set_state("working")
        if not await self._journal_or_attention():
            return 1
        self._restore_server_time()
        self._load_cached_catalog()
        self.metrics = None  # built after READY=1 by `_metrics_loop`
        self._metrics_early = []
        self._metrics_on = asyncio.Event()
        self._ready = asyncio.Event()
        self.client = self._client(password)
        self._connection_modules = asyncio.Event()
        self.outbox = Outbox(
            self.journal,
            self.client,
            self.clock,
            self._policy(),
            on_outcome=self._on_outcome,
            on_signal=self._on_signal,
        )
        self.outbox.purges = False  # `_retention_loop`, in a worker, after READY=1
        self.session = self._session()
        self.executor = Executor(self.client, self.outbox, self.clock, self.feed, self._context)
        # The printer (its transport, status and layout modules, its profile) opens right after
        # READY=1 (`_open_printer`); the spooler prints from then on.
        self.spooler = Spooler(
            self.journal,
            None,
            self.clock,
            self._slip_context,
            paper_mm=c.printer.paper_mm,
            profile=c.printer.profile,
            preview_dir=c.printer.preview_dir,
        )
        await self.outbox.recover()
        sources = self._input_sources()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

        handler = ControlHandler(self)
        self.control = ControlServer(c.control.socket, handler, allow_inject=c.control.allow_inject)
        exit_code = 0
        try:
            async with self.control, asyncio.TaskGroup() as tg:
                self._tg = tg
                talks = self._after_connection_modules
                workers = [
                    tg.create_task(self._supervised("outbox", talks(self.outbox.run))),
                    tg.create_task(self._supervised("printing", self.spooler.run)),
                    tg.create_task(self._supervised("catalog", talks(self._catalog_loop))),
                    tg.create_task(self._ticker()),
                    tg.create_task(self._status_loop()),
                    tg.create_task(self._supervised("journal-watch", self._journal_watch)),
                    tg.create_task(self._supervised("metrics", self._metrics_loop)),
                    tg.create_task(
                        self._supervised("server-time", talks(self._server_time_at_start))
                    ),
                ]
                for src in sources:
                    reader = self._supervised(f"input-{src.label}", self._reader_for(src))
                    self._input_tasks.append(tg.create_task(reader))
                if not self.identity.confirmed:
                    workers.append(tg.create_task(talks(self._first_look_at_last)()))
                interval = watchdog_interval(self.environ)
                if interval:
                    workers.append(tg.create_task(self._watchdog(interval)))
                await asyncio.sleep(0)  # let the input tasks try their devices once
                self._refresh_lights()
                self.notifier.ready(status=status_line(self.health, self.outbox.counts()))
                # The process's CPU (every thread) from its start to READY=1: issue 19's budget,
                # read here because a reader outside sees it only later, with what runs after.
                ready_cpu_s = time.process_time()
                PROBE.reset()  # stalls are counted from READY=1 on
                # Everything start-up made (modules, config, the cached catalog: ~50,000
                # objects) lives as long as the process: out of the cyclic collector's sight,
                # so a full collection no longer walks it. A full collection walked 50-75,000
                # objects in 45-70 ms here, holding the GIL: the loop stood still, whatever
                # thread triggered it (issue 19, loop-lag probe; ~0.6-0.9 s on a Pi 3B).
                if self.freeze_gc:
                    _freeze()
                    gc.enable()  # off while starting (`kioskd.commands.run`)
                self._ready.set()
                workers.append(tg.create_task(self._import_connection_modules()))
                workers.append(tg.create_task(self._open_printer()))
                workers.append(tg.create_task(self._open_lights()))
                workers.append(tg.create_task(self._supervised("retention", self._retention_loop)))
                workers.append(tg.create_task(self._warm_renderer()))
                log.info(
                    "kioskd %s ready",
                    __version__,
                    extra={"MESSAGE_ID": klog.DAEMON_STARTED, "CPU_S": round(ready_cpu_s, 3)},
                )
                await self._stop.wait()
                self.notifier.stopping()
                log.info("stopping: draining", extra={"MESSAGE_ID": klog.DAEMON_STOPPING})
                await self._drain([*workers, *self._input_tasks])
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            with contextlib.suppress(Exception):
                if self.spooler.printer is not None:
                    await self.spooler.printer.close()
            with contextlib.suppress(Exception):
                await self.client.aclose()
            self._save_server_time()  # with the catalog's kept fetch time, if any
            with contextlib.suppress(Exception):
                if self.journal.attention is None:
                    self.journal.save_kept()
            self.journal.close()
            self.lights.set_state("off")
            self.lights.close()
        return exit_code

    async def _drain(self, workers: list[asyncio.Task[None]]) -> None:
        """Let commands, the outbox's sends and probes in flight, and pending slips finish
        (bounded), then stop every task. A send still in the air then is cancelled and has
        unwound before the journal closes (it stays `sending`: in doubt at the next start)."""
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline:
            busy = [t for t in self._tasks if not t.done()]
            idle = not busy and not self.outbox.in_flight and self.spooler.idle
            if idle and not self._pending_timers:
                break  # (a PENDING slip's timer is a slip that may be due: waited for too)
            await asyncio.sleep(0.05)
        self.outbox.stop()
        await self.outbox.cancel_in_flight()
        for timer in self._pending_timers.values():
            timer.cancel()
        self._pending_timers.clear()
        spawned = list(self._tasks)
        for task in [*workers, *spawned]:
            task.cancel()
        await asyncio.gather(*spawned, return_exceptions=True)  # unwound before the journal closes

    def _context(self) -> Context:
        from kioskd.daemon.executor import Context

        cat = self._catalog
        return Context(
            time_zone=cat.time_zone if cat is not None else DEFAULT_TIME_ZONE,
            ticket_expiration_days=getattr(cat, "ticket_expiration_days", 3) if cat else 3,
            seconds_to_cancel=getattr(cat, "seconds_to_cancel", 180) if cat else 180,
            categories=_categories(cat),
            status_info=self.status_info,
            lang=self.cfg.terminal.locale,
        )

    def _slip_context(self) -> SlipContext:
        from kioskd.counter.slips import SlipContext

        return SlipContext.from_catalog(
            self._catalog,
            lang=self.cfg.terminal.locale,
            currency=self.cfg.terminal.currency,
            terminal_id=self._terminal_id(),
        )


def _import_printer() -> None:
    """The printer's modules (`Daemon._open_printer`, in a worker)."""
    import kioskd.printer.printer  # noqa: F401


def _escpos_capabilities_cache(directory: str) -> None:
    """Point python-escpos at a lasting cache of its parsed printer capabilities.

    Without it, escpos parses its YAML at every import (~0.3 s of start-up) and leaves a new
    temp dir behind each time. escpos writes the cache non-atomically: a power cut can leave
    it torn, and escpos then fails at import, so the daemon would never start again (found by
    the power-cut campaign). A cache that does not load is removed first.
    Must run before anything imports kioskd.printer.
    """
    if not directory or not os.path.isdir(directory):
        return
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", directory)
    cache_dir = os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"]
    from kioskd.printer import escpos_cache_file  # the package alone: no python-escpos

    path = escpos_cache_file(cache_dir)
    try:
        with open(path, "rb") as f:
            pickle.load(f)  # our own file, in our own state directory
    except FileNotFoundError:
        pass
    except Exception:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _categories(catalog: Catalog | None) -> tuple[str, ...]:
    """The game categories of the catalog's products (for the shift report's totals)."""
    products = getattr(catalog, "products", None) or {}
    items = products.values() if isinstance(products, dict) else products
    found = sorted({p.game_category for p in items if getattr(p, "game_category", None)})
    return tuple(found) or ("lottery", "animalitos")


def run_daemon(config_path: str, **kwargs: Any) -> int:
    """Load the config, set up logging, run the daemon; one clear message on a fatal error."""
    from kioskd.config import ConfigInvalid

    try:
        holder = ConfigHolder(config_path)
    except ConfigInvalid as exc:
        for err in exc.errors:
            print(f"kioskd: {err}", flush=True)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"kioskd: cannot read config {config_path}: {exc.strerror}", flush=True)
        return EXIT_CONFIG
    cfg = holder.current
    klog.setup_logging(cfg.log.level, cfg.log.target, terminal_id=cfg.terminal.id or None)
    # A fault Python cannot catch (SIGBUS from a -shm file that vanished or cannot grow,
    # SIGSEGV) still leaves its traceback on stderr, i.e. in the journal, before the process dies.
    faulthandler.enable()
    daemon = Daemon(holder, freeze_gc=True, **kwargs)
    try:
        return asyncio.run(daemon.run())
    except FatalError as exc:
        log.error("fatal: %s", exc)
        print(f"kioskd: {exc}", flush=True)
        return 1
