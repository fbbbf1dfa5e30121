"""A virtual kiosk: the real `kioskd run` process with simulated surroundings.

Used by `kioskd demo`, the real-process crash test and the benchmarks. It owns:
- the Banklot simulator, served over real loopback HTTP (`SimServer`, in a thread of this
  process, so the caller can arm faults, move its clock and read its ledger directly);
- a loopback ESC/POS printer (`FakeTcpPrinter`) that records what it is sent;
- two FIFOs the daemon reads as `replay:` input devices; typing and scanning write evtest text
  into them, exactly what a captured USB keypad or scanner would produce;
- a config file (short timers by default, or the shipped defaults: `timers="shipped"`), a
  journal path, a control socket, a folder of PNG slip previews and a folder the daemon writes
  its Prometheus textfile to (`metrics_dir`, node-exporter's in production);
- the daemon process itself (start, wait for READY=1 on our own notify socket, SIGTERM, kill -9).

Rules: everything lives under one work directory; nothing here knows about money rules (the
checks compare the simulator's ledger with the journal, which the daemon alone writes).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from evdev import ecodes as e

from kioskd.input.evtest import KeyScript

# Keypad keys for the characters the counter grammar uses (a numeric keypad, Num Lock on).
KEYPAD_CODES: dict[str, int] = {
    **{str(d): getattr(e, f"KEY_KP{d}") for d in range(10)},
    ".": e.KEY_KPDOT,
    "+": e.KEY_KPPLUS,
    "-": e.KEY_KPMINUS,
    "*": e.KEY_KPASTERISK,
    "/": e.KEY_KPSLASH,
    "\n": e.KEY_KPENTER,
    "\b": e.KEY_BACKSPACE,
    "\x1b": e.KEY_ESC,
}
# What a scanner in US layout types for the characters of ticket and play-slip codes.
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
SCANNER_CODES: dict[str, tuple[int, ...]] = {
    **{str(d): (getattr(e, f"KEY_{d}"),) for d in range(10)},
    **{c.upper(): (getattr(e, f"KEY_{c.upper()}"), e.KEY_LEFTSHIFT) for c in _LETTERS},
    **{c: (getattr(e, f"KEY_{c.upper()}"),) for c in _LETTERS},
    ".": (e.KEY_DOT,),
    ":": (e.KEY_SEMICOLON, e.KEY_LEFTSHIFT),
    ";": (e.KEY_SEMICOLON,),
    "-": (e.KEY_MINUS,),
}

KEYPAD_HEADER = (
    "Input driver version is 1.0.1\n"
    "Input device ID: bus 0x3 vendor 0x1a2c product 0xe24 version 0x110\n"
    'Input device name: "Virtual Keypad"\n'
    "Testing ... (interrupt to exit)\n"
)
SCANNER_HEADER = KEYPAD_HEADER.replace("Virtual Keypad", "Virtual Scanner").replace(
    "vendor 0x1a2c product 0xe24", "vendor 0x5f9 product 0x2206"
)


def keypad_events(text: str, t0: float) -> str:
    """evtest text for typing `text` on a numeric keypad."""
    script = KeyScript(t0=t0, step=0.02)
    for ch in text:
        code = KEYPAD_CODES.get(ch)
        if code is None:
            raise ValueError(f"no keypad key types {ch!r}")
        script.tap(code)
    return script.text()


def scanner_events(text: str, t0: float) -> str:
    """evtest text for a US-layout scanner reading `text` (ended by Enter)."""
    script = KeyScript(t0=t0, step=0.002)
    for ch in text:
        codes = SCANNER_CODES.get(ch)
        if codes is None:
            raise ValueError(f"the virtual scanner cannot type {ch!r}")
        script.tap(codes[0], *codes[1:])
    script.tap(e.KEY_ENTER)
    return script.text()


# Which timers the daemon runs with ([api] timeouts, [offline], [reconcile], printer timeout):
# "shipped": none written, so the defaults of kioskd.config (= config/kioskd.toml) apply and
# only addresses, paths and devices differ from a shop's file: what we ship is what we prove.
# "short": every timer near its floor, so that tests and demos decide in seconds (a create in
# doubt after a drop waits a 4 s quiet period instead of the shipped 60 s).
TIMERS = ("shipped", "short")
SHORT_API = "connect_timeout_s = 1.0\nread_timeout_s = 2.0\n"
SHORT_OUTBOX = (
    "[offline]\ncreate_max_age_s = 120.0\npay_max_age_s = 600.0\n"
    "[reconcile]\nquiet_period_s = 4.0\nprobes = 2\nprobe_interval_s = 1.0\n"
)
SHORT_PRINTER = "timeout_s = 3.0\n"


def add_timers_argument(parser: Any) -> None:
    """The campaigns' `--policy shipped|short` choice (an argparse parser)."""
    parser.add_argument(
        "--policy",
        choices=TIMERS,
        default="shipped",
        help="daemon timers: the shipped config defaults (an operation in doubt waits the 60 s "
        "quiet period), or the short-timer variant (4 s) (default shipped)",
    )


def settle_bound_s(timers: str) -> float:
    """How long a campaign may have to wait, network healthy again, until every operation is
    decided: the slowest "not applied" (quiet period, then the probes) plus a read timeout and
    the first catalog load, with room for a loaded machine."""
    from kioskd.config import ApiConfig, ReconcileConfig

    if timers == "short":
        quiet, probes, interval, read = 4.0, 2, 1.0, 2.0
    else:
        rec, api = ReconcileConfig(), ApiConfig()
        quiet, probes, interval = rec.quiet_period_s, rec.probes, rec.probe_interval_s
        read = api.read_timeout_s
    return 2 * (quiet + probes * interval + read) + 30.0


class Fifo:
    """The writing end of a replay FIFO; reopened when the reader (the daemon) restarts."""

    def __init__(self, path: Path, header: str) -> None:
        self.path = path
        self.header = header
        self._fd: int | None = None
        if not path.exists():
            os.mkfifo(path)

    def write(self, text: str, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._fd is None:
                try:
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                    os.set_blocking(self._fd, True)
                    os.write(self._fd, self.header.encode())
                except OSError as exc:
                    self._fd = None
                    if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)  # no reader yet: the daemon is (re)starting
                    continue
            try:
                os.write(self._fd, text.encode())
                return
            except BrokenPipeError:
                self.close()  # the reader went away (daemon killed): reopen and write again

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class VirtualKiosk:
    """See the module docstring. Use as a context manager, or call `start()` / `close()`."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        seed: int = 0,
        sim: Any = None,
        email: str = "username@banklot.net",
        password: str = "virtual-kiosk-pass",
        preview: bool = True,
        config_extra: str = "",
        log_level: str = "info",
        log_target: str = "stderr",
        journal_path: str | os.PathLike[str] | None = None,
        metrics: bool = True,
        timers: str = "short",
    ) -> None:
        if timers not in TIMERS:
            raise ValueError(f"timers must be one of {TIMERS}, not {timers!r}")
        self.workdir = Path(workdir)
        self._journal_path = Path(journal_path) if journal_path is not None else None
        # Unix socket paths are limited to ~107 bytes: sockets live in a short private dir.
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="kioskd-vk-"))
        self.seed = seed
        self._sim = sim
        self.email = email
        self.password = password
        self.preview = preview
        self.config_extra = config_extra
        self.log_level = log_level
        # "journald": the daemon logs through the native protocol to /run/systemd/journal/socket
        # (tests/logs runs a private journald there); "stderr": into log_path.
        self.log_target = log_target
        self.metrics = metrics  # write the Prometheus textfile into metrics_dir
        self.timers = timers
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._notify: socket.socket | None = None

    # ----------------------------------------------------------------- set-up

    @property
    def slips_dir(self) -> Path:
        return self.workdir / "slips"

    @property
    def metrics_dir(self) -> Path:
        return self.workdir / "metrics"

    @property
    def journal_path(self) -> Path:
        return self._journal_path or self.workdir / "journal.sqlite3"

    @property
    def control_socket(self) -> Path:
        return self.runtime_dir / "control.sock"

    @property
    def notify_socket(self) -> Path:
        return self.runtime_dir / "notify.sock"

    @property
    def config_path(self) -> Path:
        return self.workdir / "kioskd.toml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "daemon.log"

    def start(self) -> VirtualKiosk:
        from kioskd.clock import OffsetClock
        from kioskd.proving.fakes.escpos_printer import FakeTcpPrinter
        from kioskd.proving.sim.server import SimServer
        from kioskd.proving.sim.simulator import Simulator

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.slips_dir.mkdir(exist_ok=True)
        self.metrics_dir.mkdir(exist_ok=True)
        # The simulator keeps real time (an offset the caller may move): daemon and server
        # clocks must agree, as on a real counter.
        self.sim = self._sim or Simulator(
            seed=self.seed, clock=OffsetClock(), email=self.email, password=self.password
        )
        self.server = SimServer(self.sim).start()
        self.printer = FakeTcpPrinter().start()
        self.keypad = Fifo(self.workdir / "keypad.fifo", KEYPAD_HEADER)
        self.scanner = Fifo(self.workdir / "scanner.fifo", SCANNER_HEADER)
        self.config_path.write_text(self._config_text())
        return self

    def _config_text(self) -> str:
        w = self.workdir.resolve()
        preview = f'preview_dir = "{w}/slips"\n' if self.preview else ""
        short = self.timers == "short"
        return (
            "# Written by kioskd's virtual-kiosk harness (demo, tests); "
            f"{self.timers} timers.\n"
            '[terminal]\nid = "virtual-1"\n'
            f'[api]\nbase_url = "{self.server.base_url}"\nemail = "{self.email}"\n'
            f'password = "{self.password}"\n'
            + (SHORT_API if short else "")
            + f'[journal]\npath = "{self.journal_path.resolve()}"\n'
            + (SHORT_OUTBOX if short else "")
            + f'[scanner]\ndevice = "replay:{w}/scanner.fifo"\n'
            f'[keypad]\ndevice = "replay:{w}/keypad.fifo"\n'
            f'[printer]\nuri = "{self.printer.uri}"\n'
            + (SHORT_PRINTER if short else "")
            + preview
            + '[leds]\nbackend = "mock"\n'
            f'[control]\nsocket = "{self.control_socket}"\nallow_inject = true\n'
            f'[log]\ntarget = "{self.log_target}"\nlevel = "{self.log_level}"\n'
            f'[metrics]\ntextfile_dir = "{w / "metrics" if self.metrics else ""}"\n'
            + self.config_extra
        )

    # ----------------------------------------------------------------- the daemon process

    def start_daemon(
        self,
        wait: bool = True,
        timeout_s: float = 20.0,
        env: dict[str, str] | None = None,
        wrap: list[str] | None = None,
    ) -> None:
        """Start `kioskd run` (with `env` added to its environment, under the `wrap` command,
        e.g. strace, if given); with `wait`, return once it has sent READY=1."""
        if self._notify is None:
            self._listen_notify()
        self.ready = False
        extra = env or {}
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = str(self.notify_socket)
        # The unit's PrivateTmp=yes: the daemon's temporary files die with the kiosk (python-
        # escpos makes an empty folder there at each import, its cache folder set or not).
        private_tmp = self.runtime_dir / "tmp"
        private_tmp.mkdir(exist_ok=True)
        env["TMPDIR"] = str(private_tmp)
        env.pop("JOURNAL_STREAM", None)
        env.pop("WATCHDOG_USEC", None)
        env.update(extra)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [
                *(wrap or []),
                sys.executable,
                "-m",
                "kioskd",
                "run",
                "--config",
                str(self.config_path),
            ],
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        log.close()
        self.starts += 1
        if wait:
            self.wait_ready(timeout_s)

    def _listen_notify(self) -> None:
        """Our stand-in for systemd's notify socket, drained by a thread as systemd does."""
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(FileNotFoundError):
            self.notify_socket.unlink()
        self._notify.bind(str(self.notify_socket))
        self._notify.settimeout(0.2)
        self._notes: collections.deque[str] = collections.deque(maxlen=10_000)
        self._notes_lock = threading.Lock()
        sock = self._notify

        def drain() -> None:
            while True:
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return  # closed
                with self._notes_lock:
                    for line in data.decode(errors="replace").splitlines():
                        self._notes.append(line)
                        if line == "READY=1":
                            self.ready = True

        threading.Thread(target=drain, name="notify-listener", daemon=True).start()

    def notifications(self) -> list[str]:
        """sd_notify messages received since the last call."""
        if self._notify is None:
            return []
        with self._notes_lock:
            out = list(self._notes)
            self._notes.clear()
        return out

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"kioskd exited with {self.proc.returncode}; see {self.log_path}"
                )
            time.sleep(0.02)
        raise TimeoutError(f"kioskd sent no READY=1 within {timeout_s} s; see {self.log_path}")

    def kill9(self) -> None:
        """A crash: SIGKILL, no chance to clean up. Our FIFO ends are closed too, so the next
        daemon starts on fresh pipes (a new header, no half-written event from before)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.keypad.close()
        self.scanner.close()

    def stop_daemon(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait for the drain."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                # A stop that hangs is a bug: SIGABRT first, so that the daemon's faulthandler
                # writes every thread's stack into its log, then SIGKILL.
                self.proc.send_signal(signal.SIGABRT)
                try:
                    self.proc.wait(3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
                return -signal.SIGKILL  # the stop failed, whatever ended it
        return self.proc.returncode

    # ----------------------------------------------------------------- the counter

    def type(self, text: str) -> None:
        """Type on the virtual keypad (`\\n` Enter, `\\b` Backspace, `\\x1b` Esc)."""
        self.keypad.write(keypad_events(text, time.time()))

    def scan(self, text: str) -> None:
        self.scanner.write(scanner_events(text, time.time()))

    def ctl(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        from kioskd.daemon.control import call

        return call(str(self.control_socket), cmd, args, timeout=timeout)

    def status(self) -> dict[str, Any]:
        return self.ctl("status")

    def wait_for(self, predicate: Any, timeout_s: float = 20.0, poll_s: float = 0.1) -> Any:
        """Poll `predicate()` until it returns something truthy."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            time.sleep(poll_s)

    def wait_catalog(self, timeout_s: float = 20.0) -> None:
        """Until the daemon has a catalog (sales are validated against it)."""
        self.wait_for(lambda: self.status().get("catalog_age_s") is not None, timeout_s)

    def slips(self) -> list[str]:
        return sorted(p.name for p in self.slips_dir.glob("*.png"))

    # ----------------------------------------------------------------- the books

    def journal_operations(self) -> list[dict[str, Any]]:
        """The journal's operations, read from the SQLite file (daemon running or not)."""
        return self._rows("operations")

    def print_jobs(self) -> list[dict[str, Any]]:
        return self._rows("print_jobs")

    def alarms(self) -> list[str]:
        """The texts of the journal's alarms, oldest first."""
        return [str(r["detail"]) for r in self._rows("history") if r["kind"] == "alarm"]

    def _rows(self, table: str) -> list[dict[str, Any]]:
        if not self.journal_path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.journal_path}?mode=ro", uri=True, timeout=5)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY id")]
        finally:
            conn.close()

    # ----------------------------------------------------------------- teardown

    def close(self) -> None:
        self.stop_daemon()
        for f in (getattr(self, "keypad", None), getattr(self, "scanner", None)):
            if f is not None:
                f.close()
        for part in (getattr(self, "server", None), getattr(self, "printer", None)):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close() if hasattr(part, "close") else part.vanish()
        if self._notify is not None:
            self._notify.close()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def __enter__(self) -> VirtualKiosk:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
