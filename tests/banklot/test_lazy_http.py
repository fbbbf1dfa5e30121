"""Issue 19 (CPU to READY): the client imports httpx when its HTTP client is built, not with
its module; `prepare()` builds it (the daemon runs it in a worker after READY=1) and a request
that comes first builds it in a worker thread, never on the event loop."""

from __future__ import annotations

import threading

from kioskd.banklot.client import BanklotClient
from kioskd.proving.sim import simulator as sim_state
from kioskd.proving.sim.server import SimServer
from tests.run_kioskd import python_lines

EMAIL = "username@banklot.net"
PASSWORD = "pw-Xq81-Secret"


def test_the_module_and_the_client_do_not_import_httpx_until_prepared() -> None:
    code = (
        "import sys\n"
        "from kioskd.banklot.client import BanklotClient\n"
        "c = BanklotClient('http://127.0.0.1:9', 'a@b', 'pw')\n"
        "names = ('httpx', 'h11', 'kioskd.banklot.transport', 'httpcore', 'anyio')\n"
        "print(*(name in sys.modules for name in names))\n"
        "c.prepare()\n"
        "print(*(name in sys.modules for name in names))\n"
        "print(type(c._http).__name__, type(c._http._transport).__name__)\n"
    )
    out = python_lines(code)
    assert out[0] == "False False False False False"
    # The client's own transport: httpcore and anyio (httpx's default transport) stay out.
    assert out[1] == "True True True False False"
    assert out[2] == "AsyncClient H11Transport"


async def test_a_request_before_prepare_builds_the_client_in_a_worker() -> None:
    sim = sim_state.Simulator(seed=7, password=PASSWORD)
    server = SimServer(sim).start()
    built_on: list[str] = []
    try:
        client = BanklotClient(server.base_url, EMAIL, PASSWORD, connect_timeout=2.0)
        assert client._http_client is None  # nothing built at construction
        real_prepare = client.prepare

        def prepare() -> None:
            built_on.append(threading.current_thread().name)
            real_prepare()

        client.prepare = prepare  # type: ignore[method-assign]
        async with client:
            data = await client.get_data()  # the first request: login, then get-data
            assert data.time_zone
            assert client._http_client is not None
            await client.get_data()  # built once
    finally:
        server.close()
    assert built_on, "the first request did not build the HTTP client"
    assert threading.main_thread().name not in built_on  # off the event loop's thread
    assert client._http_client is not None
