"""Control socket and kioskctl against a real Unix socket with a stub handler."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from kioskd import ctl
from kioskd.daemon import control


class StubHandler:
    """Stands in for the daemon: records calls, answers like it would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    async def status(self) -> dict:
        self.calls.append(("status", {}))
        return {
            "version": "0.1.0",
            "state": "ready",
            "printer": {"state": "ok", "paper": "ok"},
            "queue": {"queued": 0, "in_doubt": 1},
            "oldest_in_doubt_s": 42,
        }

    def queue(self) -> list:  # a sync method works too
        return [
            {
                "id": 7,
                "kind": "create",
                "state": "in_doubt",
                "amount": 30,
                "ticket_number": None,
                "created_at": 1729587036,
                "deadline": 1729587156,
                "history": [{"at": 1729587036, "state": "sending", "note": "attempt 1"}],
            }
        ]

    async def retry(self, op_id: int) -> dict:
        if op_id == 404:
            raise control.ControlError("no operation 404")
        self.calls.append(("retry", {"op_id": op_id}))
        return {"op_id": op_id, "state": "queued"}

    async def resolve(
        self, op_id: int, outcome: str, reason: str, actor: str, force: bool = False
    ) -> None:
        args = {"op_id": op_id, "outcome": outcome, "reason": reason, "actor": actor}
        self.calls.append(("resolve", {**args, "force": force}))

    async def inject_scan(self, text: str) -> None:
        self.calls.append(("inject_scan", {"text": text}))

    async def leds_test(self) -> None:
        raise RuntimeError("gpio on fire")


async def in_thread(fn, *args):
    return await asyncio.to_thread(fn, *args)


@pytest.fixture
async def server(tmp_path: Path):
    handler = StubHandler()
    srv = control.ControlServer(tmp_path / "control.sock", handler, allow_inject=True)
    async with srv:
        yield srv, handler


async def test_socket_mode_and_removed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    async with control.ControlServer(path, StubHandler()):
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert [p.name for p in tmp_path.iterdir()] == ["control.sock"]  # no temp name left
    assert not path.exists()


async def test_status_and_queue_round_trip(server) -> None:
    srv, handler = server
    result = await in_thread(control.call, srv.path, "status")
    assert result["state"] == "ready"
    assert handler.calls == [("status", {})]
    ops = await in_thread(control.call, srv.path, "queue")
    assert ops[0]["id"] == 7


async def test_many_requests_on_one_connection(server) -> None:
    srv, _ = server

    def talk() -> list[dict]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(srv.path))
            s.sendall(b'{"cmd": "status"}\n\nnot json\n{"cmd": "retry", "args": {"op_id": "x"}}\n')
            f = s.makefile("rb")
            return [json.loads(f.readline()) for _ in range(3)]

    a, b, c = await in_thread(talk)
    assert a["ok"] is True
    assert b == {"ok": False, "error": "request is not valid JSON"}
    assert c == {"ok": False, "error": "retry: op_id must be int"}


async def test_errors_from_handler_and_validation(server) -> None:
    srv, handler = server
    with pytest.raises(control.ControlError, match="no operation 404"):
        await in_thread(control.call, srv.path, "retry", {"op_id": 404})
    with pytest.raises(control.ControlError, match="unknown command 'explode'"):
        await in_thread(control.call, srv.path, "explode")
    with pytest.raises(control.ControlError, match="outcome must be one of applied, not-applied"):
        await in_thread(
            control.call, srv.path, "resolve", {"op_id": 1, "outcome": "maybe", "reason": "x"}
        )
    with pytest.raises(control.ControlError, match="internal error"):
        await in_thread(control.call, srv.path, "leds-test")
    with pytest.raises(control.ControlError, match="not available"):
        await in_thread(control.call, srv.path, "print-test")
    assert handler.calls == []


async def test_resolve_gets_peer_as_actor(server) -> None:
    srv, handler = server
    await in_thread(
        control.call, srv.path, "resolve", {"op_id": 3, "outcome": "applied", "reason": "seen"}
    )
    ((name, kwargs),) = handler.calls
    assert name == "resolve"
    assert kwargs["actor"] == f"uid={os.getuid()} pid={os.getpid()}"
    assert kwargs["force"] is False


async def test_resolve_passes_force_and_refuses_a_non_boolean(server) -> None:
    srv, handler = server
    args = {"op_id": 3, "outcome": "applied", "reason": "seen", "force": True}
    await in_thread(control.call, srv.path, "resolve", args)
    assert handler.calls[-1][1]["force"] is True
    with pytest.raises(control.ControlError, match="force must be bool"):
        await in_thread(control.call, srv.path, "resolve", {**args, "force": 1})


async def test_inject_refused_when_not_allowed(tmp_path: Path) -> None:
    handler = StubHandler()
    async with control.ControlServer(tmp_path / "c.sock", handler, allow_inject=False) as srv:
        with pytest.raises(control.ControlError, match="allow_inject"):
            await in_thread(control.call, srv.path, "inject-scan", {"text": "123"})
    assert handler.calls == []


async def test_stale_socket_replaced_live_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # a dead daemon's socket file, nobody listening
    async with control.ControlServer(path, StubHandler()):
        assert (await in_thread(control.call, path, "status"))["state"] == "ready"
        with pytest.raises(control.SocketInUse, match="already running"):
            await control.ControlServer(path, StubHandler()).start()
    regular = tmp_path / "file.sock"
    regular.write_text("not a socket")
    with pytest.raises(control.SocketInUse, match="not a socket"):
        await control.ControlServer(regular, StubHandler()).start()
    assert regular.read_text() == "not a socket"


def test_call_when_daemon_not_running(tmp_path: Path) -> None:
    with pytest.raises(control.DaemonNotRunning):
        control.call(tmp_path / "absent.sock", "status")


# --- kioskctl ---------------------------------------------------------------------------------


async def run_ctl(capsys, *argv: str) -> tuple[int, str, str]:
    rc = await in_thread(ctl.main, list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


async def test_kioskctl_status_readable_and_json(server, capsys) -> None:
    srv, _ = server
    rc, out, _ = await run_ctl(capsys, "--socket", str(srv.path), "status")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["version:", "0.1.0"]
    assert "  paper: ok" in lines
    assert any(line.startswith("oldest_in_doubt_s:") and line.endswith("42 s") for line in lines)
    rc, out, _ = await run_ctl(capsys, "--socket", str(srv.path), "status", "--json")
    assert rc == 0 and json.loads(out)["queue"] == {"queued": 0, "in_doubt": 1}


async def test_kioskctl_queue_shows_history(server, capsys) -> None:
    srv, _ = server
    rc, out, _ = await run_ctl(capsys, "--socket", str(srv.path), "queue")
    assert rc == 0
    header, row, hist = out.splitlines()
    assert header.split() == ["ID", "KIND", "STATE", "AMOUNT", "TICKET", "CREATED", "DEADLINE"]
    assert row.split()[:5] == ["7", "create", "in_doubt", "30", "-"]
    assert hist.strip().endswith("sending attempt 1")


def test_queue_history_lines_show_time_event_states_and_detail() -> None:
    from kioskd.ctl import format_queue

    op = {
        "id": 3, "kind": "create", "state": "in_doubt", "amount": 5, "ticket_number": None,
        "created_at": 1_700_000_000.0, "deadline": 1_700_000_180.0,
        "history": [
            {"at": 1_700_000_000.0, "kind": "transition", "event": None, "from": None,
             "to": "sending", "detail": {}},
            {"at": 1_700_000_001.0, "kind": "attempt", "event": "ambiguous", "from": "sending",
             "to": "in_doubt", "detail": {"reason": "InDoubt: no answer", "request_over": False}},
        ],
    }  # fmt: skip
    first, second = format_queue([op]).splitlines()[2:]
    assert "?" not in first + second
    assert first.split()[2:] == ["transition", "-", "->", "sending"]
    assert second.split()[2:6] == ["ambiguous", "sending", "->", "in_doubt"]
    assert second.endswith("InDoubt: no answer; request_over=False")


async def test_kioskctl_commands_map_to_requests(server, capsys) -> None:
    srv, handler = server
    sock = ["--socket", str(srv.path)]
    assert (await run_ctl(capsys, *sock, "retry", "5"))[0] == 0
    rc, _, _ = await run_ctl(
        capsys, *sock, "resolve", "6", "--as", "not-applied", "--reason", "no ticket in report"
    )
    assert rc == 0
    assert (await run_ctl(capsys, *sock, "inject", "scan", "3242643976479163"))[0] == 0
    assert [c[0] for c in handler.calls] == ["retry", "resolve", "inject_scan"]
    assert handler.calls[1][1]["outcome"] == "not-applied"
    assert handler.calls[2][1] == {"text": "3242643976479163"}
    rc, _, err = await run_ctl(capsys, *sock, "retry", "404")
    assert rc == ctl.EXIT_FAILED and "no operation 404" in err


def test_kioskctl_not_running_and_usage(tmp_path: Path, capsys) -> None:
    rc = ctl.main(["--socket", str(tmp_path / "none.sock"), "status"])
    assert rc == ctl.EXIT_NOT_RUNNING
    assert "kioskd is not running" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        ctl.main(["resolve", "1", "--as", "maybe", "--reason", "x"])
    assert exc.value.code == 2


async def test_queue_arguments_reach_the_handler_and_big_answers_are_refused(tmp_path) -> None:
    class Big:
        def __init__(self) -> None:
            self.got: dict = {}

        def queue(self, **kw) -> list:
            self.got = kw
            return [{"id": i, "blob": "x" * 1000} for i in range(kw.get("limit", 1) * 10)]

    handler = Big()
    srv = control.ControlServer(tmp_path / "c.sock", handler)
    await srv.start()
    try:
        ops = await in_thread(
            control.call, srv.path, "queue", {"limit": 3, "since": 5, "state": "done"}
        )
        assert len(ops) == 30
        assert handler.got == {"limit": 3, "since": 5.0, "state": "done"}
        with pytest.raises(control.ControlError, match=r"byte bound.*--limit"):
            await in_thread(control.call, srv.path, "queue", {"limit": 200})
        with pytest.raises(control.ControlError, match="limit must be int"):
            await in_thread(control.call, srv.path, "queue", {"limit": "all"})
    finally:
        await srv.close()


def test_kioskctl_queue_flags_become_arguments() -> None:
    args = ctl.build_parser().parse_args(
        ["queue", "--limit", "5", "--state", "done", "--before", "99", "--since", "2h"]
    )
    cmd, req = ctl.request_for(args)
    assert cmd == "queue" and req["limit"] == 5 and req["state"] == "done"
    assert req["before"] == 99 and isinstance(req["since"], float)
    assert ctl.parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert ctl.parse_since("2026-12-01") > 0
    with pytest.raises(ValueError, match="--since"):
        ctl.parse_since("yesterday")
    assert ctl.request_for(ctl.build_parser().parse_args(["queue"])) == ("queue", {})


class EncodedHandler:
    """A handler whose results come encoded already (as the daemon's `queue` does)."""

    def __init__(self, size: int) -> None:
        self.size = size

    async def queue(self) -> control.Encoded:
        return control.Encoded(json.dumps([{"id": 1, "note": "é" * self.size}]).encode())


async def test_an_encoded_result_is_written_as_it_is_and_held_to_the_bound(tmp_path) -> None:
    async with control.ControlServer(tmp_path / "a.sock", EncodedHandler(10)) as srv:
        got = await in_thread(control.call, srv.path, "queue")
        assert got == [{"id": 1, "note": "é" * 10}]
        assert (await srv.dispatch({"cmd": "queue"}))["result"] == got  # decoded for callers
    big = EncodedHandler(control.MAX_ANSWER)
    async with control.ControlServer(tmp_path / "b.sock", big) as srv:
        with pytest.raises(control.ControlError, match=r"over the .* byte bound"):
            await in_thread(control.call, srv.path, "queue")
