"""Printer transports chosen by URI, each with a finite timeout on every write and read.

URIs:
  ``tcp://HOST:PORT``                      raw socket (port 9100 on most network printers)
  ``serial:///dev/ttyUSB0?baudrate=19200`` pyserial; also ``bytesize``, ``parity`` (N/E/O),
                                           ``stopbits``, ``rtscts``, ``xonxoff``, ``dsrdtr``
  ``file:///dev/usb/lp0[?read=1]``         a device node or plain file (``usblp``); ``read=1``
                                           also reads status replies from it
  ``usb://VID:PID[?serial=...&in_ep=0x82&out_ep=0x01]``  libusb via python-escpos + pyusb

Rules:
- Every operation ends within its timeout: ``write`` raises ``TransportError`` when the
  printer stops taking bytes, ``read_byte`` returns None when nothing came. A transport that
  raised is closed by the worker and re-opened with backoff.
- ``drain`` discards bytes already waiting (late status replies, ASB messages) before a query,
  so a reply is matched to the query just sent.
- Written by hand for tcp, serial and file because python-escpos's classes read 16 bytes per
  call with no per-read deadline, have no serial write timeout, open files blocking, and have
  no way to drop stale input. For USB, python-escpos does the part worth reusing (finding the
  device, detaching ``usblp``, configuring it); we pass its timeout in milliseconds (its
  default, 0, means "wait forever") and read with an explicit timeout.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    import serial
    from escpos.printer import Usb


class TransportError(OSError):
    """The printer could not be opened, stopped taking bytes, or went away."""


class Transport(Protocol):
    uri: str
    can_read: bool

    def open(self) -> None: ...
    def write(self, data: bytes) -> None: ...
    def read_byte(self, timeout_s: float) -> int | None: ...
    def drain(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class PrinterURI:
    """A parsed `printer.uri`."""

    scheme: str
    target: str  # host:port, device path, or VID:PID
    options: dict[str, str] = field(default_factory=dict)


def parse_uri(uri: str) -> PrinterURI:
    """Split and check a printer URI; raise ValueError naming what is wrong. The one parser:
    `kioskd check-config` validates `printer.uri` with it."""
    parts = urlsplit(uri)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    scheme = parts.scheme.lower()
    if scheme == "tcp":
        if not parts.hostname or parts.port is None:
            raise ValueError(f"tcp printer URI needs host and port: {uri!r}")
        return PrinterURI(scheme, f"{parts.hostname}:{parts.port}", options)
    if scheme in ("serial", "file"):
        path = unquote(parts.path)
        if not path.startswith("/") or parts.netloc:
            # file:relative or file://dev/x would resolve against the working directory
            raise ValueError(
                f"{scheme} printer URI needs an absolute path ({scheme}:///dev/...): {uri!r}"
            )
        return PrinterURI(scheme, path, options)
    if scheme == "usb":
        target = parts.netloc or parts.path.lstrip("/")
        try:
            vid, pid = (int(x, 16) for x in target.split(":"))
        except ValueError:
            raise ValueError(f"usb printer URI needs VID:PID in hex: {uri!r}") from None
        return PrinterURI(scheme, f"{vid:04x}:{pid:04x}", options)
    raise ValueError(f"unknown printer URI scheme {parts.scheme!r} (tcp, serial, file, usb)")


def _flag(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.lower() in ("1", "true", "yes", "on")


class TcpTransport:
    """A raw socket. Non-blocking once connected, every wait a `poll` with the operation's
    own timeout: a status query costs four system calls (drain, send, poll, recv) where
    switching the socket's timeout before each call cost nine (issue 19: a slip's two
    checks ask eight queries)."""

    can_read = True

    def __init__(self, uri: str, host: str, port: int, timeout_s: float) -> None:
        self.uri, self._addr, self._timeout = uri, (host, port), timeout_s
        self._sock: socket.socket | None = None
        self._readable = select.poll()
        self._writable = select.poll()

    def open(self) -> None:
        try:
            sock = socket.create_connection(self._addr, timeout=self._timeout)
        except OSError as exc:
            raise TransportError(f"cannot connect to {self.uri}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self._readable, self._writable = select.poll(), select.poll()
        self._readable.register(sock, select.POLLIN)
        self._writable.register(sock, select.POLLOUT)
        self._sock = sock

    def _live(self) -> socket.socket:
        if self._sock is None:
            raise TransportError(f"{self.uri} is not open")
        return self._sock

    def write(self, data: bytes) -> None:
        sock = self._live()
        view = memoryview(data)
        deadline = time.monotonic() + self._timeout
        try:
            while view:
                try:
                    sent = sock.send(view)
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._writable.poll(left * 1000):
                        raise TransportError(
                            f"write to {self.uri} failed: timed out after {self._timeout:g} s"
                        ) from None
                    continue
                view = view[sent:]
        except TransportError:
            raise
        except OSError as exc:
            raise TransportError(f"write to {self.uri} failed: {exc}") from exc

    def read_byte(self, timeout_s: float) -> int | None:
        sock = self._live()
        try:
            if not self._readable.poll(max(0.0, timeout_s) * 1000):
                return None
            got = sock.recv(1)
        except BlockingIOError:
            return None  # readiness without a byte: nothing came
        except OSError as exc:
            raise TransportError(f"read from {self.uri} failed: {exc}") from exc
        if not got:
            raise TransportError(f"{self.uri} closed the connection")
        return got[0]

    def drain(self) -> None:
        sock = self._live()
        try:
            while True:
                got = sock.recv(256)
                if not got:
                    raise TransportError(f"{self.uri} closed the connection")
        except BlockingIOError:
            pass
        except TransportError:
            raise
        except OSError as exc:
            raise TransportError(f"read from {self.uri} failed: {exc}") from exc

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


class SerialTransport:
    can_read = True

    def __init__(self, uri: str, path: str, options: dict[str, str], timeout_s: float) -> None:
        self.uri, self._path, self._options, self._timeout = uri, path, options, timeout_s
        self._port: serial.Serial | None = None

    def open(self) -> None:
        import serial

        o = self._options
        try:
            self._port = serial.Serial(
                port=self._path,
                baudrate=int(o.get("baudrate", 9600)),
                bytesize=int(o.get("bytesize", 8)),
                parity=o.get("parity", "N").upper(),
                stopbits=float(o.get("stopbits", 1)),
                rtscts=_flag(o.get("rtscts"), False),
                xonxoff=_flag(o.get("xonxoff"), False),
                dsrdtr=_flag(o.get("dsrdtr"), False),
                timeout=self._timeout,
                write_timeout=self._timeout,
                exclusive=True,
            )
        except (OSError, ValueError, serial.SerialException) as exc:
            raise TransportError(f"cannot open {self.uri}: {exc}") from exc

    def _live(self) -> serial.Serial:
        if self._port is None:
            raise TransportError(f"{self.uri} is not open")
        return self._port

    def write(self, data: bytes) -> None:
        import serial

        port = self._live()
        try:
            port.write(data)
            port.flush()
        except (OSError, serial.SerialException) as exc:  # SerialTimeoutException included
            raise TransportError(f"write to {self.uri} failed: {exc}") from exc

    def read_byte(self, timeout_s: float) -> int | None:
        import serial

        port = self._live()
        port.timeout = timeout_s
        try:
            got = port.read(1)
        except (OSError, serial.SerialException) as exc:
            raise TransportError(f"read from {self.uri} failed: {exc}") from exc
        return got[0] if got else None

    def drain(self) -> None:
        import serial

        try:
            self._live().reset_input_buffer()
        except (OSError, serial.SerialException) as exc:
            raise TransportError(f"{self.uri} failed: {exc}") from exc

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(Exception):
                self._port.close()
            self._port = None


class FileTransport:
    """A device node (``/dev/usb/lp0``) or a plain file; non-blocking with a write deadline."""

    def __init__(self, uri: str, path: str, options: dict[str, str], timeout_s: float) -> None:
        self.uri, self._path, self._timeout = uri, path, timeout_s
        self.can_read = _flag(options.get("read"), False)
        self._fd: int | None = None

    def open(self) -> None:
        flags = (os.O_RDWR if self.can_read else os.O_WRONLY) | os.O_NONBLOCK | os.O_CLOEXEC
        if not self.can_read:
            flags |= os.O_APPEND | os.O_CREAT
        try:
            self._fd = os.open(self._path, flags, 0o640)
        except OSError as exc:
            raise TransportError(f"cannot open {self.uri}: {exc}") from exc

    def _live(self) -> int:
        if self._fd is None:
            raise TransportError(f"{self.uri} is not open")
        return self._fd

    def write(self, data: bytes) -> None:
        fd = self._live()
        view = memoryview(data)
        deadline = time.monotonic() + self._timeout
        while view:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                    raise TransportError(f"write to {self.uri} timed out")
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue
            except OSError as exc:
                if isinstance(exc, TransportError):
                    raise
                raise TransportError(f"write to {self.uri} failed: {exc}") from exc

    def read_byte(self, timeout_s: float) -> int | None:
        if not self.can_read:
            return None
        fd = self._live()
        try:
            if not select.select([fd], [], [], timeout_s)[0]:
                return None
            got = os.read(fd, 1)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise TransportError(f"read from {self.uri} failed: {exc}") from exc
        return got[0] if got else None

    def drain(self) -> None:
        if not self.can_read:
            return
        fd = self._live()
        try:
            while select.select([fd], [], [], 0)[0] and os.read(fd, 256):
                pass
        except BlockingIOError:
            pass
        except OSError as exc:
            raise TransportError(f"read from {self.uri} failed: {exc}") from exc

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None


class UsbTransport:
    can_read = True

    def __init__(self, uri: str, target: str, options: dict[str, str], timeout_s: float) -> None:
        self.uri, self._options, self._timeout = uri, options, timeout_s
        self._vid, self._pid = (int(x, 16) for x in target.split(":"))
        self._printer: Usb | None = None
        self._pending = bytearray()

    def open(self) -> None:
        try:
            import usb.core  # noqa: F401  (pyusb: python-escpos's optional USB dependency)
            from escpos.printer import Usb
        except ImportError as exc:
            raise TransportError(f"{self.uri} needs pyusb (pip install pyusb)") from exc
        usb_args: dict[str, str | int] = {}
        if "serial" in self._options:
            usb_args["serial_number"] = self._options["serial"]
        printer = Usb(
            self._vid,
            self._pid,
            usb_args=usb_args,
            timeout=max(1, int(self._timeout * 1000)),  # milliseconds; 0 would mean forever
            in_ep=int(self._options.get("in_ep", "0x82"), 0),
            out_ep=int(self._options.get("out_ep", "0x01"), 0),
        )
        try:
            printer.open()
        except Exception as exc:
            raise TransportError(f"cannot open {self.uri}: {exc}") from exc
        self._printer = printer

    def _live(self) -> Usb:
        if self._printer is None:
            raise TransportError(f"{self.uri} is not open")
        return self._printer

    def write(self, data: bytes) -> None:
        try:
            self._live()._raw(data)
        except TransportError:
            raise
        except Exception as exc:  # usb.core.USBError / USBTimeoutError
            raise TransportError(f"write to {self.uri} failed: {exc}") from exc

    def read_byte(self, timeout_s: float) -> int | None:
        if not self._pending:
            printer = self._live()
            try:
                got = printer.device.read(printer.in_ep, 64, max(1, int(timeout_s * 1000)))
            except Exception as exc:
                if "timed out" in str(exc).lower() or type(exc).__name__ == "USBTimeoutError":
                    return None
                raise TransportError(f"read from {self.uri} failed: {exc}") from exc
            self._pending.extend(bytes(got))
        if not self._pending:
            return None
        byte = self._pending[0]
        del self._pending[0]
        return byte

    def drain(self) -> None:
        self._pending.clear()
        while self.read_byte(0.01) is not None:
            pass

    def close(self) -> None:
        if self._printer is not None:
            with contextlib.suppress(Exception):
                self._printer.close()
            self._printer = None
            self._pending.clear()


def make_transport(uri: str, timeout_s: float = 5.0) -> Transport:
    """The transport for ``uri`` (not opened yet)."""
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive: every printer operation needs a deadline")
    spec = parse_uri(uri)
    if spec.scheme == "tcp":
        host, _, port = spec.target.rpartition(":")
        return TcpTransport(uri, host, int(port), timeout_s)
    if spec.scheme == "serial":
        return SerialTransport(uri, spec.target, spec.options, timeout_s)
    if spec.scheme == "file":
        return FileTransport(uri, spec.target, spec.options, timeout_s)
    return UsbTransport(uri, spec.target, spec.options, timeout_s)
