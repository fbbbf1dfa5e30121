"""Issue 19 (idle writes): the catalog cache is two rows, the big inventory and the small rest
(products and their open events), each written only when its own content changed, so a draw
rewrites a couple of KB instead of the whole 600 KB cache. A cache of one row (older kioskd)
still loads."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3

from kioskd.counter.catalog import CodeTable
from kioskd.daemon.daemon import CATALOG_INVENTORY_KEY
from tests.flows.conftest import running_kiosk


def _rows(path) -> dict[str, tuple[str, float]]:  # type: ignore[no-untyped-def]
    conn = sqlite3.connect(path)
    try:
        return {k: (d, t) for k, d, t in conn.execute("SELECT key, data, fetched_at FROM catalog")}
    finally:
        conn.close()


def _replace_cache(path, rows: list[tuple[str, str]], fetched) -> None:  # type: ignore[no-untyped-def]
    """The cache rows as another kioskd wrote them: (key, data), fetched when `fetched` was."""
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM catalog WHERE key LIKE 'catalog%'")
    conn.executemany(
        "INSERT INTO catalog (key, data, fetched_at) VALUES (?, ?, ?)",
        [(key, data, fetched.fetched_at) for key, data in rows],
    )
    conn.commit()
    conn.close()


def _reloaded(rig):  # type: ignore[no-untyped-def]
    """The catalog the daemon loads from its cache, as at a start."""
    rig.daemon._catalog = None
    rig.daemon._load_cached_catalog()
    return rig.daemon._catalog


async def test_a_draw_rewrites_the_small_row_not_the_inventory(tmp_path) -> None:
    async with running_kiosk(tmp_path) as rig:
        path = rig.daemon.journal.path
        await rig.wait_for(lambda: "catalog" in _rows(path))  # saved after it is in use
        before = _rows(path)
        rest, inventory = before["catalog"], before[CATALOG_INVENTORY_KEY]
        assert not {"inventory", "inventory_tables"} & set(json.loads(rest[0]))
        tables = json.loads(inventory[0])["inventory_tables"]  # each game's table, whole
        assert sum(len(CodeTable.from_parts(t)) for t in tables) > 1000
        assert len(rest[0]) * 50 < len(inventory[0])  # the part that changes is small
        rig.clock.advance(3600.0)  # an hour on: other draws are open
        assert await rig.daemon.refresh_catalog()
        after = _rows(path)
        assert after["catalog"][0] != rest[0]  # the open events changed: rewritten
        assert after[CATALOG_INVENTORY_KEY] == inventory  # unchanged: not written again
        # A restart reads both rows back into one catalog that sells as the fetched one.
        fetched = rig.daemon._catalog
        loaded = _reloaded(rig)
        assert loaded is not None and loaded.to_json() == fetched.to_json()


async def test_a_cache_of_one_row_still_loads(tmp_path) -> None:
    async with running_kiosk(tmp_path) as rig:
        journal, fetched = rig.daemon.journal, rig.daemon._catalog
        assert fetched is not None
        await rig.wait_for(lambda: "catalog" in _rows(journal.path))
        _replace_cache(journal.path, [("catalog", json.dumps(fetched.to_json()))], fetched)
        loaded = _reloaded(rig)
        assert loaded is not None and loaded.to_json() == fetched.to_json()


async def test_two_rows_of_the_format_before_the_tables_still_load(tmp_path) -> None:
    """The two rows as the kioskd before the tables (format 1) wrote them: the inventory as
    13,000 JSON rows. They load into the same catalog (issue 19: CPU to READY)."""
    async with running_kiosk(tmp_path) as rig:
        journal, fetched = rig.daemon.journal, rig.daemon._catalog
        assert fetched is not None
        await rig.wait_for(lambda: "catalog" in _rows(journal.path))
        data = fetched.to_json()
        del data["inventory_tables"]
        rows = [
            {"game_id": game, "code": code, "wager": wager}
            for game, table in fetched.inventory.items()
            for code, wager in table.items()
        ]
        _replace_cache(
            journal.path,
            [
                ("catalog", json.dumps({**data, "format": 1})),
                (CATALOG_INVENTORY_KEY, json.dumps({"inventory": rows})),
            ],
            fetched,
        )
        loaded = _reloaded(rig)
        assert loaded is not None and loaded.to_json() == fetched.to_json()
        assert loaded.inventory == fetched.inventory


async def test_an_hourly_draw_and_the_server_time_record_share_one_commit(tmp_path) -> None:
    """Issue 19 (idle writes, 2 MB a day): an hour on, the server-time record is due and a draw
    changed the catalog; both reach the journal in one commit, not two. A changed catalog is
    not kept back: a restart offline sells the draws it names."""
    async with running_kiosk(tmp_path) as rig:
        journal = rig.daemon.journal
        await rig.wait_for(lambda: {"catalog", "server_time"} <= set(_rows(journal.path)))
        await rig.idle()
        before, commits = _rows(journal.path), journal.commits
        rig.clock.advance(3600.0)  # an hour on: other draws are open
        assert await rig.daemon.refresh_catalog()
        await rig.idle()
        after = _rows(journal.path)
        assert after["catalog"][0] != before["catalog"][0]  # the new draws, written at once
        assert after["server_time"][1] > before["server_time"][1]  # the record, with them
        assert journal.commits == commits + 1


async def test_a_refresh_keeps_the_inventory_when_its_answer_is_the_same(
    tmp_path, monkeypatch
) -> None:
    """Issue 19 (idle CPU): every refresh fetched and decoded the 13,000-code inventory again
    (~0.14 s of CPU here, every 5 minutes). Now an answer byte for byte the one the held
    tables came from (its digest, kept in the cache's inventory row) is not decoded: the new
    catalog keeps the same tables, and the inventory row is not rewritten; after a restart
    the cache's digest does the same. An answer of another digest is decoded as ever."""
    import kioskd.counter.catalog as catalog_module

    made: list[int] = []
    tables_of = catalog_module.inventory_tables

    def counted(rows):  # type: ignore[no-untyped-def]
        made.append(1)
        return tables_of(rows)

    monkeypatch.setattr(catalog_module, "inventory_tables", counted)
    async with running_kiosk(tmp_path) as rig:
        journal = rig.daemon.journal
        await rig.wait_for(lambda: "catalog" in _rows(journal.path))
        first = rig.daemon._catalog
        assert first is not None and first.inventory_digest and len(made) == 1
        inventory_row = _rows(journal.path)[CATALOG_INVENTORY_KEY]
        rig.clock.advance(3600.0)  # an hour on: other draws are open
        assert await rig.daemon.refresh_catalog()
        second = rig.daemon._catalog
        assert second is not first and second.products != first.products  # the new draws
        assert len(made) == 1  # the inventory was not decoded again
        assert second.inventory_digest == first.inventory_digest
        assert all(second.inventory[g] is first.inventory[g] for g in first.inventory)
        assert _rows(journal.path)[CATALOG_INVENTORY_KEY] == inventory_row  # not rewritten
        # A start loads the digest with the tables: its first refresh keeps them too.
        loaded = _reloaded(rig)
        assert loaded is not None and loaded.inventory_digest == first.inventory_digest
        assert await rig.daemon.refresh_catalog()
        assert len(made) == 1
        # Held tables of another answer: the inventory is decoded and its row written.
        rig.daemon._catalog = dataclasses.replace(second, inventory_digest="0" * 64)
        assert await rig.daemon.refresh_catalog()
        assert len(made) == 2 and rig.daemon._catalog.inventory_digest == first.inventory_digest
        held, cached = rig.daemon._catalog.to_json(), _reloaded(rig).to_json()
        assert {**held, "fetched_at": 0} == {**cached, "fetched_at": 0}  # its time rides later


async def test_the_catalog_is_fetched_again_just_after_a_draw_closes(tmp_path) -> None:
    """Availability (issue 19's refreshes): a product whose draw closed could not be sold until
    a refresh found its next draw, up to `refresh_s` later (an hour in this rig's config, five
    minutes shipped). The catalog loop now fetches again a few seconds after the next close."""
    async with running_kiosk(tmp_path) as rig:
        daemon = rig.daemon
        first = daemon._catalog
        assert first is not None
        closes = min(
            p.closes_at for p in first.products.values() if p.active and p.closes_at is not None
        )
        rig.clock.advance(closes - daemon.clock.now() - 2.0)  # two seconds before it closes
        loop = asyncio.create_task(daemon._catalog_loop())  # its wait, from this moment
        try:
            now = await rig.wait_for(
                lambda: daemon._catalog is not None
                and daemon._catalog.fetched_at > closes
                and daemon.clock.now(),
                timeout_s=20.0,
            )
        finally:
            loop.cancel()
        fresh = daemon._catalog
        assert now - closes < 15.0  # seconds after the close, not `refresh_s` (3600 here)
        reopened = [p for p in fresh.products.values() if p.closes_at and p.closes_at > closes]
        assert reopened and all(p.closes_at > now for p in reopened)  # the next draws, sellable
