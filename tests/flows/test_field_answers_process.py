"""Issue 18 items 3-6 through the real `kioskd run` process: the simulator over loopback HTTP
with the field's faults (gateways, caches, other terminals, 64-bit overflow, unreadable rows),
keys typed into the replay FIFO, the journal file and the slips printed. One test per case of
the issue's *Why* that involves the daemon (the pure decisions: tests/outbox/test_reconcile.py;
the same cases in process: tests/outbox/test_answers.py)."""

from __future__ import annotations

import pytest

from kioskd.proving.harness import VirtualKiosk

SALE = "+1.341.20\n\n"


def start(tmp_path, *, timers: str = "short", drop_in: str = "") -> VirtualKiosk:
    k = VirtualKiosk(tmp_path / "vk", seed=5, log_level="info", timers=timers).start()
    if drop_in:
        (k.workdir / "kioskd.toml.d").mkdir(exist_ok=True)
        (k.workdir / "kioskd.toml.d" / "50-test.toml").write_text(drop_in)
    k.start_daemon()
    k.wait_catalog()
    return k


@pytest.fixture(scope="module")
def shared_vk(tmp_path_factory):
    """One daemon for the cases that leave nothing behind but done sales (a daemon start costs
    seconds); the cases that leave a conflict or a shared account get a daemon of their own."""
    k = start(tmp_path_factory.mktemp("answers"))
    yield k
    k.close()


@pytest.fixture
def vk(shared_vk):
    shared_vk.sim.clear_faults()
    quiet(shared_vk)
    yield shared_vk
    shared_vk.sim.clear_faults()


def ops(vk: VirtualKiosk) -> list[dict]:
    return vk.journal_operations()


BUSY = {"sending", "queued", "in_doubt", "reconciling"}


def quiet(vk: VirtualKiosk, timeout_s: float = 40.0) -> None:
    """Wait until no operation is sending, queued or in doubt."""
    vk.wait_for(lambda: not any(r["state"] in BUSY for r in ops(vk)), timeout_s)


def settled(vk: VirtualKiosk, new: int, timeout_s: float = 40.0) -> list[dict]:
    """Wait until this test's `new` operations exist (counted from `begin`) and none is
    sending, queued or in doubt; return them."""
    before = getattr(vk, "before", 0)

    def done() -> list[dict] | None:
        rows = ops(vk)
        if len(rows) >= before + new and not any(r["state"] in BUSY for r in rows):
            return rows[before:]
        return None

    return vk.wait_for(done, timeout_s)


def begin(vk: VirtualKiosk) -> None:
    """Mark where this test's operations, tickets and slips begin."""
    vk.before = len(ops(vk))
    vk.tickets_before = len(vk.sim.ledger()["tickets"])
    vk.slips_before = len(vk.slips())


def slips(vk: VirtualKiosk, kind: str) -> list[str]:
    return [s for s in vk.slips()[getattr(vk, "slips_before", 0) :] if s.endswith(f"-{kind}.png")]


def server_tickets(vk: VirtualKiosk) -> list[dict]:
    return vk.sim.ledger()["tickets"][getattr(vk, "tickets_before", 0) :]


def test_gateway_502_json_while_the_upstream_commits_3s_later_is_sold_once(vk):
    """Why: 502 `{"status":502,"error":"Bad Gateway"}` taken as the API's own error and resent
    at once: sold twice. Now in doubt (not over): the late commit is found and printed."""
    begin(vk)
    vk.sim.arm_fault("/user/ticket/create", "gateway_502", delay_s=3)
    vk.type(SALE)
    [op] = settled(vk, 1)
    [ticket] = server_tickets(vk)
    assert op["state"] == "done" and op["ticket_number"] == ticket["ticket_number"]
    assert op["attempts"] == 1
    vk.wait_for(lambda: slips(vk, "ticket"))
    assert not slips(vk, "not_done")


def test_gateway_504_json_body_is_in_doubt_not_over(vk):
    begin(vk)
    vk.sim.arm_fault("/user/ticket/create", "gateway_504", delay_s=2)
    vk.type(SALE)
    [op] = settled(vk, 1)
    assert op["state"] == "done" and op["attempts"] == 1 and len(server_tickets(vk)) == 1


def test_create_answer_with_other_wagers_prints_what_the_server_sold(vk):
    """Why: the slip showed what the server did not sell. The false answer counts as no answer
    (alarm); the window's ticket, with the wagers the server holds, is printed."""
    begin(vk)
    vk.sim.arm_fault("/user/ticket/create", "other_wagers")
    vk.type(SALE)
    [op] = settled(vk, 1)
    [ticket] = server_tickets(vk)
    assert op["state"] == "done" and op["ticket_number"] == ticket["ticket_number"]
    assert '"wager":"341"' in op["result"].replace(" ", "")
    assert "does not match" in (vk.status()["alarm"] or "")
    vk.wait_for(lambda: slips(vk, "ticket"))


def test_answer_replaying_the_previous_ticket_sells_the_second_sale(vk):
    """Why: a replayed answer left two operations owning one ticket, nothing sold for the
    second. Now the second is in doubt, proven not applied, resent and sold."""
    begin(vk)
    vk.type(SALE)
    settled(vk, 1)
    vk.sim.arm_fault("/user/ticket/create", "replay_previous")
    vk.type(SALE)
    first, second = settled(vk, 2)
    assert first["state"] == second["state"] == "done"
    assert first["ticket_number"] != second["ticket_number"]
    held = {t["ticket_number"] for t in server_tickets(vk)}
    assert held == {first["ticket_number"], second["ticket_number"]}


@pytest.mark.parametrize("mode", ["huge_ticket_number", "huge_amount"])
def test_answer_beyond_64_bits_is_decided_and_printed_never_stuck(vk, mode):
    """Why: stuck in `sending` until a restart, logged at INFO, no slip, status "working"."""
    begin(vk)
    vk.sim.arm_fault("/user/ticket/create", mode)
    vk.type(SALE)
    [op] = settled(vk, 1)
    [ticket] = server_tickets(vk)
    assert op["state"] == "done" and op["ticket_number"] == ticket["ticket_number"]
    vk.wait_for(lambda: slips(vk, "ticket"))
    assert vk.status()["state"] == "ready"


def test_another_terminal_sells_the_same_wagers_while_ours_is_in_doubt(tmp_path):
    """Why: /last alone decided; the other terminal's ticket and PIN were printed as ours.
    Now: two candidates, a person decides; the PENDING slip stays the customer's receipt."""
    vk = start(tmp_path)
    try:
        vk.sim.arm_fault("/user/ticket/create", "commit_then_drop", foreign="same")
        vk.type(SALE)
        [op] = settled(vk, 1)
        assert op["state"] == "conflict" and op["ticket_number"] is None
        assert op["pin_number"] is None
        vk.wait_for(lambda: slips(vk, "pending"))
        assert not slips(vk, "ticket")
        assert vk.status()["state"] == "attention"
    finally:
        vk.close()


def test_ours_never_applied_and_another_terminal_sold_the_same_wagers_shared_account(tmp_path):
    """Why: its ticket was taken as ours without an alarm. With `api.shared_account = true`
    the one candidate goes to a person, its PIN never printed."""
    vk = start(tmp_path, drop_in="[api]\nshared_account = true\n")
    try:
        # The other terminal's first sale on the account: our very wagers, as ours is lost.
        vk.sim.arm_fault("/user/ticket/create", "drop_before_commit", foreign="same-first")
        vk.type(SALE)
        [op] = settled(vk, 1)
        assert op["state"] == "conflict" and "other terminals" in op["reason"]
        assert "carries our wagers" in (vk.status()["alarm"] or "")
        assert not slips(vk, "ticket")
        vk.wait_for(lambda: slips(vk, "pending"))
    finally:
        vk.close()


def test_ours_never_applied_and_a_terminal_that_sold_here_before_sold_our_wagers(tmp_path):
    """Why: its ticket was taken as ours without an alarm. With the shipped config the lone
    candidate is printed only once the account's earlier sales show no other terminal; here
    one sold before, so a person decides and its PIN is never printed."""
    vk = start(tmp_path)
    try:
        earlier = vk.sim.foreign_ticket()
        vk.sim.arm_fault("/user/ticket/create", "drop_before_commit", foreign="same")
        vk.type(SALE)
        [op] = settled(vk, 1)
        assert op["state"] == "conflict" and op["pin_number"] is None, op
        assert not slips(vk, "ticket")
        vk.wait_for(lambda: slips(vk, "pending"))
        assert vk.status()["state"] == "attention"
        never = f"ticket {earlier['ticket_number']} was never journaled"
        assert any(never in a for a in vk.alarms())
    finally:
        vk.close()


def test_listed_ticket_the_lookup_cannot_read_goes_to_a_person_with_a_slip(tmp_path):
    """Why: still in doubt 100 s after Enter with a 45 s deadline, no slip."""
    vk = start(tmp_path)
    try:
        vk.sim.arm_fault("/user/ticket/create", "commit_then_drop", unreadable=True)
        vk.sim.arm_fault("/user/ticket/last", "foreign_ticket")  # /last shows another ticket
        vk.type(SALE)
        [op] = settled(vk, 1)
        assert op["state"] == "conflict" and "cannot be looked up" in op["reason"]
        assert op["updated_at"] < op["deadline"]
        vk.wait_for(lambda: slips(vk, "pending"))
    finally:
        vk.close()


def test_a_failing_last_probe_never_holds_up_a_plain_sale(vk):
    """Why: a failing /user/ticket/last marked the whole outbox offline; a plain sale waited."""
    begin(vk)
    vk.sim.arm_fault("/user/ticket/create", "commit_then_drop")
    vk.sim.arm_fault("/user/ticket/last", "html_error", count=1000)
    vk.type(SALE)
    vk.wait_for(lambda: any("probe failed" in (o["reason"] or "") for o in ops(vk)))
    vk.type("+1.342.20\n\n")
    plain = vk.wait_for(
        lambda: [o for o in ops(vk)[vk.before + 1 :] if o["state"] == "done"], timeout_s=10
    )
    assert plain[0]["attempts"] == 1
    assert vk.status()["outbox"] != "offline"
    vk.sim.clear_faults()
    settled(vk, 2)


def test_a_sale_left_sending_gets_its_pending_slip(tmp_path):
    """Why: an operation stuck in `sending` got no PENDING slip (only in-doubt ones did). With
    the shipped read timeout, a create answered after 4 s is never in doubt; its PENDING slip
    prints at 2 s, then the ticket."""
    vk = start(tmp_path, timers="shipped")
    try:
        vk.sim.arm_fault("/user/ticket/create", "delay", delay_s=4)
        vk.type(SALE)
        [op] = settled(vk, 1)
        assert op["state"] == "done"
        history = vk._rows("history")
        assert not [h for h in history if h["to_state"] == "in_doubt"]
        names = vk.slips()
        pending, ticket = slips(vk, "pending"), vk.wait_for(lambda: slips(vk, "ticket"))
        assert pending and names.index(pending[0]) < vk.slips().index(ticket[0])
    finally:
        vk.close()


def test_a_refused_login_is_named_in_status_and_log_never_offline(vk):
    """Why: a refused login showed as "offline"."""
    begin(vk)
    vk.sim._password = "changed-at-the-office"
    vk.sim._tokens.clear()
    vk.type(SALE)
    status = vk.wait_for(lambda: (s := vk.status())["api"] == "login refused" and s)
    assert status["state"] == "attention" and status["outbox"] == "login_refused"
    assert "API login refused" in vk.log_path.read_text()
    vk.sim._password = vk.password
    [op] = settled(vk, 1, timeout_s=60)
    assert op["state"] == "done"


def test_a_hanging_login_is_one_bounded_attempt_shared_by_every_sale(vk):
    """Why: a hanging login serialised every call (three sales left `sending` at 15, 30 and
    45 s). The three sales typed while the one login hangs all wait for that same attempt
    (connect timeout + 3 s), are queued (not sent) when it gives up, then sold."""
    begin(vk)
    vk.sim._tokens.clear()
    vk.sim.arm_fault("/auth/login", "hang")  # one login hangs; the next one answers
    for code in ("351", "352", "353"):
        vk.type(f"+1.{code}.20\n\n")
    rows = settled(vk, 3, timeout_s=60)
    assert [r["state"] for r in rows] == ["done"] * 3
    history = [h for h in vk._rows("history") if h["op_id"] in {r["id"] for r in rows}]
    first_tries = [h for h in history if h["event"] == "not_sent"]
    assert {h["op_id"] for h in first_tries} == {r["id"] for r in rows}
    assert all("login did not complete" in h["detail"] for h in first_tries), [
        h["detail"] for h in first_tries
    ]
    assert len(server_tickets(vk)) == 3
