"""Control socket: newline-delimited JSON over a Unix stream socket, for `kioskctl`.

Protocol: one request per line `{"cmd": "status", "args": {}}`, one answer per line,
`{"ok": true, "result": ...}` or `{"ok": false, "error": "text"}`. A connection may carry any
number of requests. Commands and their arguments (checked here, so the handler gets typed values):

    status                              -> dict (see kioskd.ctl for the fields shown)
    queue         {"limit": int, "since": float (unix s), "state": str, "before": op id}
                  (all optional)        -> list of operations: open first, then the last
                                           `limit` settled (a page; `before` = the last id
                                           shown asks for the next one)
    retry         {"op_id": int}
    resolve       {"op_id": int, "outcome": "applied"|"not-applied", "reason": str,
                   "force": bool (optional: settle even while the probes could still decide)}
    reprint-last, print-test, leds-test   (act directly: never typed into the counter session)
    inject-scan   {"text": str}         (refused unless allow_inject)
    inject-keys   {"text": str}         (refused unless allow_inject)

Rules:
- The daemon provides the handler: an object with one method per command (`status`, `queue`,
  `retry(op_id)`, `resolve(op_id, outcome, reason, actor)`, `reprint_last`, `print_test`,
  `leds_test`, `inject_scan(text)`, `inject_keys(text)`), sync or async, returning JSON-able
  data. `ControlError("text")` from it becomes `{"ok": false, "error": "text"}`; any other
  exception is logged with its traceback and answered `internal error`. Its `close()`, if it
  has one, is called when the server closes.
- A handler may return `Encoded(bytes)`: a result already encoded as JSON (in a worker: the
  queue listing, issue 19), spliced into the answer line as it is, never decoded again; every
  answer, encoded here or there, is held to `MAX_ANSWER`.
- `resolve` gets `actor`, the peer's uid and pid from SO_PEERCRED, for the audit record.
- The socket is created safely: bound under a temporary name, chmod 0660, then renamed into
  place (never a moment at the final path with looser rights); an existing path is removed only
  if it is a socket nobody answers on (stale); a live daemon or a non-socket file is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
# The most one answer may hold (bytes of JSON): a bigger one is refused with a text that says
# how to ask for less, so no request can make the daemon build or send megabytes.
MAX_ANSWER = 1024 * 1024
DEFAULT_SOCKET = "/run/kioskd/control.sock"


class ControlError(Exception):
    """A command failed in a way the operator should read (the text goes back to kioskctl)."""


class SocketInUse(Exception):
    """Another process answers on the control socket (a second daemon)."""


class DaemonNotRunning(Exception):
    """Nothing listens on the control socket."""


class AccessDenied(Exception):
    """The socket exists but this user may not connect (not in group kioskd)."""


@dataclass(frozen=True)
class Encoded:
    """A command's result already encoded as JSON (UTF-8), by whoever could do it off the
    event loop; the server writes it into the answer line unchanged."""

    json: bytes


@dataclass(frozen=True)
class Arg:
    """One argument a control command takes, and what it may be."""

    name: str
    type: type
    choices: tuple[str, ...] | None = None
    nonempty: bool = False
    optional: bool = False  # may be left out: the handler's default applies


# cmd -> (handler method, arguments)
COMMANDS: dict[str, tuple[str, tuple[Arg, ...]]] = {
    "status": ("status", ()),
    "queue": (
        "queue",
        (
            Arg("limit", int, optional=True),
            Arg("since", float, optional=True),
            Arg("state", str, optional=True),
            Arg("before", int, optional=True),
        ),
    ),
    "retry": ("retry", (Arg("op_id", int),)),
    "resolve": (
        "resolve",
        (
            Arg("op_id", int),
            Arg("outcome", str, choices=("applied", "not-applied")),
            Arg("reason", str, nonempty=True),
            Arg("force", bool, optional=True),
        ),
    ),
    "reprint-last": ("reprint_last", ()),
    "print-test": ("print_test", ()),
    "leds-test": ("leds_test", ()),
    "inject-scan": ("inject_scan", (Arg("text", str, nonempty=True),)),
    "inject-keys": ("inject_keys", (Arg("text", str, nonempty=True),)),
}
INJECT_COMMANDS = frozenset({"inject-scan", "inject-keys"})


def check_request(request: object, *, allow_inject: bool) -> tuple[str, str, dict[str, Any]]:
    """Validate a decoded request: (cmd, handler method name, typed kwargs); ControlError if bad."""
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        raise ControlError('a request is {"cmd": "...", "args": {...}}')
    cmd = request["cmd"]
    if cmd not in COMMANDS:
        raise ControlError(f"unknown command {cmd!r}; known: {', '.join(COMMANDS)}")
    if cmd in INJECT_COMMANDS and not allow_inject:
        raise ControlError(f"{cmd} is turned off (control.allow_inject = false)")
    args = request.get("args") or {}
    if not isinstance(args, dict):
        raise ControlError(f"{cmd}: args must be an object")
    method, spec = COMMANDS[cmd]
    known = {a.name for a in spec}
    extra = sorted(set(args) - known)
    if extra:
        raise ControlError(f"{cmd}: unknown argument(s) {', '.join(extra)}")
    kwargs: dict[str, Any] = {}
    for a in spec:
        if a.name not in args and a.optional:
            continue
        if a.name not in args:
            raise ControlError(f"{cmd}: missing argument {a.name}")
        value = args[a.name]
        if a.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, a.type) or (isinstance(value, bool) and a.type is not bool):
            raise ControlError(f"{cmd}: {a.name} must be {a.type.__name__}")
        if a.choices and value not in a.choices:
            raise ControlError(f"{cmd}: {a.name} must be one of {', '.join(a.choices)}")
        if a.nonempty and not str(value).strip():
            raise ControlError(f"{cmd}: {a.name} must not be empty")
        kwargs[a.name] = value
    return cmd, method, kwargs


def peer_credentials(sock: socket.socket) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end (SO_PEERCRED), or None."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def bind_control_socket(path: str | os.PathLike[str], mode: int = 0o660) -> socket.socket:
    """A listening Unix stream socket at `path` with `mode`, created without a loose moment."""
    p = Path(path)
    if p.is_symlink() or p.exists():
        st = os.lstat(p)
        if not stat.S_ISSOCK(st.st_mode):
            raise SocketInUse(f"{p} exists and is not a socket; not removing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(p))
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()  # stale: left by a daemon that died
        else:
            raise SocketInUse(f"another process answers on {p}; is kioskd already running?")
        finally:
            probe.close()
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind(str(tmp))
        os.chmod(tmp, mode)
        os.rename(tmp, p)
        sock.listen(16)
    except BaseException:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    sock.setblocking(False)
    return sock


class ControlServer:
    """Serves the control protocol on `path`, dispatching to `handler`.

    `async with ControlServer(path, handler, allow_inject=cfg.control.allow_inject):` ...
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        handler: object,  # has a method for each command (COMMANDS names it)
        *,
        allow_inject: bool = False,
        mode: int = 0o660,
    ) -> None:
        self.path = Path(path)
        self.handler = handler
        self.allow_inject = allow_inject
        self.mode = mode
        self._server: asyncio.Server | None = None
        self._inode: int | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        sock = bind_control_socket(self.path, self.mode)
        self._inode = os.stat(self.path).st_ino
        self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_LINE)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._conns):
                task.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        closing = getattr(self.handler, "close", None)
        if callable(closing):
            closing()  # what the handler opened for its answers (the journal reader)
        # Remove the path only if it is still ours (a newer daemon may have replaced it).
        with contextlib.suppress(FileNotFoundError):
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        self._inode = None

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def dispatch(self, request: object, actor: str = "unknown") -> dict[str, Any]:
        """Answer one decoded request (also usable without a socket, e.g. by the demo): the
        result is decoded data (an `Encoded` result is decoded here: see `_answer`)."""
        answer = await self._answer(request, actor)
        result = answer.get("result")
        if isinstance(result, Encoded):
            return {**answer, "result": json.loads(result.json)}
        return answer

    async def _answer(self, request: object, actor: str = "unknown") -> dict[str, Any]:
        """One request's answer; its result may be `Encoded` (written as it is)."""
        try:
            cmd, method, kwargs = check_request(request, allow_inject=self.allow_inject)
            if cmd == "resolve":
                kwargs["actor"] = actor
            fn = getattr(self.handler, method, None)
            if fn is None:
                raise ControlError(f"{cmd} is not available in this daemon")
            result = fn(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            return {"ok": True, "result": result}
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception:
            cmd_name = str(request.get("cmd")) if isinstance(request, dict) else "?"
            log.exception("control command failed", extra={"CONTROL_CMD": cmd_name})
            return {"ok": False, "error": "internal error (see the daemon's log)"}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        sock = writer.get_extra_info("socket")
        creds = peer_credentials(sock) if sock is not None else None
        actor = f"uid={creds[1]} pid={creds[0]}" if creds else "unknown"
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    await self._write(writer, {"ok": False, "error": "request line too long"})
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    request = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    answer: dict[str, Any] = {"ok": False, "error": "request is not valid JSON"}
                else:
                    answer = await self._answer(request, actor)
                await self._write(writer, answer)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
        result = answer.get("result")
        if isinstance(result, Encoded):
            raw = b'{"ok": true, "result": ' + result.json + b"}"
        else:
            try:
                data = json.dumps(answer, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                data = json.dumps({"ok": False, "error": "result is not JSON-serialisable"})
            raw = data.encode("utf-8")
        if len(raw) > MAX_ANSWER:
            raw = json.dumps({
                "ok": False,
                "error": f"answer of {len(raw)} bytes is over the {MAX_ANSWER} byte bound: "
                "ask for less (kioskctl queue --limit N)",
            }).encode()  # fmt: skip
        writer.write(raw + b"\n")
        await writer.drain()


# --------------------------------------------------------------------------------------------
# Client (synchronous: kioskctl, tests, scripts)


def call(
    path: str | os.PathLike[str],
    cmd: str,
    args: dict[str, Any] | None = None,
    *,
    timeout: float = 30.0,
) -> Any:
    """Send one request and return its result; ControlError with the daemon's text on failure,
    DaemonNotRunning / AccessDenied when the socket cannot be reached."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(os.fspath(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonNotRunning(
                f"kioskd is not running (no answer on {os.fspath(path)}: {exc.strerror})"
            ) from None
        except PermissionError:
            raise AccessDenied(
                f"permission denied on {os.fspath(path)}: run as root or a member of group kioskd"
            ) from None
        request = {"cmd": cmd, "args": args or {}}
        sock.sendall(json.dumps(request).encode("utf-8") + b"\n")
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ControlError("the daemon closed the connection without an answer")
            buf += chunk
    except TimeoutError:
        raise ControlError(f"no answer from the daemon within {timeout:g} s") from None
    finally:
        sock.close()
    try:
        answer = json.loads(buf)
    except json.JSONDecodeError:
        raise ControlError("the daemon's answer is not valid JSON") from None
    if not isinstance(answer, dict) or "ok" not in answer:
        raise ControlError("the daemon's answer has no 'ok' field")
    if not answer["ok"]:
        raise ControlError(str(answer.get("error", "unknown error")))
    return answer.get("result")
