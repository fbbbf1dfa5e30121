"""Every local rejection path of a sale: a clear slip, a red flash + two beeps, nothing sent.

The amount-multiple rule is exercised with product 6 (JUNGLA MILLONARIA: min 2, max 100,
multiple 2, at most 20 wagers per ticket in the simulator's catalog).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.flows.conftest import START, body, running_kiosk, texts


async def _refused(kiosk, keys: str, reason_text: str) -> None:
    calls = kiosk.daemon.transport.calls
    kiosk.type(keys)
    slip = await kiosk.slip("rejected")
    await kiosk.idle()
    assert reason_text in texts(slip), texts(slip)
    assert kiosk.signals[-1] == "reject"
    assert kiosk.lights()["last_signal"] == "reject"
    assert kiosk.lights()["state"] == "ready"
    assert kiosk.tickets() == []
    assert kiosk.daemon.journal.operations() == []  # nothing was queued
    assert kiosk.daemon.transport.calls == calls  # nothing was even asked


@pytest.mark.parametrize(
    ("keys", "reason_text", "detail"),
    [
        ("+1.341.150\n", "Monto mayor al máximo", "monto 150: el máximo es 99"),
        ("+6.12.3\n", "Monto no es múltiplo permitido", "monto 3: debe ser múltiplo de 2"),
        ("+1.1234.20\n", "Número no válido", "1234 no es un número válido del producto 1"),
        ("+6.99.10\n", "Número no válido", "99 no es un número válido del producto 6"),
        ("+1.341\n", "Jugada mal escrita", None),
        ("+9.341.20\n", "Producto desconocido", None),
        ("+6.12.1\n", "Monto menor al mínimo", None),
    ],
    ids=["over-max-bet", "not-a-multiple", "bad-code", "bad-animal", "grammar", "product", "min"],
)
async def test_a_bad_wager_line_is_refused_and_the_draft_stays_open(
    kiosk, keys, reason_text, detail
):
    await _refused(kiosk, keys, reason_text)
    if detail:
        assert detail in texts(kiosk.receipts[-1])
    # the clerk can fix the line and sell what is good
    assert kiosk.daemon.session.state.name == "SELL"
    ticket = await kiosk.sell("1.341.20\n\n")
    assert [(w["wager"], w["amount"]) for w in ticket["wagers"]] == [("341", 20)]


async def test_closed_event_is_refused_locally(kiosk):
    kiosk.clock.set(START + 30 * 60 + 30)  # 11:00:30: the 11:00 JUNGLA draw just closed
    await _refused(kiosk, "+6.12.10\n", "Sorteo cerrado")
    assert "está cerrado" in " ".join(texts(kiosk.receipts[-1]))


async def test_too_many_wagers_on_a_play_slip_adds_none(kiosk):
    slip = "K1:" + ";".join(f"6.{n}.2" for n in range(1, 22))  # 21 wagers, at most 20
    kiosk.scan(slip)
    receipt = await kiosk.slip("rejected")
    await kiosk.idle()
    assert "Demasiadas jugadas" in texts(receipt)
    assert "21 apuestas: máximo 20 por ticket" in texts(receipt)
    assert kiosk.signals[-1] == "reject"
    assert kiosk.daemon.session.draft == ()
    assert kiosk.tickets() == [] and kiosk.daemon.journal.operations() == []


async def test_too_many_typed_wagers_refuses_the_21st(kiosk):
    lines = "".join(f"6.{n}.2\n" for n in range(1, 22))
    kiosk.type("+" + lines)
    receipt = await kiosk.slip("rejected")
    assert "Demasiadas jugadas" in texts(receipt)
    assert len(kiosk.daemon.session.draft) == 20
    ticket = await kiosk.sell("\n")  # the 20 that passed are sold
    assert len(ticket["wagers"]) == 20 and ticket["amount"] == 40


async def test_catalog_never_loaded_refuses_sales(tmp_path):
    async with running_kiosk(tmp_path, offline=True, want_catalog=False) as kiosk:
        assert kiosk.daemon._catalog is None
        kiosk.type("+1.341.20\n")
        slip = await kiosk.slip("rejected")
        await kiosk.idle()
        # Typed while the first load was in flight or after it failed: refused with the reason.
        assert "Catálogo no disponible" in texts(slip)
        assert "no se pudo cargar el catálogo: el servidor no responde" in body(slip)
        assert kiosk.signals[-1] == "reject"
        assert kiosk.daemon.journal.operations() == []
        kiosk.sim.set_offline(False)
        assert kiosk.tickets() == []


async def test_catalog_never_loaded_shows_offline_light(tmp_path):
    async with running_kiosk(tmp_path, offline=True, want_catalog=False) as kiosk:
        await asyncio.sleep(0.3)  # the first catalog refresh has failed by now (in process)
        assert kiosk.daemon._catalog is None
        assert kiosk.daemon.status()["api"] == "offline"
        assert kiosk.lights()["state"] == "offline"


async def test_server_says_event_closed_refreshes_the_catalog_at_once(tmp_path):
    """A 409 "events are not open" means our catalog was wrong: it is fetched again now, not at
    the next refresh period (an hour in this rig)."""
    from kioskd.banklot.errors import EventsClosed
    from kioskd.outbox.outbox import Outcome

    async with running_kiosk(tmp_path) as kiosk:
        before = kiosk.daemon._catalog.fetched_at
        kiosk.clock.advance(5)
        error = EventsClosed("events are not open. closed events: [1]", event_ids=(1,))
        kiosk.daemon._on_outcome(Outcome("rejected", None, "create", error=error))
        for _ in range(100):
            if kiosk.daemon._catalog.fetched_at > before:
                break
            await asyncio.sleep(0.02)
        # Fetched after the step (the clock is real time plus an offset: a loaded machine adds
        # seconds), long before the next refresh period.
        assert before + 5 <= kiosk.daemon._catalog.fetched_at < before + 5 + 60
