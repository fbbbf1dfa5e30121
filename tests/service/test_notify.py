"""sd_notify over a real datagram socket (path and abstract), and the watchdog interval."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from kioskd.daemon.notify import Notifier, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path: Path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(5)
    yield str(tmp_path / "notify.sock"), sock
    sock.close()


def recv(sock: socket.socket) -> dict[str, str]:
    text = sock.recv(4096).decode("utf-8")
    assert text.endswith("\n")
    return dict(line.split("=", 1) for line in text.splitlines())


def test_no_socket_is_a_noop() -> None:
    n = Notifier({})
    assert not n.enabled
    assert n.ready() is False and n.watchdog() is False


def test_ready_status_watchdog_stopping(notify_socket) -> None:
    path, sock = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.ready("ready · 0 queued · printer ok · API ok")
    assert recv(sock) == {"READY": "1", "STATUS": "ready - 0 queued - printer ok - API ok"}
    assert n.status("offline · 2 queued")
    assert recv(sock) == {"STATUS": "offline - 2 queued"}
    assert n.watchdog()
    assert recv(sock) == {"WATCHDOG": "1"}
    assert n.stopping()
    assert recv(sock)["STOPPING"] == "1"
    with pytest.raises(ValueError):
        n.status("two\nlines")


def test_status_text_goes_out_as_ascii_through_sdnotify(notify_socket) -> None:
    """sdnotify encodes Latin-1: the text is made ASCII first, so nothing is lost silently."""
    import sdnotify

    path, sock = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.status("attention · journal: disk full — /var/lib/kioskd/año €5 ✓ 日本")
    raw = sock.recv(4096)
    assert raw.isascii()
    assert raw == b"STATUS=attention - journal: disk full - /var/lib/kioskd/ano EUR5  \n"
    assert isinstance(n._notifier, sdnotify.SystemdNotifier)


def test_a_vanished_socket_is_found_again(tmp_path: Path) -> None:
    """systemd re-executing re-creates its socket: the next send connects again."""
    path = tmp_path / "notify.sock"
    first = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    first.bind(str(path))
    n = Notifier({"NOTIFY_SOCKET": str(path)})
    assert n.watchdog()
    first.close()
    path.unlink()
    assert n.watchdog() is False
    again = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    again.bind(str(path))
    again.settimeout(5)
    try:
        assert n.watchdog()
        assert recv(again) == {"WATCHDOG": "1"}
    finally:
        again.close()


def test_reloading_sends_monotonic_usec(notify_socket) -> None:
    path, sock = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    msg = recv(sock)
    assert msg["RELOADING"] == "1"
    assert before <= int(msg["MONOTONIC_USEC"]) <= after


def test_abstract_socket() -> None:
    name = f"kioskd-test-{os.getpid()}-{id(object())}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert recv(sock) == {"READY": "1"}
    finally:
        sock.close()


def test_send_failure_is_swallowed(tmp_path: Path) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.enabled and n.watchdog() is False


def test_watchdog_interval() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, pid=42) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "41"}, pid=42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "abc"}) is None


def test_a_full_notify_socket_never_blocks_the_caller(tmp_path):
    """Nobody drains the socket: sends fail fast (False) instead of stalling the event loop."""
    import socket
    import time

    from kioskd.daemon.notify import Notifier

    path = tmp_path / "notify.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    try:
        n = Notifier({"NOTIFY_SOCKET": str(path)})
        started = time.monotonic()
        results = [n.status(f"ready · {i} queued · printer ok · API ok") for i in range(5000)]
        assert time.monotonic() - started < 5.0
        assert results[0] is True
        assert results[-1] is False  # the buffer filled up and the datagram was dropped
    finally:
        receiver.close()
