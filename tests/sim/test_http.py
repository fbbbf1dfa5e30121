"""The simulator over real loopback HTTP (uvicorn): endpoints, faults, outages, the command."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from kioskd.clock import VirtualClock
from kioskd.proving.sim.server import SimServer
from kioskd.proving.sim.simulator import DEFAULT_START, Simulator

from .helpers import EMAIL, PASSWORD


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=3, clock=VirtualClock(DEFAULT_START))


@pytest.fixture
def server(sim: Simulator):
    with SimServer(sim) as srv:
        yield srv


def client(server: SimServer, read: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=httpx.Timeout(5.0, read=read))


def login(c: httpx.Client) -> dict[str, str]:
    r = c.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert r.status_code == 200
    return {"x-auth-token": r.json()["response"]["x_auth_token"]}


def sale(sim: Simulator) -> dict:
    ev = sim.open_events()[1]
    return {"ticket": {"wagers": [{"amount": 5, "event_id": ev, "game_id": 1, "wager": "341"}]}}


def tickets(sim: Simulator) -> int:
    return len(sim.ledger()["tickets"])


def test_sell_and_look_up_over_http(server: SimServer, sim: Simulator):
    with client(server) as c:
        h = login(c)
        r = c.post("/user/ticket/create", json=sale(sim), headers=h)
        assert r.status_code == 201 and r.headers["content-type"] == "application/json"
        t = r.json()["response"]
        r = c.post("/user/ticket", json={"ticket_number": t["ticket_number"], "date": "2024-10-22"},
                   headers=h)  # fmt: skip
        assert r.json() == {"status": 201, "response": t}
        assert c.post("/gaming/get-data").status_code == 403
        ledger = c.get("/_sim/ledger").json()
        assert ledger["tickets"][0]["pin_number"] == t["pin_number"]


def test_arrivals_are_noted_faulted_or_not(server: SimServer, sim: Simulator):
    """Benches time "Enter -> first send" by what reached the server: every Banklot call is
    noted when asked for, one that is dropped before commit too; admin calls are not."""
    assert sim.arrivals is None
    sim.record_arrivals()
    with client(server) as c:
        h = login(c)
        sim.arm_fault("/user/ticket/create", "drop_before_commit")
        before = time.time()
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            c.post("/user/ticket/create", json=sale(sim), headers=h)
        c.get("/_sim/ledger")
    assert sim.arrivals is not None
    paths = [path for _at, path, _body in sim.arrivals]
    assert paths == ["/auth/login", "/user/ticket/create"]
    at, _path, body = sim.arrivals[1]
    assert before <= at <= time.time() and b'"wager":' in body.replace(b" ", b"")
    assert tickets(sim) == 0


def test_commit_then_drop_closes_the_connection(server: SimServer, sim: Simulator):
    with client(server) as c:
        h = login(c)
        sim.arm_fault("/user/ticket/create", "commit_then_drop")
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            c.post("/user/ticket/create", json=sale(sim), headers=h)
        assert tickets(sim) == 1
        assert c.post("/user/ticket/last", headers=h).status_code == 202  # server still fine


def test_hang_never_answers_and_applies_nothing(server: SimServer, sim: Simulator):
    with client(server, read=0.3) as c:
        h = login(c)
        sim.arm_fault("/user/ticket/create", "hang")
        with pytest.raises(httpx.ReadTimeout):
            c.post("/user/ticket/create", json=sale(sim), headers=h)
    assert tickets(sim) == 0
    server.stop()  # a hanging request must not keep the server from stopping
    assert not server.running


def test_delay_commits_after_the_client_gave_up(server: SimServer, sim: Simulator):
    with client(server, read=0.1) as c:
        h = login(c)
        sim.arm_fault("/user/ticket/create", "delay", delay_s=0.4)
        with pytest.raises(httpx.ReadTimeout):
            c.post("/user/ticket/create", json=sale(sim), headers=h)
    for _ in range(200):  # the server still sells once its delay is over
        if tickets(sim):
            break
        time.sleep(0.02)
    assert tickets(sim) == 1


@pytest.mark.parametrize(
    ("mode", "status", "applied"),
    [("commit_then_504", 504, 1), ("html_error", 502, 0), ("malformed", 201, 1),
     ("empty_body", 200, 1), ("fail_before_commit", 500, 0), ("wrong_types", 201, 1)],
)  # fmt: skip
def test_answer_faults_over_http(server: SimServer, sim: Simulator, mode, status, applied):
    with client(server) as c:
        h = login(c)
        sim.arm_fault("/user/ticket/create", mode)
        r = c.post("/user/ticket/create", json=sale(sim), headers=h)
        assert r.status_code == status
        assert tickets(sim) == applied
        if mode in ("malformed", "empty_body"):
            with pytest.raises(ValueError):
                r.json()


def test_huge_body_over_http(server: SimServer, sim: Simulator):
    with client(server) as c:
        h = login(c)
        sim.arm_fault("/gaming/get-data", "huge_body")
        r = c.post("/gaming/get-data", headers=h)
        assert len(r.content) >= 10 * 1024 * 1024


def test_offline_refuses_connections_and_comes_back(server: SimServer, sim: Simulator):
    with client(server) as c:
        h = login(c)
        sim.set_offline(True)
        with pytest.raises(httpx.ConnectError):
            c.post("/user/ticket/create", json=sale(sim), headers=h)
        sim.set_offline(False)
        assert c.post("/user/ticket/create", json=sale(sim), headers=h).status_code == 201
    assert tickets(sim) == 1


def test_offline_set_over_http_for_a_while(server: SimServer, sim: Simulator):
    with client(server) as c:
        h = login(c)
        assert c.post("/_sim/offline", json={"offline": True, "for_s": 0.5}).json() == {
            "offline": True
        }
        refused = False
        for _ in range(100):  # the answer goes out first, then the server stops listening
            try:
                c.post("/user/ticket/last", headers=h)
            except httpx.ConnectError:
                refused = True
                break
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        assert refused
        for _ in range(300):
            try:
                r = c.post("/user/ticket/last", headers=h)
                break
            except httpx.TransportError:
                time.sleep(0.01)
        assert r.status_code == 400  # back online (no ticket yet)


def test_stop_and_restart_on_the_same_port_keeps_state(server: SimServer, sim: Simulator):
    port = server.port
    with client(server) as c:
        h = login(c)
        t = c.post("/user/ticket/create", json=sale(sim), headers=h).json()["response"]
        server.stop()
        with pytest.raises(httpx.ConnectError):
            c.post("/user/ticket/last", headers=h)
        server.start()
        assert server.port == port
        r = c.post("/user/ticket/last", headers=h)
        assert r.json()["response"]["ticket_number"] == t["ticket_number"]


def test_kioskd_sim_command_serves(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kioskd", "sim", "--port", "0", "--seed", "5",
         "--email", "kiosk@example.net", "--password", "pw",
         "--start", "2024-10-22T10:00:00-04:00"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert "kiosk@example.net" in second and "pw" not in second
        base_url = first.split(" at ")[1].split()[0]
        with httpx.Client(base_url=base_url, timeout=5) as c:
            r = c.post("/auth/login", json={"email": "kiosk@example.net", "password": "pw"})
            h = {"x-auth-token": r.json()["response"]["x_auth_token"]}
            local = c.get("/gaming/time", headers=h).json()["response"]
            assert local["date"] == "2024-10-22" and local["local_time"].startswith("10:0")
            now = c.get("/_sim/clock").json()["now"]
            moved = c.post("/_sim/clock", json={"advance_s": 3600}).json()["now"]
            assert moved >= now + 3600
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
