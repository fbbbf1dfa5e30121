"""A fake ESC/POS printer for tests and the demo: records what it prints, answers DLE EOT.

Rules:
- ``FakePrinter`` is the device core: ``feed(bytes) -> reply bytes``, no I/O. It strips the
  real-time ``DLE EOT n`` queries from the byte stream (also when split across reads), answers
  them from its scripted state, and keeps every other byte; the bytes before a query are
  taken before it is answered (stream order).
- Like a real printer, it keeps taking bytes while it cannot print (paper out, cover open) and
  holds them; they are printed when the printer recovers. ``printed`` is what reached the
  paper, ``held`` what is waiting. ``paper_out_after(n)`` runs out of paper after ``n`` more
  printed bytes: the middle of a job. ``cut_times`` holds the wall time each cut reached the
  paper (held bytes: when released), for benches that time keys to paper.
- ``silent`` models a printer that answers nothing (no status support, or wedged).
- Servers put the core behind real I/O: ``FakeTcpPrinter`` on loopback (threads; it can
  ``vanish()`` and ``reappear()`` on the same port) and ``FakeFdPrinter`` on a file
  descriptor, e.g. the master side of a pty used as a serial port.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from typing import Literal

from kioskd.printer.status import reply_byte

CUT = b"\x1dV"


class FakePrinter:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.printed = bytearray()
        self.held = bytearray()
        self.queries: list[int] = []
        self.paper = "ok"  # ok | near_end | out
        self.cover_open = False
        self.error: str | None = None  # None | cutter | unrecoverable | auto_recoverable
        self.silent = False
        self._tail = b""
        self._out_after: int | None = None
        self.cut_times: list[float] = []  # wall time each cut reached the paper

    # -- scripting -------------------------------------------------------------------------
    def set_state(
        self,
        *,
        paper: str | None = None,
        cover_open: bool | None = None,
        error: str | Literal[False] | None = False,  # False: unchanged
        silent: bool | None = None,
    ) -> None:
        """Change the scripted state; when nothing blocks any more, held bytes are printed."""
        with self.lock:
            if paper is not None:
                self.paper = paper
            if cover_open is not None:
                self.cover_open = cover_open
            if error is not False:
                self.error = error
            if silent is not None:
                self.silent = silent
            self._release()

    def paper_out_after(self, n: int) -> None:
        with self.lock:
            self._out_after = n

    @property
    def blocked(self) -> bool:
        return self.paper == "out" or self.cover_open or self.error is not None

    @property
    def cuts(self) -> int:
        with self.lock:
            return bytes(self.printed).count(CUT)

    # -- device ------------------------------------------------------------------------------
    def status_byte(self, n: int) -> int:
        if n == 1:
            return reply_byte(offline=self.blocked)
        if n == 2:
            return reply_byte(
                cover_open=self.cover_open,
                paper_stop=self.paper == "out",
                error=self.error is not None,
            )
        if n == 3:
            return reply_byte(
                cutter=self.error == "cutter",
                unrecoverable=self.error == "unrecoverable",
                auto_recoverable=self.error == "auto_recoverable",
            )
        return reply_byte(near_end=self.paper == "near_end", paper_out=self.paper == "out")

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the host; return the reply bytes."""
        with self.lock:
            buf = self._tail + data
            self._tail = b""
            replies = bytearray()
            data_out = bytearray()
            i = 0
            while i < len(buf):
                if buf[i] == 0x10:
                    if i + 2 >= len(buf) and buf[i + 1 : i + 2] in (b"", b"\x04"):
                        self._tail = buf[i:]  # maybe a query split across reads
                        break
                    if buf[i + 1] == 0x04 and buf[i + 2] in (1, 2, 3, 4):
                        # The bytes received before the query are taken first: its answer
                        # says what the printer knows once they arrived (in stream order,
                        # also when a job and the status queries after it come in one read).
                        if data_out:
                            self._take(bytes(data_out))
                            data_out.clear()
                        self.queries.append(buf[i + 2])
                        if not self.silent:
                            replies.append(self.status_byte(buf[i + 2]))
                        i += 3
                        continue
                data_out.append(buf[i])
                i += 1
            self._take(bytes(data_out))
            return bytes(replies)

    def _take(self, data: bytes) -> None:
        if self.blocked:
            self.held += data
            return
        if self._out_after is not None and len(data) >= self._out_after:
            self._print(data[: self._out_after])
            self.held += data[self._out_after :]
            self._out_after = None
            self.paper = "out"
            return
        if self._out_after is not None:
            self._out_after -= len(data)
        self._print(data)

    def _print(self, data: bytes) -> None:
        start = max(0, len(self.printed) - 1)  # a cut split across two reads counts once
        self.printed += data
        self.cut_times += [time.time()] * self.printed[start:].count(CUT)

    def _release(self) -> None:
        if not self.blocked and self.held:
            held, self.held = bytes(self.held), bytearray()
            self._take(held)


class FakeTcpPrinter:
    """The core on a loopback TCP port (``uri`` = ``tcp://127.0.0.1:PORT``)."""

    def __init__(self, core: FakePrinter | None = None, host: str = "127.0.0.1", port: int = 0):
        self.core = core or FakePrinter()
        self._host, self._port = host, port
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = False

    @property
    def uri(self) -> str:
        return f"tcp://{self._host}:{self._port}"

    def start(self) -> FakeTcpPrinter:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, self._port))
        listener.listen(4)
        self._port = listener.getsockname()[1]
        self._listener = listener
        self._stopping = False
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._clients.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                reply = self.core.feed(data)
                if reply:
                    conn.sendall(reply)
        except OSError:
            pass
        finally:
            with self._lock:
                self._clients.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def vanish(self) -> None:
        """Unplugged: close every connection and stop listening (connects are refused)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def reappear(self) -> None:
        self.start()

    stop = vanish

    def __enter__(self) -> FakeTcpPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.vanish()


class FakeFdPrinter:
    """The core on a file descriptor (the master side of a pty acting as a serial line)."""

    def __init__(self, fd: int, core: FakePrinter | None = None) -> None:
        self.core = core or FakePrinter()
        self._fd = fd
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> FakeFdPrinter:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while True:
            ready = select.select([self._fd, self._stop_r], [], [])[0]
            if self._stop_r in ready:
                return
            try:
                data = os.read(self._fd, 4096)
            except OSError:
                return  # slave side closed (EIO on a pty)
            if not data:
                return
            reply = self.core.feed(data)
            if reply:
                os.write(self._fd, reply)

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        os.close(self._stop_r)
        os.close(self._stop_w)

    def __enter__(self) -> FakeFdPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
