"""`kioskd demo`: a scripted shift on the built-in simulator and virtual devices.

It starts the Banklot simulator (real loopback HTTP), a loopback ESC/POS printer, the real
`kioskd run` process with replay FIFOs as scanner and keypad and mock lights, then plays a
shift: sales typed on the keypad and scanned from a play slip, a cancellation, a network
outage during a sale (queued, then sent), an in-doubt sale reconciled from
its send window, a `kill -9` in the middle of a sale and the restart that recovers it, a
winner paid and a loser refused, the results and the shift report. It prints a timeline
(lights, slips, queue) and leaves a PNG of every slip in the output folder. At the end it
compares the simulator's ledger with the journal: nothing lost, nothing doubled.

`--interactive` instead lets the terminal act as keypad and scanner.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from kioskd.counter.scan import barcode_data
from kioskd.proving.books import check as check_books
from kioskd.proving.books import summary
from kioskd.proving.harness import VirtualKiosk
from kioskd.proving.sim.games import local_day

LIGHT_WORDS = {
    "ready": "green steady (ready)",
    "working": "green blinking (working)",
    "offline": "amber steady (offline / queued)",
    "reconciling": "amber blinking (reconciling)",
    "attention": "red blinking (needs a person)",
    "off": "off",
}


class Timeline:
    def __init__(self, out: Any = sys.stdout) -> None:
        self.t0 = time.monotonic()
        self.out = out

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", file=self.out, flush=True)

    def step(self, title: str) -> None:
        print(f"\n== {title}", file=self.out, flush=True)


class Shift:
    """The scripted shift, step by step."""

    def __init__(self, kiosk: VirtualKiosk, timeline: Timeline) -> None:
        self.k = kiosk
        self.tl = timeline
        self.seen_slips: set[str] = set(kiosk.slips())
        self.last_light = ""

    # ------------------------------------------------------------- observing

    def lights(self) -> str:
        try:
            state = self.k.status()["state"]
        except Exception:
            return "daemon not answering"
        return LIGHT_WORDS.get(state, state)

    def show_lights(self, force: bool = False) -> None:
        light = self.lights()
        if force or light != self.last_light:
            self.tl.say(f"lights: {light}")
            self.last_light = light

    def new_slips(self) -> list[str]:
        now = self.k.slips()
        fresh = [s for s in now if s not in self.seen_slips]
        self.seen_slips.update(fresh)
        return fresh

    def wait_slip(self, kind: str, timeout_s: float = 20.0) -> str:
        """Wait for a new slip of `kind` (e.g. "ticket"), report every slip printed meanwhile."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name in self.new_slips():
                self.tl.say(f"printed: {name}")
                if name.split("-", 1)[1].startswith(kind):
                    return name
            self.show_lights()
            time.sleep(0.1)
        raise TimeoutError(f"no {kind} slip within {timeout_s} s (see {self.k.log_path})")

    def queue(self) -> str:
        counts = self.k.status()["queue"]
        busy = {k: v for k, v in counts.items() if v and k not in ("done",)}
        return f"done {counts.get('done', 0)}" + "".join(f", {k} {v}" for k, v in busy.items())

    def done_creates(self) -> list[dict[str, Any]]:
        return [
            o for o in self.k.journal_operations() if o["kind"] == "create" and o["state"] == "done"
        ]

    def last_ticket(self) -> dict[str, Any]:
        op = self.done_creates()[-1]
        result = json.loads(op["result"])
        day = local_day(result["created_at"])
        return {
            "ticket": op["ticket_number"],
            "pin": op["pin_number"],
            "date": day,
            "wagers": result.get("wagers", []),
            "barcode": barcode_data(op["ticket_number"], op["pin_number"], day),
        }

    # ------------------------------------------------------------- the shift

    def sell_typed(self, keys: str, what: str) -> dict[str, Any]:
        self.tl.say(f"clerk types {keys.replace(chr(10), '⏎')!r}  ({what})")
        self.k.type(keys)
        self.wait_slip("ticket")
        t = self.last_ticket()
        self.tl.say(f"sold ticket {t['ticket']:08d}; queue: {self.queue()}")
        return t

    def run(self) -> dict[str, Any]:
        k, tl = self.k, self.tl
        tl.step("Opening: the kiosk starts")
        t = time.monotonic()
        k.start_daemon()
        assert k.proc is not None
        tl.say(f"kioskd run is up (pid {k.proc.pid}), READY=1 after {time.monotonic() - t:.2f} s")
        k.wait_catalog()
        tl.say("catalog loaded: products, open draws, limits, wager codes")
        self.show_lights(force=True)

        tl.step("Sales")
        t1 = self.sell_typed("+1.341.20\n6.12.10\n\n", "TRIPLE ZAMORANO 341 x20, JUNGLA 12 x10")
        tl.say("customer scans a play slip K1:2.777.5;6.0.6, clerk presses Enter")
        k.scan("K1:2.777.5;6.0.6")
        k.type("\n")
        self.wait_slip("ticket")
        t2 = self.last_ticket()
        tl.say(f"sold ticket {t2['ticket']:08d}")
        t3 = self.sell_typed("+3.44401.10\n\n", "ASTRO ZAMORANO 444-ARI x10")

        tl.step("A wager the catalog refuses (over max bet): nothing is sent")
        k.type("+1.123.500\n")
        self.wait_slip("rejected")
        k.type("\x1b")

        tl.step("Cancellation inside the 180 s window")
        tl.say(f"clerk presses - and scans ticket {t3['ticket']:08d}")
        k.type("-")
        k.scan(t3["barcode"])
        self.wait_slip("cancel")

        tl.step("Network outage during a sale")
        k.server.stop()
        tl.say("the Banklot API goes away (connections refused)")
        k.type("+2.505.15\n\n")
        k.wait_for(lambda: k.status()["queue"].get("queued", 0) > 0, 15)
        tl.say(f"the sale is journaled and queued; queue: {self.queue()}")
        self.show_lights(force=True)
        time.sleep(2.0)
        k.server.start()
        tl.say("the API is back")
        self.wait_slip("ticket", 60)
        tl.say(f"queued sale sent: ticket {self.last_ticket()['ticket']:08d}")

        tl.step("A sale in doubt: the server commits, then the connection drops")
        k.sim.arm_fault("/user/ticket/create", "commit_then_drop")
        k.type("+6.30.8\n\n")
        self.wait_slip("ticket", 60)
        tl.say(
            f"reconciled from the send window: ticket {self.last_ticket()['ticket']:08d}"
            " recovered with its PIN, printed once"
        )
        self.show_lights()

        tl.step("A crash: kill -9 while a sale is in flight, then restart")
        k.sim.arm_fault("/user/ticket/create", "delay", delay_s=2.5)
        k.type("+1.900.12\n\n")
        k.wait_for(lambda: k.status()["queue"].get("sending", 0) > 0, 15)
        k.kill9()
        tl.say("kill -9 (the request was written; the server will commit it)")
        time.sleep(3.0)
        k.start_daemon()
        tl.say("restarted: the sale found in flight is in doubt, never resent blindly")
        self.wait_slip("ticket", 60)
        tl.say(f"reconciled after the restart: ticket {self.last_ticket()['ticket']:08d}")
        self.show_lights(force=True)

        tl.step("The draws: a winner is paid, a loser is not")
        jungla = next(w for w in t1["wagers"] if w["game_id"] == 5)
        self._draw(jungla["event_id"], "12")
        tl.say(f"JUNGLA MILLONARIA draw {jungla['event_id']}: result 12")
        tl.say(f"customer scans winning ticket {t1['ticket']:08d}")
        k.scan(t1["barcode"])
        self.wait_slip("payout")
        tl.say(f"customer scans ticket {t2['ticket']:08d} (not a winner)")
        k.scan(t2["barcode"])
        self.wait_slip("not")

        tl.step("Results and shift report")
        k.type("*1\n")
        self.wait_slip("results")
        k.type("*2\n")
        self.wait_slip("report")
        k.type("*3\n")
        self.wait_slip("status")

        tl.step("Closing")
        code = k.stop_daemon()
        tl.say(f"SIGTERM: drained and stopped (exit {code})")
        return self.books()

    def _draw(self, event_id: int, result: str) -> None:
        """Move the simulator past the draw and post its result (the shift's last step)."""
        from kioskd.proving.sim import games as catalog

        ev = catalog.event(event_id)
        if ev is not None and self.k.sim.clock.now() < ev.closing_ts:
            self.k.sim.set_time(ev.closing_ts + 1)
        self.k.sim.force_result(event_id, result)

    def books(self) -> dict[str, Any]:
        """The simulator's ledger against the journal (`kioskd.proving.books`)."""
        ledger = self.k.sim.ledger()
        ops = self.k.journal_operations()
        done = [o for o in ops if o["state"] == "done"]
        return {
            "server_tickets": sum(1 for t in ledger["tickets"] if t.get("origin") == "api"),
            "journal_sales": sum(1 for o in done if o["kind"] == "create"),
            "payments_server": len(ledger["payments"]),
            "payments_journal": sum(1 for o in done if o["kind"] == "pay"),
            # The shift ends on a healthy network: nothing may stay unresolved.
            "violations": check_books(ledger, ops, self.k.print_jobs(), unresolved_covers=False),
            "slips": len(self.k.slips()),
        }


def run_demo(out_dir: str, *, seed: int = 0, interactive: bool = False) -> int:
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()):
        # Only ever delete what an earlier demo wrote (its config says so).
        config = out / "kioskd.toml"
        if not (config.is_file() and "virtual-kiosk harness" in config.read_text(errors="replace")):
            print(f"kioskd demo: {out} exists and is not an earlier demo's output; choose --out")
            return 2
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    tl = Timeline()
    print(f"kioskd demo: a shift on the built-in Banklot simulator; slips go to {out}/slips")
    with VirtualKiosk(out, seed=seed) as kiosk:
        tl.say(f"Banklot simulator at {kiosk.server.base_url} (seed {seed})")
        tl.say(f"ESC/POS printer at {kiosk.printer.uri}; keypad and scanner are replay FIFOs")
        if interactive:
            return interactive_session(kiosk, tl)
        try:
            books = Shift(kiosk, tl).run()
        except Exception as exc:
            tl.say(f"demo failed: {exc}")
            tail = kiosk.log_path.read_text(errors="replace").splitlines()[-25:]
            print("\n".join(["--- last lines of the daemon log:", *tail]))
            return 1
    found = books["violations"]
    n = summary(found)
    print("\n== The books")
    print(
        f"server tickets sold here: {books['server_tickets']}; "
        f"journal sales done: {books['journal_sales']}"
    )
    print(
        f"lost: {n['lost']}; unknown to the server: {n['unknown']}; "
        f"duplicated: {n['duplicated']}; never printed: {n['unprinted']}; "
        f"unresolved: {n['unresolved']}; mismatched: {n['mismatch'] + n['other']}"
    )
    print(
        f"payments on the server: {books['payments_server']}; "
        f"in the journal: {books['payments_journal']}"
    )
    for v in found:
        print(f"  {v}")
    print(f"{books['slips']} slips written as PNG to {out / 'slips'}")
    print("MISMATCH between ledger and journal" if found else "ledger equals journal")
    return 1 if found else 0


HELP_TEXT = """Type on this terminal as on the kiosk's keypad, one line at a time (Enter is added):
  +1.341.20          a wager (product.number.amount); an empty line sells the ticket
  -                  then a ticket scan: cancel      /  then a ticket: repeat
  *  *1  *2  *3  *9  reprint last, results, shift report, status slip, test print
  scan TEXT          the scanner reads TEXT (a ticket barcode or a play slip K1:...)
  esc                Esc on the keypad          status   the daemon's status
  quit               stop"""


def interactive_session(kiosk: VirtualKiosk, tl: Timeline) -> int:
    kiosk.start_daemon()
    kiosk.wait_catalog()
    shift = Shift(kiosk, tl)
    print(HELP_TEXT)
    while True:
        try:
            line = input("kiosk> ")
        except EOFError:
            break
        line = line.strip()
        if line in ("quit", "exit"):
            break
        if line == "status":
            print(json.dumps(kiosk.status(), indent=2))
            continue
        try:
            if line.startswith("scan "):
                kiosk.scan(line[5:].strip())
            elif line == "esc":
                kiosk.type("\x1b")
            else:
                kiosk.type(line + "\n")
        except ValueError as exc:
            print(f"cannot type that: {exc}")
            continue
        time.sleep(1.0)
        for name in shift.new_slips():
            tl.say(f"printed: {kiosk.slips_dir / name}")
        shift.show_lights()
    kiosk.stop_daemon()
    return 0
