"""Shared pieces of the benchmarks: statistics, the machine, a probed virtual kiosk.

Rules:
- Every timestamp is `time.monotonic()` (CLOCK_MONOTONIC: one clock for every process on the
  machine), taken in this process: the simulator and the fake printer run here, in threads, so
  the probes wrap them in place (instance attributes; the simulator's ASGI `send`) and measure
  nothing inside the daemon we could not observe from outside.
- A benchmark prints its figures and one ``RESULT {json}`` line that `run_all.py` collects.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kioskd.proving.harness import VirtualKiosk  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): with n < 100 the p99 is the maximum."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summary(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    """median / p99 / max (milliseconds by default) and n."""
    return {
        "n": len(values),
        "median": round(statistics.median(values) * scale, 3),
        "p99": round(percentile(values, 99) * scale, 3),
        "max": round(max(values) * scale, 3),
    }


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "uname": " ".join(platform.uname()),
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        # Which build: the distribution's (what a kiosk runs; dev.sh's default) or another
        # (pyenv's unoptimised build read about 18 % more CPU a sale: issue 19).
        "interpreter": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
    }


def emit(name: str, data: dict[str, Any]) -> None:
    print("RESULT " + json.dumps({"bench": name, **data}), flush=True)


def report(name: str, data: dict[str, Any], summary: str) -> int:
    """The human line, then the RESULT line `run_all.py` collects; exit status 0."""
    print(summary)
    emit(name, data)
    return 0


# --------------------------------------------------------------------- /proc of the daemon


def proc_cpu_s(pid: int) -> float:
    """utime + stime of the whole process (all threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_schedstat_s(pid: int) -> tuple[float, float]:
    """CPU of the whole process and of its main thread, seconds, from
    /proc/PID/task/*/schedstat (nanoseconds: no 10 ms ticks, so an A/B of a millisecond shows
    in one round). Threads that ended are not counted (the daemon's workers live on), and
    user and kernel time are not told apart."""
    total = main = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            ns = int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
        total += ns
        if task == str(pid):
            main = ns
    return total / 1e9, main / 1e9


def proc_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches summed over every thread."""
    vol = invol = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches"):
                    vol += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    invol += int(line.split()[1])
    return vol, invol


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def proc_threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


# --------------------------------------------------------------------- the kiosk


def shipped_bytecode() -> None:
    """Byte-code for kioskd's own modules, as the package's postinst makes it (`compileall`).
    This environment may set PYTHONDONTWRITEBYTECODE: the daemon would then compile every
    kioskd module from its source at each start (0.1-0.3 CPU-s here), which no installed
    kiosk does. The `__pycache__` folders are ignored by git."""
    import compileall

    compileall.compile_dir(str(ROOT / "kioskd"), quiet=1)


class BenchKiosk(VirtualKiosk):
    """A `VirtualKiosk` whose daemon may run with extra environment (e.g. ``WATCHDOG_USEC``,
    which the harness removes) or under a wrapper command (``strace``)."""

    def __init__(
        self, *a: Any, env: dict[str, str] | None = None, wrap: list[str] | None = None, **kw: Any
    ) -> None:
        kw.setdefault("preview", False)  # PNG previews are a demo feature, not the counter's
        kw.setdefault("timers", "shipped")  # what we ship is what we measure
        super().__init__(*a, **kw)
        shipped_bytecode()
        self.extra_env = env or {}
        self.wrap = wrap or []
        self.spawned_at = 0.0

    def start_daemon(self, wait: bool = True, timeout_s: float = 20.0) -> None:
        self.spawned_at = time.monotonic()
        super().start_daemon(wait, timeout_s, env=self.extra_env, wrap=self.wrap)

    def prime(self) -> None:
        """Start and stop once: the journal's identity made and the catalog fetched and cached,
        so the starts that follow are a kiosk's everyday start (the catalog is in use a
        moment before its cache rows are committed: those are waited for too)."""
        self.start_daemon(timeout_s=120)
        self.wait_catalog(60)
        self.wait_for(lambda: {"catalog", "catalog.inventory"} <= self.catalog_keys(), 60)
        self.stop_daemon()

    def catalog_keys(self) -> set[str]:
        """The keys of the journal's catalog table (its caches), read from the file."""
        import sqlite3

        conn = sqlite3.connect(f"file:{self.journal_path}?mode=ro", uri=True, timeout=5)
        try:
            return {key for (key,) in conn.execute("SELECT key FROM catalog")}
        finally:
            conn.close()

    def fresh_catalog(self) -> bool:
        """The daemon holds a catalog fetched since this start (not the journal's cached one):
        the first refresh is done."""
        age = self.status().get("catalog_age_s")
        return age is not None and age < time.monotonic() - self.spawned_at

    def daemon_pid(self) -> int:
        """The kioskd process (under strace, its child)."""
        assert self.proc is not None
        if not self.wrap:
            return self.proc.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
                if kids.split():
                    return int(kids.split()[0])
            time.sleep(0.01)
        raise RuntimeError("no child under the wrapper")

    def stop_wrapped(self) -> None:
        """SIGTERM the daemon itself (not the wrapper) and wait for the wrapper to finish."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.daemon_pid(), signal.SIGTERM)
        self.proc.wait(30)


@contextlib.contextmanager
def textfile_on_tmpfs(k: VirtualKiosk, on_disk: bool = False) -> Any:
    """The metrics textfile in a tmpfs folder, as shipped (`/run/kioskd-metrics`): a drop-in
    after `k.start()`, before the daemon starts; yields the folder the daemon writes to
    (`on_disk`: the harness's folder on the disk, the default before issue 19). A write of the
    file on tmpfs costs a quarter of one on ext4 here (0.06 against 0.24 ms of CPU)."""
    import shutil
    import tempfile

    if on_disk:
        yield k.metrics_dir
        return
    folder = tempfile.mkdtemp(prefix="kioskd-metrics-", dir="/dev/shm")
    dropins = k.config_path.with_name(k.config_path.name + ".d")  # kioskd.toml.d/
    dropins.mkdir(exist_ok=True)
    (dropins / "50-textfile.toml").write_text(f'[metrics]\ntextfile_dir = "{folder}"\n')
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sell_text(i: int, amount: int = 1) -> str:
    """One single-wager sale on TRIPLE ZAMORANO, a different number each time."""
    return f"+1.{i % 1000:03d}.{amount}\n\n"


def done_count(k: VirtualKiosk) -> int:
    return int(k.status()["queue"].get("done", 0))


class Probe:
    """Timestamps of what the simulator receives and sends and of what the printer receives."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[float, str]] = []  # (t, sim method) on arrival of the call
        self.responses: list[tuple[float, str]] = []  # (t, path) once the body was sent
        self.printer: list[tuple[float, bytes]] = []  # (t, bytes) on each read

    def install_app(self) -> None:
        """Wrap the simulator's ASGI app (class level, before the server starts)."""
        from kioskd.proving.sim import app as sim_app

        if getattr(sim_app.SimApp.__call__, "_bench", False):
            return
        original = sim_app.SimApp.__call__
        probe = self

        async def call(self_app: Any, scope: Any, receive: Any, send: Any) -> None:
            async def timed_send(message: dict[str, Any]) -> None:
                await send(message)
                if message.get("type") == "http.response.body":
                    with probe.lock:
                        probe.responses.append((time.monotonic(), scope.get("path", "")))

            await original(self_app, scope, receive, timed_send)

        call._bench = True  # type: ignore[attr-defined]
        sim_app.SimApp.__call__ = call  # type: ignore[method-assign]

    def install_sim(
        self,
        sim: Any,
        names: tuple[str, ...] = ("create", "pay", "last", "ticket", "cancel", "tickets"),
    ) -> None:
        for name in names:
            original = getattr(sim, name)

            def wrapped(*a: Any, _o: Any = original, _n: str = name, **kw: Any) -> Any:
                with self.lock:
                    self.requests.append((time.monotonic(), _n))
                return _o(*a, **kw)

            setattr(sim, name, wrapped)

    def install_printer(self, core: Any) -> None:
        original = core.feed

        def feed(data: bytes) -> bytes:
            with self.lock:
                self.printer.append((time.monotonic(), bytes(data)))
            return original(data)

        core.feed = feed

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.responses.clear()
            self.printer.clear()


def is_query_only(data: bytes) -> bool:
    """Only DLE EOT n status queries (no byte that would reach the paper)."""
    i = 0
    while i < len(data):
        if data[i : i + 2] == b"\x10\x04" and i + 2 < len(data):
            i += 3
            continue
        return False
    return True


def fix_sim_nagle() -> None:
    """Create the simulator's listening socket with ``IPPROTO_TCP``, so that asyncio sets
    TCP_NODELAY on its connections (`asyncio.base_events._set_nodelay` checks
    ``sock.proto == IPPROTO_TCP``; ``socket.socket(AF_INET, SOCK_STREAM)`` has proto 0, and
    accepted sockets inherit it). Without it uvicorn's two writes (headers, then body) meet
    Nagle + the client's delayed ACK: every response body arrives ~40 ms late. That stall is
    the simulator's, not the daemon's (the suggested fix belongs in
    `kioskd/proving/sim/server.py`)."""
    import socket as _socket

    from kioskd.proving.sim import server

    class _Sockets:
        def __getattr__(self, name: str) -> Any:
            return getattr(_socket, name)

        @staticmethod
        def socket(family: int = -1, type: int = -1, proto: int = 0, *a: Any) -> Any:
            if family == _socket.AF_INET and type == _socket.SOCK_STREAM and proto == 0:
                proto = _socket.IPPROTO_TCP
            return _socket.socket(family, type, proto, *a)

    server.socket = _Sockets()  # type: ignore[assignment]
