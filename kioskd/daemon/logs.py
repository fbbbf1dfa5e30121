"""Structured logging: journald's native protocol under systemd, `key=value` lines on stderr.

Rules:
- Fields ride on the record as upper-case attributes:
  `log.info("sale done", extra={"OP_ID": 7, "TICKET_NUMBER": 32426439, "MESSAGE_ID": SALE_DONE})`.
  Any attribute named like a journal field (`^[A-Z][A-Z0-9_]*$`) becomes a field; `TERMINAL_ID`
  is added to every entry by `setup_logging`.
- Under systemd the entry goes to `/run/systemd/journal/socket` as one datagram in the native
  protocol, so a multi-line message or a traceback is one entry with its fields (through the
  stderr pipe journald would split it into lines and lose the fields). Written by hand
  (~60 lines, `encode_entry` / `JournalHandler._send`) rather than through python-systemd,
  which needs the compiled libsystemd bindings that a venv on a Pi cannot pip-install without
  build tools. Oversized entries go through a sealed memfd, as libsystemd does.
- Nothing secret leaves the process: `RedactingFilter` sits on every handler, drops every field
  whose name has a PIN/PASSWORD/TOKEN/SECRET part, masks `pin=...`, `password: ...`,
  `"x_auth_token": "..."` forms in the text and the traceback, and masks every value registered
  with `register_secret` (the daemon registers the API password; each registered value costs
  every log line a lookup, so the set is bounded and holds no per-sale values).
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import functools
import logging
import os
import re
import socket
import struct
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

JOURNAL_SOCKET = "/run/systemd/journal/socket"

# Stable MESSAGE_IDs (journalctl MESSAGE_ID=...): never change a value once shipped.
SALE_DONE = "f49cae78daa840c1890a8382e9f96548"
PAYMENT_DONE = "e313d410e351405681aa3acc1337714d"
CANCEL_DONE = "3b2a73ce3e674031b923b04fea06458d"
OP_IN_DOUBT = "9247c7182c4a4d5b9de21da738a88cd4"
OP_RESOLVED = "03d60ddc825840678d9f17e67d38c290"
CONFLICT = "acd852a47d364ae6868f6c794313c8fa"
FOREIGN_TICKET = "0cfc3aa3110a4705bf314405c089cb1a"
PRINTER_PAPER_OUT = "fadf26c37f6b4eca8fa7f5619f26184f"
PRINTER_OFFLINE = "39159bdd9ae84c2e87b7d19813189e74"
DEVICE_CONNECTED = "a19dd8d0fe034aa1a9c1b50b182aa8fc"
DEVICE_LOST = "e4f0ff54fda24f1a9f6cf3cfbecae23e"
CONFIG_RELOADED = "26513af3e9d94ffe97a573d0ccc7ce6b"
CONFIG_REJECTED = "6d4e384e466d4844bbc796c6754b2efa"
JOURNAL_ATTENTION = "030e39511fb54981a89f7beef9cd0cae"
JOURNAL_RECOVERED = "5c1f0b7e2d6a4f0e9a3b8c4d7e6f1a20"
DAEMON_STARTED = "811a5072564c46f7b86a03d2e48fdb8c"
DAEMON_STOPPING = "3b02c2dc81d74b81bed7b58e1efee392"
SERVER_CLOCK = "0b9c02326cdb4328a8ae14ba78fa527f"

MESSAGE_IDS: Mapping[str, str] = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value)
}

FIELD_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_SECRET_PART = r"(?:pin|password|passwd|pwd|token|secret|supervisor[_-]code)"
_SECRET_NAME = re.compile(r"(?i)(?:^|[_-])" + _SECRET_PART + r"(?:$|[_-])")
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b((?:[a-z0-9]+[_-])*" + _SECRET_PART + r"(?:[_-][a-z0-9]+)*)"
    r"""(["']?\s*[:=]\s*["']?)([^\s,"'}&;)]+)"""
)
MASK = "********"
LONG_SECRET = 12  # registered secrets this long are masked wherever they occur

# logging level -> syslog priority
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


def is_secret_name(name: str) -> bool:
    """True for `PIN`, `pin_number`, `API_PASSWORD`, `x-auth-token`, `SUPERVISOR_CODE`..."""
    return bool(_SECRET_NAME.search(name))


class Redactor:
    """Masks secret values. Registered values are kept in a bounded most-recent set (PINs pass
    through all day; the API password is registered as permanent)."""

    def __init__(self, max_values: int = 4096) -> None:
        self._lock = threading.Lock()
        self._permanent: set[str] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._max = max_values
        # Every registered value, longest first, made again at each `add` (under the lock) and
        # read by `redact` without it: a log line no longer joins and sorts the sets (two or
        # three lines a sale, up to four redactions each; issue 19).
        self._values: tuple[str, ...] = ()

    def add(self, value: str | int, *, permanent: bool = False) -> None:
        text = str(value)
        if len(text) < 4:
            return  # masking "12" everywhere would destroy the log and protect nothing
        with self._lock:
            if permanent:
                self._permanent.add(text)
            else:
                self._recent[text] = None
                self._recent.move_to_end(text)
                while len(self._recent) > self._max:
                    self._recent.popitem(last=False)
            every = self._permanent | set(self._recent)
            self._values = tuple(sorted(every, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """Mask secrets where they stand as values, not every substring of ordinary text.

        - `name=value`, `name: value`, JSON `"password": "..."` by the field's name;
        - a registered secret that is long (LONG_SECRET characters or more) or all digits (a
          PIN, also inside a scanned code) wherever it occurs: it cannot be ordinary text;
        - a short registered secret only as a whole token in a value's place: after `=`, `:`
          or a quote (key=value, JSON, `user:secret@host` in URLs, reprs in tracebacks).
          Masking every occurrence of a short common word ("******** login ok",
          "username@***.net") would tell a reader the password by where it was masked."""
        text = _SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
        for value in self._values:  # one read of the tuple `add` made
            if value not in text:
                continue
            if len(value) >= LONG_SECRET or value.isdigit():
                text = text.replace(value, MASK)
            else:
                text = _short_secret(value).sub(MASK, text)
        return text


REDACTOR = Redactor()


@functools.lru_cache(maxsize=64)
def _short_secret(value: str) -> re.Pattern[str]:
    """A short secret as a whole token in a value's place (see `Redactor.redact`)."""
    return re.compile(r"(?<=[=:\"'])" + re.escape(value) + r"(?![A-Za-z0-9_.-])")


def register_secret(value: str | int, *, permanent: bool = False) -> None:
    """Never let `value` reach a log (a PIN read from a scan, the API password...)."""
    REDACTOR.add(value, permanent=permanent)


class RedactingFilter(logging.Filter):
    """Rewrites each record in place: message and traceback masked, secret fields dropped."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_kioskd_redacted", False):
            record.msg = self.redactor.redact(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redactor.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = self.redactor.redact(record.stack_info)
            for name in list(vars(record)):
                if name in _STANDARD_ATTRS:
                    continue
                kind = _attribute_kind(name)
                if kind == _SECRET:
                    delattr(record, name)
                elif kind == _FIELD:
                    value = getattr(record, name)
                    if isinstance(value, str):
                        setattr(record, name, self.redactor.redact(value))
            record._kioskd_redacted = True
        return True


_SECRET, _FIELD, _OTHER = "secret", "field", "other"


@functools.lru_cache(maxsize=256)
def _attribute_kind(name: str) -> str:
    """What a record's own attribute is: a secret's name (dropped), a journal field (its text
    redacted) or neither. Decided once per name (a program logs a few dozen names; the two
    patterns ran for each field of each line)."""
    if is_secret_name(name):
        return _SECRET
    return _FIELD if FIELD_NAME.match(name) else _OTHER


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "_kioskd_redacted",
}


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The journal-style fields carried on a record (upper-case attributes)."""
    return {
        name: value
        for name, value in vars(record).items()
        if name not in _STANDARD_ATTRS and value is not None and FIELD_NAME.match(name)
    }


def _full_message(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        text = f"{text}\n{record.exc_text}"
    if record.stack_info:
        text = f"{text}\n{record.stack_info}"
    return text


# --------------------------------------------------------------------------------------------
# Native journal protocol


def encode_entry(fields: Mapping[str, object]) -> bytes:
    """Encode fields in journald's native format: `KEY=value\\n`, or, for a value holding a
    newline (or any byte journald would misread), `KEY\\n` + little-endian u64 length + value
    + `\\n`."""
    out = bytearray()
    for name, value in fields.items():
        if not FIELD_NAME.match(name):
            raise ValueError(f"invalid journal field name {name!r}")
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Sends each record as one journal entry to `socket_path` (a Unix datagram socket)."""

    def __init__(
        self,
        socket_path: str = JOURNAL_SOCKET,
        *,
        identifier: str = "kioskd",
        static_fields: Mapping[str, object] | None = None,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.socket_path = socket_path
        self.identifier = identifier
        self.static_fields = dict(static_fields or {})
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.addFilter(RedactingFilter())

    def fields_for(self, record: logging.LogRecord) -> dict[str, object]:
        fields: dict[str, object] = {
            "MESSAGE": _full_message(record),
            "PRIORITY": _PRIORITY.get(record.levelno, 2 if record.levelno > 40 else 6),
            "SYSLOG_IDENTIFIER": self.identifier,
            "LOGGER": record.name,
            "CODE_FILE": record.pathname,
            "CODE_LINE": record.lineno,
            "CODE_FUNC": record.funcName,
        }
        fields.update(self.static_fields)
        fields.update(record_fields(record))
        return fields

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send(encode_entry(self.fields_for(record)))
        except Exception:
            self.handleError(record)

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendto(data, self.socket_path)
            return
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
        # Too big for one datagram: hand journald a sealed memfd holding the entry.
        fd = os.memfd_create("kioskd-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(fd, data)
            seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
            rights = array.array("i", [fd]).tobytes()
            self._sock.sendmsg(
                [], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, rights)], 0, self.socket_path
            )
        finally:
            os.close(fd)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        super().close()


# --------------------------------------------------------------------------------------------
# stderr


_NEEDS_QUOTES = re.compile(r'[ "=\n\t]')


def _quote(value: object) -> str:
    text = str(value)
    if not text or _NEEDS_QUOTES.search(text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    """`2024-10-22 09:30:01,123 INFO kioskd.outbox: sale done OP_ID=7 TICKET_NUMBER=3242...`"""

    def __init__(self, static_fields: Mapping[str, object] | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.static_fields = dict(static_fields or {})

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record)
        line = self.formatMessage(record)
        fields = {**self.static_fields, **record_fields(record)}
        if fields:
            line += " " + " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


# --------------------------------------------------------------------------------------------
# Set-up


def journal_wanted(
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    socket_path: str = JOURNAL_SOCKET,
) -> bool:
    """True when stderr is connected to the journal (systemd sets `$JOURNAL_STREAM` to its
    `device:inode`) and the native socket exists. A person running `kioskd run` in a terminal
    on the same machine keeps seeing logs on the terminal."""
    env = os.environ if environ is None else environ
    if not Path(socket_path).exists():
        return False
    want = env.get("JOURNAL_STREAM", "")
    if not want:
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return want == f"{st.st_dev}:{st.st_ino}"


_installed: list[logging.Handler] = []


def setup_logging(
    level: str = "info",
    target: str = "auto",
    *,
    terminal_id: str | None = None,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    socket_path: str = JOURNAL_SOCKET,
    logger: logging.Logger | None = None,
) -> logging.Handler:
    """Install one handler on the root logger (replacing the one installed before, so a config
    reload may call it again). Returns the handler."""
    root = logger or logging.getLogger()
    for old in _installed:
        root.removeHandler(old)
        old.close()
    _installed.clear()
    for stray in list(root.handlers):
        # A library's import-time `logging.basicConfig()` (python-escpos does it) adds a plain
        # stderr handler: every line twice, the second copy without redaction.
        fmt = getattr(stray.formatter, "_fmt", None)
        if type(stray) is logging.StreamHandler and fmt == logging.BASIC_FORMAT:
            root.removeHandler(stray)
    static = {"TERMINAL_ID": terminal_id} if terminal_id else {}
    use_journal = target == "journald" or (
        target == "auto" and journal_wanted(environ, stream, socket_path)
    )
    handler: logging.Handler
    if use_journal:
        handler = JournalHandler(socket_path, static_fields=static)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(KeyValueFormatter(static))
        handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Neither way of writing shows a record's thread, process or process name (journald takes
    # the pid from the socket itself): not gathered for each record (a system call and two
    # lookups a line, three lines a sale; issue 19).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # httpx writes a line of its own at INFO for every request ("HTTP Request: POST ... 201
    # Created"); the client logs each exchange itself (DEBUG when it went well, WARNING
    # otherwise), so at info that line only repeated it, at a cost in every sale's CPU and in
    # journal bytes (issue 19). At debug it is kept.
    chosen = root.getEffectiveLevel()
    logging.getLogger("httpx").setLevel(logging.WARNING if chosen > logging.DEBUG else chosen)
    _installed.append(handler)
    return handler
