"""Issue 19 (CPU to READY): the HTTP client is built in a worker right after READY=1
(`Daemon._prepare_http`: httpx, h11 and the client's transport), and the tasks that talk to the
API at start wait for it, so none builds it in a worker of its own meanwhile and nothing asks
the API before it is ready."""

from __future__ import annotations

import asyncio
import threading

import httpx

from kioskd.daemon import daemon as daemon_module
from kioskd.proving.sim.inprocess import SimTransport
from tests.flows.conftest import running_kiosk


async def test_no_request_before_the_http_client_is_prepared(tmp_path, monkeypatch):
    release = threading.Event()
    preparing = threading.Event()
    requests: list[tuple[str, bool]] = []  # (path, was the client prepared?)
    real_prepare = daemon_module.Daemon._prepare_http
    real_handle = SimTransport.handle_async_request

    def slow_prepare(self: daemon_module.Daemon) -> None:
        preparing.set()
        assert release.wait(30), "the test never released the preparation"
        real_prepare(self)

    async def handle(self: SimTransport, request: httpx.Request) -> httpx.Response:
        requests.append((request.url.path, release.is_set()))
        return await real_handle(self, request)

    monkeypatch.setattr(daemon_module.Daemon, "_prepare_http", slow_prepare)
    monkeypatch.setattr(SimTransport, "handle_async_request", handle)
    async with running_kiosk(tmp_path, want_catalog=False) as rig:
        assert rig.notes.is_ready  # READY=1 went out while the worker still prepares
        await rig.wait_for(preparing.is_set)
        await asyncio.sleep(0.5)  # time enough for the outbox, catalog and clock tasks to ask
        assert requests == []
        release.set()
        await rig.wait_for(lambda: rig.daemon._catalog is not None)
    assert requests and all(prepared for _, prepared in requests)


async def test_a_printer_that_cannot_be_opened_shows_and_the_counter_still_sells(
    tmp_path, monkeypatch
):
    """The printer opens after READY=1 (issue 19): one that cannot be built is shown as
    needing a person (lights at attention, status says so), and a sale still sells, its
    ticket slip waiting in the journal, never lost."""

    def broken(self: daemon_module.Daemon) -> None:
        raise ValueError("no such printer")

    monkeypatch.setattr(daemon_module.Daemon, "_printer", broken)
    async with running_kiosk(tmp_path, want_catalog=False) as rig:
        await rig.wait_for(lambda: rig.daemon._catalog is not None)
        await rig.wait_for(lambda: rig.daemon.health.printer == "not opened")
        await rig.wait_for(lambda: rig.lights()["state"] == "attention")
        assert rig.daemon.spooler.printer is None
        rig.type("+1.341.20\n\n")
        await rig.wait_for(lambda: [op.state for op in rig.daemon.journal.operations()] == ["done"])
        jobs = rig.daemon.journal.pending_print_jobs()
        assert [job.kind for job in jobs] == ["ticket"]
        assert rig.printer.core.cuts == 0 and not rig.receipts
