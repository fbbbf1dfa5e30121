"""Issue 19 (CPU to READY): the modules httpcore needs at its first connection are imported in a
worker right after READY=1, and nothing talks to the API before they are in, so the first
request never imports them on the event loop (the stall the loop-lag probe once found)."""

from __future__ import annotations

import asyncio
import threading

import httpx

from kioskd.daemon import daemon as daemon_module
from kioskd.proving.sim.inprocess import SimTransport
from tests.flows.conftest import running_kiosk


async def test_no_request_before_the_first_connections_modules_are_in(tmp_path, monkeypatch):
    release = threading.Event()
    importing = threading.Event()
    requests: list[tuple[str, bool]] = []  # (path, were the modules in?)
    real_import = daemon_module._import_first_connection_modules
    real_handle = SimTransport.handle_async_request

    def slow_import() -> None:
        importing.set()
        assert release.wait(30), "the test never released the import"
        real_import()

    async def handle(self: SimTransport, request: httpx.Request) -> httpx.Response:
        requests.append((request.url.path, release.is_set()))
        return await real_handle(self, request)

    monkeypatch.setattr(daemon_module, "_import_first_connection_modules", slow_import)
    monkeypatch.setattr(SimTransport, "handle_async_request", handle)
    async with running_kiosk(tmp_path, want_catalog=False) as rig:
        assert rig.notes.is_ready  # READY=1 went out while the worker still imports
        await rig.wait_for(importing.is_set)
        await asyncio.sleep(0.5)  # time enough for the outbox, catalog and clock tasks to ask
        assert requests == []
        release.set()
        await rig.wait_for(lambda: rig.daemon._catalog is not None)
    assert requests and all(modules_in for _, modules_in in requests)
