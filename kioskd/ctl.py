"""`kioskctl`: talk to a running kioskd through its control socket.

    kioskctl [--socket PATH] status [--json]
    kioskctl queue [--limit N] [--since WHEN] [--state STATE] [--before ID] [--json]
    kioskctl retry ID
    kioskctl resolve ID --as applied|not-applied --reason TEXT [--force]
    kioskctl reprint-last | print-test | leds test
    kioskctl inject scan TEXT | inject keys TEXT

Exit codes: 0 done; 1 the daemon refused or the command failed (its reason is printed);
2 usage error; 3 kioskd is not running; 4 permission denied on the socket.
The socket is `--socket`, else `$KIOSKCTL_SOCKET`, else /run/kioskd/control.sock.

The output is for people; `--json` is for scripts. What `status` shows is whatever the daemon
reports (known fields first: state, lights, api, printer, devices, queue, in_doubt...), so a new
field appears without a kioskctl change.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_DENIED = 0, 1, 2, 3, 4
DEFAULT_SOCKET = "/run/kioskd/control.sock"
STATUS_ORDER = (
    "version",
    "state",
    "status",
    "lights",
    "api",
    "printer",
    "devices",
    "queue",
    "in_doubt",
    "oldest_in_doubt_s",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kioskctl", description="Control a running kioskd.")
    p.add_argument(
        "--socket",
        default=os.environ.get("KIOSKCTL_SOCKET", DEFAULT_SOCKET),
        metavar="PATH",
        help="control socket (default: $KIOSKCTL_SOCKET or %(default)s)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    s = sub.add_parser("status", help="lights, devices, printer, API, queue counts")
    s.add_argument("--json", action="store_true", help="print the daemon's JSON")
    q = sub.add_parser(
        "queue",
        help="open operations, then the last settled ones, with states, deadlines and history",
    )
    q.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="settled operations to show (default 20, at most 200: one page)",
    )
    q.add_argument(
        "--since",
        metavar="WHEN",
        help="only operations settled since WHEN: an age (30m, 12h, 7d) or a local date/time "
        "(2026-12-01, 2026-12-01T08:00)",
    )
    q.add_argument("--state", metavar="STATE", help="only operations in this state (e.g. done)")
    q.add_argument(
        "--before",
        type=int,
        metavar="ID",
        help="the next page: settled operations settled before operation ID",
    )
    q.add_argument("--json", action="store_true", help="print the daemon's JSON")
    r = sub.add_parser("retry", help="send a queued or failed operation again now")
    r.add_argument("op_id", metavar="ID", type=int)
    v = sub.add_parser("resolve", help="settle an operation in doubt by hand (audited)")
    v.add_argument("op_id", metavar="ID", type=int)
    v.add_argument("--as", dest="outcome", required=True, choices=("applied", "not-applied"))
    v.add_argument("--reason", required=True, help="why (kept in the journal's audit trail)")
    v.add_argument(
        "--force",
        action="store_true",
        help="settle even inside the quiet period or while the probes could still decide "
        "(only with proof from the back office; audited as forced)",
    )
    sub.add_parser(
        "reprint-last", help="reprint the last ticket sold here, from the journal (a copy)"
    )
    sub.add_parser("print-test", help="print a test slip")
    leds = sub.add_parser("leds", help="LED and buzzer test")
    leds.add_argument("action", choices=("test",))
    inj = sub.add_parser("inject", help="feed a scan or keys as if typed (if allowed in config)")
    inj.add_argument("kind", choices=("scan", "keys"))
    inj.add_argument("text")
    return p


def request_for(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The control request (cmd, args) for parsed command-line arguments."""
    c = args.command
    if c == "queue":
        req: dict[str, Any] = {}
        for key in ("limit", "state", "before"):
            if getattr(args, key, None) is not None:
                req[key] = getattr(args, key)
        if getattr(args, "since", None):
            req["since"] = parse_since(args.since)
        return "queue", req
    if c in ("status", "reprint-last", "print-test"):
        return c, {}
    if c == "retry":
        return "retry", {"op_id": args.op_id}
    if c == "resolve":
        if not args.reason.strip():
            raise ValueError("--reason must not be empty")
        req = {"op_id": args.op_id, "outcome": args.outcome, "reason": args.reason}
        if args.force:
            req["force"] = True
        return "resolve", req
    if c == "leds":
        return "leds-test", {}
    if c == "inject":
        return f"inject-{args.kind}", {"text": args.text}
    raise ValueError(f"unknown command {c}")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """`--since`: an age (`30m`, `12h`, `7d`, `90s`) or a local date / date-time -> unix s."""
    import time

    t = text.strip()
    if t[:-1].isdigit() and t[-1:] in _UNITS:
        return (time.time() if now is None else now) - int(t[:-1]) * _UNITS[t[-1]]
    try:
        return dt.datetime.fromisoformat(t).timestamp()
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give an age (30m, 12h, 7d) or a date (2026-12-01[T08:00])"
        ) from None


# --------------------------------------------------------------------------------------------
# Output


def _age(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _when(ts: Any) -> str:
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return "-" if ts is None else str(ts)
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _scalar(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and key.endswith("_s"):
        return _age(value)
    if isinstance(value, (int, float)) and key.endswith("_at"):
        return _when(value)
    if isinstance(value, list):
        return ", ".join(_scalar(key, v) for v in value) if value else "-"
    return str(value)


def _lines(data: dict[str, Any], indent: int = 0) -> list[str]:
    keys = [k for k in STATUS_ORDER if k in data] + [k for k in data if k not in STATUS_ORDER]
    width = max((len(k) for k in keys), default=0) + 1
    out = []
    for k in keys:
        v = data[k]
        label = f"{' ' * indent}{(k + ':').ljust(width)}"
        if isinstance(v, dict) and v:
            out.append(label.rstrip())
            out.extend(_lines(v, indent + 2))
        else:
            out.append(f"{label} {_scalar(k, v)}")
    return out


def format_status(status: Any) -> str:
    if not isinstance(status, dict):
        return str(status)
    return "\n".join(_lines(status))


QUEUE_COLUMNS = (
    ("id", "ID"),
    ("kind", "KIND"),
    ("state", "STATE"),
    ("amount", "AMOUNT"),
    ("ticket_number", "TICKET"),
    ("created_at", "CREATED"),
    ("deadline", "DEADLINE"),
)


SETTLED_STATES = ("done", "rejected", "expired")  # kioskd.journal.states.TERMINAL


def format_queue(ops: Any) -> str:
    if not isinstance(ops, list):
        return str(ops)
    if not ops:
        return "queue empty: no operation waiting or in doubt"
    rows = [[h for _k, h in QUEUE_COLUMNS]]
    for op in ops:
        row = []
        for k, _h in QUEUE_COLUMNS:
            v = op.get(k) if isinstance(op, dict) else None
            row.append(_when(v) if k in ("created_at", "deadline") else _scalar(k, v))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(QUEUE_COLUMNS))]
    out = []
    for i, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        op = ops[i - 1] if i else None
        if isinstance(op, dict):
            shown = op.get("history") or []
            hidden = int(op.get("history_total") or 0) - len(shown)
            if hidden > 0:
                out.append(f"    ... {hidden} older history rows not shown")
            for h in shown:
                out.append(f"    {_history_line(h)}")
    last = ops[-1] if isinstance(ops[-1], dict) else {}
    if last.get("state") in SETTLED_STATES and isinstance(last.get("id"), int):
        out.append(f"older settled operations: kioskctl queue --before {last['id']}")
    return "\n".join(out)


def _history_line(h: Any) -> str:
    """One history row: time, event, from -> to, detail (the daemon's `queue_listing` form;
    the older `{at, state, note}` form is still read)."""
    if not isinstance(h, dict):
        return str(h)
    if "to" not in h and "event" not in h:
        note = f" {h['note']}" if h.get("note") else ""
        return f"{_when(h.get('at'))} {h.get('state', '-')}{note}"
    event = h.get("event") or h.get("kind") or "-"
    move = f"{h.get('from') or '-'} -> {h['to']}" if h.get("to") else ""
    raw = h.get("detail")
    detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
    parts = [str(detail["reason"])] if detail.get("reason") else []
    parts += [f"{k}={v}" for k, v in detail.items() if k != "reason" and v not in (None, "")]
    return "  ".join(x for x in (_when(h.get("at")), event, move, "; ".join(parts)) if x)


def format_result(command: str, result: Any) -> str:
    if command == "status":
        return format_status(result)
    if command == "queue":
        return format_queue(result)
    if result is None or result == {}:
        return "done"
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        return format_status(result)
    return json.dumps(result, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    from kioskd.daemon.control import AccessDenied, ControlError, DaemonNotRunning, call

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cmd, cmd_args = request_for(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        result = call(args.socket, cmd, cmd_args, timeout=args.timeout)
    except DaemonNotRunning as exc:
        print(f"kioskctl: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except AccessDenied as exc:
        print(f"kioskctl: {exc}", file=sys.stderr)
        return EXIT_DENIED
    except ControlError as exc:
        print(f"kioskctl: {cmd}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_result(cmd, result))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
