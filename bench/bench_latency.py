"""Budgets 1 and 2: scan-to-request and response-to-print of the real `kioskd run` process.

Measured against the simulator over loopback HTTP and the fake TCP printer, both in this
process (see `_common.Probe`):
- scan-to-request (budget p99 <= 5 ms): from writing the last key of the input into the replay
  FIFO (time taken just before `write(2)`) to the simulator's handler receiving the create or
  pay call (after uvicorn parsed the request, so the simulator's HTTP parsing is counted
  against the daemon). Sales: the final Enter on the keypad; pays: a 24-digit ticket scan.
  The first request of the operation (a sale asks `/user/ticket/last` for its watermark first)
  is reported too.
- response-to-print (budget p99 <= 10 ms): from the simulator having sent the body of the create
  response to the first printer read with a byte for the paper (status queries excluded; the
  first byte of any kind is reported too).
- The FIFO/evtest share: the same scan through an in-process `InputSource` on a FIFO (write to
  token), i.e. what the replay path costs before the counter session sees a scan.

The simulator's server is run with TCP_NODELAY (see `_common.fix_sim_nagle`; `--stock-sim`
keeps its ~40 ms Nagle/delayed-ACK stall on every response body).

Reproduce:  .venv/bin/python bench/bench_latency.py [--runs 200] [--stock-sim]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import tempfile
import time

from _common import (
    BenchKiosk,
    Probe,
    emit,
    fix_sim_nagle,
    is_query_only,
    summary,
)


def first_after(events: list[tuple[float, str]], t0: float, names: tuple[str, ...]) -> float | None:
    for t, name in events:
        if t >= t0 and (not names or name in names):
            return t
    return None


def run_daemon(runs: int, workdir: str) -> dict[str, object]:
    from kioskd.counter.scan import barcode_data
    from kioskd.proving.harness import keypad_events, scanner_events
    from kioskd.proving.sim import games as catalog

    probe = Probe()
    probe.install_app()
    k = BenchKiosk(workdir, log_level="warning")
    k.start()
    probe.install_sim(k.sim)
    probe.install_printer(k.printer.core)
    k.start_daemon()
    k.wait_catalog()
    sale_first: list[float] = []
    sale_req: list[float] = []
    pay_first: list[float] = []
    pay_req: list[float] = []
    to_print: list[float] = []
    to_any_byte: list[float] = []
    pays_answered = 0
    try:
        for i in range(runs + 5):  # 5 warm-up rounds
            warm = i < 5
            # ---- a sale: all but the last key, then the final Enter alone
            k.keypad.write(keypad_events(f"+1.{i % 1000:03d}.1\n", time.time()))
            time.sleep(0.03)  # the wager line is taken before the last key goes in
            enter = keypad_events("\n", time.time())
            probe.clear()
            t0 = time.monotonic()
            k.keypad.write(enter)
            t_resp = k.wait_for(
                lambda t0=t0: first_after(probe.responses, t0, ("/user/ticket/create",)),
                10.0,
                0.002,
            )

            def printed(t_resp: float = t_resp) -> float | None:
                with probe.lock:
                    for t, data in probe.printer:
                        if t >= t_resp and not is_query_only(data):
                            return t
                return None

            t_print = k.wait_for(printed, 10.0, 0.002)
            with probe.lock:
                t_any = next(t for t, _ in probe.printer if t >= t_resp)
            t_first = first_after(probe.requests, t0, ())
            t_create = first_after(probe.requests, t0, ("create",))
            if not warm:
                sale_first.append(t_first - t0)
                sale_req.append(t_create - t0)
                to_print.append(t_print - t_resp)
                to_any_byte.append(t_any - t_resp)
            # ---- a pay: scan the ticket just sold (not a winner yet: the call still goes out)
            op = k.journal_operations()[-1]
            created = dt.datetime.fromtimestamp(op["created_at"], catalog.ZONE).date()
            scan = scanner_events(
                barcode_data(op["ticket_number"], op["pin_number"], created), time.time()
            )
            time.sleep(0.03)
            probe.clear()
            t0 = time.monotonic()
            k.scanner.write(scan)
            try:
                t_pay = k.wait_for(lambda: first_after(probe.requests, t0, ("pay",)), 5.0, 0.002)  # noqa: B023
            except TimeoutError:
                t_pay = None
            t_first = first_after(probe.requests, t0, ())
            if t_pay is not None:
                pays_answered += 1
                if not warm:
                    pay_req.append(t_pay - t0)
                    pay_first.append(t_first - t0)
            # let the refusal settle (slip, idle) before the next sale
            time.sleep(0.05)
            k.ctl("inject-keys", {"text": "\x1b"})
            time.sleep(0.02)
    finally:
        k.close()
    out: dict[str, object] = {
        "sale_last_key_to_first_request_ms": summary(sale_first),
        "sale_last_key_to_create_ms": summary(sale_req),
        "create_response_to_first_print_byte_ms": summary(to_print),
        "create_response_to_first_printer_byte_any_ms": summary(to_any_byte),
    }
    if pay_req:
        out["pay_last_key_to_pay_ms"] = summary(pay_req)
        out["pay_last_key_to_first_request_ms"] = summary(pay_first)
    out["pays_sent"] = pays_answered
    return out


async def fifo_path(runs: int, workdir: str) -> dict[str, object]:
    """The replay FIFO + evtest parsing + decoder alone: write(2) of a scan to its token."""
    from kioskd.input.reader import InputSource, SourceConfig
    from kioskd.proving.harness import scanner_events

    path = os.path.join(workdir, "scan.fifo")
    os.mkfifo(path)
    src = InputSource(SourceConfig(device=f"replay:{path}", role="scanner", grab=False))
    samples: list[float] = []
    await src.start()
    while src.states.get(path) is None or src.states[path] == "waiting":
        await asyncio.sleep(0.01)  # the reader opens the FIFO (read-write) in its own task
    fd = os.open(path, os.O_WRONLY)
    try:
        tokens = src.tokens()
        for i in range(runs + 5):
            text = scanner_events(f"{i:08d}1234567820261125", time.time()).encode()
            t0 = time.monotonic()
            os.write(fd, text)
            await anext(tokens)
            if i >= 5:
                samples.append(time.monotonic() - t0)
    finally:
        os.close(fd)
        await src.aclose()
    return {"fifo_write_to_token_ms": summary(samples)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--stock-sim",
        action="store_true",
        help="keep the simulator's Nagle stall (see _common.fix_sim_nagle)",
    )
    args = parser.parse_args()
    if not args.stock_sim:
        fix_sim_nagle()
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        result = run_daemon(args.runs, os.path.join(tmp, "kiosk"))
        result.update(asyncio.run(fifo_path(args.runs, tmp)))
    for key, value in result.items():
        print(f"{key}: {value}")
    result["sim_nagle_fixed"] = not args.stock_sim
    emit("latency", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
