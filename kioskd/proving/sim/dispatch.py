"""One request-handling function shared by every way of reaching the simulator.

Rules:
- `handle(sim, method, path, token, body, fault)` turns raw request parts into a `Reply`
  (status, bytes, content type, and an `action`: respond, drop or hang). It does no I/O and
  never sleeps: the ASGI app (`app.py`) and the in-process transport (`inprocess.py`) both call
  it, and each turns `drop`/`hang` (and a `delay` fault, which they take *before* calling it)
  into what its medium can show.
- Faults are taken by the caller with `sim.take_fault(path)` so that a delay can be waited
  before the call is handled; `handle` applies every other mode (see `faults.py` for the table).
- The admin API (`/_sim/...`) is never faulted, needs no token, and answers plain JSON objects.
- Banklot answers use the seed's envelopes, produced by `state.Simulator`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import formatdate
from typing import Any

from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.faults import Fault, FaultError
from kioskd.proving.sim.games import ZONE
from kioskd.proving.sim.simulator import Simulator, err

JSON = "application/json"
HTML = "text/html; charset=utf-8"

# Banklot path -> Simulator method name. Every endpoint accepts GET and POST.
ROUTES: dict[str, str] = {
    "/auth/login": "login",
    "/auth/logout": "logout",
    "/user/ticket": "ticket",
    "/user/ticket/": "tickets",
    "/user/ticket/last": "last",
    "/user/ticket/create": "create",
    "/user/ticket/pay": "pay",
    "/user/ticket/cancel": "cancel",
    "/user/ticket/revert": "revert",
    "/user/ticket/copy": "copy",
    "/gaming/get-data": "get_data",
    "/gaming/products/search": "products_search",
    "/gaming/events/search/kiosk": "events_kiosk",
    "/gaming/inventory/template": "inventory_template",
    "/gaming/result/0": "results",
    "/gaming/reports": "reports",
    "/gaming/time": "time",
}
IMAGE_PREFIX = "/user/ticket/image/"
# `foreign` "same" as the account's first foreign sale: made along with this call's commit.
WITH_OUR_COMMIT = "same-with-our-commit"
# Modes whose call never reaches the server's commit (answered or dropped before it).
NEVER_COMMITS = frozenset(
    {"replay_previous", "hang", "drop_before_commit", "fail_before_commit", "html_error",
     "huge_body"}
)  # fmt: skip


def http_date(unix: float) -> str:
    """An HTTP `Date` header value (whole seconds, GMT) for the simulator's clock."""
    return formatdate(unix, usegmt=True)


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = JSON
    action: str = "respond"  # "respond" | "drop" | "hang"


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _html(status: int, title: str) -> Reply:
    page = (
        f"<html><head><title>{status} {title}</title></head><body><center><h1>{status} {title}"
        f"</h1></center><hr><center>nginx</center></body></html>"
    )
    return Reply(status, page.encode(), HTML)


_HUGE: bytes | None = None


def huge_body() -> bytes:
    """A 10 MB JSON-looking body (built once)."""
    global _HUGE
    if _HUGE is None:
        _HUGE = b'{"status":200,"response":"' + b"x" * (10 * 1024 * 1024) + b'"}'
    return _HUGE


def _wrong_types(payload: Any) -> Any:
    if not isinstance(payload, dict):
        return {"status": "200", "response": 0}
    out: dict[str, Any] = {"status": str(payload.get("status"))}
    if "response" in payload:
        out["response"] = json.dumps(payload["response"])[:64]
    if "error" in payload:
        out["error"] = [payload["error"]]
    if "total" in payload:
        out["total"] = "0"
    return out


def handle(
    sim: Simulator,
    method: str,
    path: str,
    token: str | None,
    body: bytes,
    fault: Fault | None = None,
) -> Reply:
    """Handle one request (see the module docstring)."""
    if path.startswith("/_sim"):
        return _admin(sim, method, path, body)
    sim.run_late()
    mode = fault.mode if fault else None
    if fault is not None and fault.foreign is not None:
        # Another terminal on this account sells just before this call is handled; its very
        # first sale of this call's wagers comes with this call's commit (`_commit`).
        same = fault.foreign in ("same", "same-first")
        if fault.foreign != "same" or sim.other_terminal_has_sold():
            sim.foreign_ticket(_wagers_of(body) if same else None)
        elif mode in NEVER_COMMITS:
            sim.foreign_ticket()
        else:
            fault = replace(fault, foreign=WITH_OUR_COMMIT)
    if mode == "replay_previous":
        previous = sim.previous_reply(path)
        if previous is None:
            return Reply(0, action="drop")
        return Reply(previous[0], previous[1])
    if mode in ("gateway_502", "gateway_504") and fault is not None:
        # A gateway gives up on the upstream, which goes on and commits `delay_s` later; the
        # gateway's JSON error looks like the API's own envelope.
        sim.schedule_late(sim.now() + fault.delay_s,
                          lambda: _commit(sim, method, path, token, body, fault))  # fmt: skip
        code, text = (502, "Bad Gateway") if mode == "gateway_502" else (504, "Gateway Timeout")
        return Reply(code, encode({"status": code, "error": text}))
    if mode == "hang":
        return Reply(0, action="hang")
    if mode == "drop_before_commit":
        return Reply(0, action="drop")
    if mode == "commit_late" and fault is not None:
        sim.schedule_late(sim.now() + fault.delay_s,
                          lambda: _commit(sim, method, path, token, body, fault))  # fmt: skip
        return Reply(0, action="hang")
    if mode == "fail_before_commit":
        return Reply(500, encode({"status": 500, "error": "internal server error"}))
    if mode == "html_error":
        return _html(502, "Bad Gateway")
    if mode == "huge_body":
        return Reply(200, huge_body())
    if mode == "expire_token":
        sim.revoke(token)
    elif mode == "foreign_ticket":
        sim.foreign_ticket()

    status, payload = _commit(sim, method, path, token, body, fault)
    if mode in ("other_wagers", "huge_ticket_number", "huge_amount"):
        payload = _falsified(payload, mode)
    if mode == "commit_then_drop":
        return Reply(0, action="drop")
    if mode == "commit_then_504":
        return _html(504, "Gateway Time-out")
    if mode == "empty_body":
        return Reply(200, b"")
    if isinstance(payload, bytes):
        reply = Reply(status, payload, "image/png")
    elif mode == "wrong_types":
        reply = Reply(status, encode(_wrong_types(payload)))
    else:
        reply = Reply(status, encode(payload))
    if mode == "malformed":
        reply.body = reply.body[: max(1, len(reply.body) // 2)]
        reply.content_type = JSON
    if reply.content_type == JSON:
        sim.remember_reply(path, reply.status, reply.body)
    return reply


def _commit(sim: Simulator, method: str, path: str, token: str | None, raw: bytes,
            fault: Fault | None):  # fmt: skip
    """Handle the call; with the `unreadable` flag, the ticket it creates can never be looked up.
    With `foreign` WITH_OUR_COMMIT (another terminal's first sale on the account carries this
    call's wagers), that sale is made only along with this call's: a first sale of our wagers
    while ours is not on the server is the one case no answer can tell from ours (ambiguity 5
    of kioskd/outbox/reconcile.py, which names it as the remaining risk); otherwise the other
    terminal sells something else."""
    status, payload = _call(sim, method, path, token, raw)
    creates = path == "/user/ticket/create"  # a pay or cancel answer names a ticket it made not
    if fault is not None and fault.foreign == WITH_OUR_COMMIT:
        sold = creates and 200 <= status < 300
        sim.foreign_ticket(_wagers_of(raw) if sold else None)
    if fault is not None and fault.unreadable and creates and isinstance(payload, dict):
        inner = payload.get("response")
        if isinstance(inner, dict) and isinstance(inner.get("ticket_number"), int):
            sim.make_unreadable(inner["ticket_number"])
    return status, payload


def _wagers_of(raw: bytes) -> list[dict[str, Any]] | None:
    """The wagers of a create body (None when it has none: the other terminal sells anything)."""
    body = _json_body(raw) or {}
    ticket = body.get("ticket")
    wagers = ticket.get("wagers") if isinstance(ticket, dict) else None
    return wagers if isinstance(wagers, list) and wagers else None


def _falsified(payload: Any, mode: str) -> Any:
    """A ticket answer that is not what the server holds: other wagers, or a number or amount
    beyond 64 bits (what the fields of the same names in `faults.py` say)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("response"), dict):
        return payload
    inner = json.loads(json.dumps(payload["response"]))
    if mode == "huge_ticket_number" and isinstance(inner.get("ticket_number"), int):
        inner["ticket_number"] += 2**64
    elif mode == "huge_amount" and isinstance(inner.get("amount"), int):
        inner["amount"] += 2**64
    elif mode == "other_wagers" and inner.get("wagers"):
        first = inner["wagers"][0]
        codes = [c for c, *_ in catalog.inventory(first["game_id"]) if c != first["wager"]]
        first["wager"] = codes[0]
        first["amount"] *= 2
        inner["amount"] = sum(w["amount"] for w in inner["wagers"])
    return {**payload, "response": inner}


def _call(sim: Simulator, method: str, path: str, token: str | None, raw: bytes):
    if path.startswith(IMAGE_PREFIX):
        return sim.image(path[len(IMAGE_PREFIX) :], token)
    name = ROUTES.get(path)
    if name is None:
        return err(404, f"no endpoint {path}")
    body = _json_body(raw)
    if body is None:
        return err(400, "body must be a JSON object")
    return getattr(sim, name)(body, token)


def _json_body(raw: bytes) -> dict[str, Any] | None:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _admin(sim: Simulator, method: str, path: str, raw: bytes) -> Reply:
    body = _json_body(raw)
    if body is None:
        return Reply(400, encode({"error": "body must be a JSON object"}))
    try:
        payload = _admin_call(sim, method, path, body)
    except (FaultError, ValueError, TypeError, KeyError) as exc:
        return Reply(400, encode({"error": str(exc)}))
    if payload is None:
        return Reply(404, encode({"error": f"no admin endpoint {method} {path}"}))
    return Reply(200, encode(payload))


def _admin_call(sim: Simulator, method: str, path: str, body: dict[str, Any]) -> Any:
    if path == "/_sim/faults":
        if method == "GET":
            return {"faults": [f.to_json() for f in sim.faults.armed()]}
        if method == "DELETE":
            count = len(sim.faults.armed())
            sim.clear_faults()
            return {"cleared": count}
        fault = sim.arm_fault(
            body.get("endpoint", "*"),
            body.get("mode", ""),
            body.get("count", 1),
            body.get("delay_s", 0),
            foreign=body.get("foreign"),
            unreadable=body.get("unreadable", False),
        )
        return {"armed": fault.to_json()}
    if path == "/_sim/ledger":
        return sim.ledger()
    if path == "/_sim/clock":
        if method == "POST":
            if "advance_s" in body:
                sim.advance(float(body["advance_s"]))
            elif "set" in body:
                sim.set_time(float(body["set"]))
            elif body.get("to") == "next_close":
                sim.set_time(sim.next_close())
            elif body.get("to") == "next_result":
                sim.set_time(sim.next_result())
            else:
                raise ValueError('clock: expected "advance_s", "set" or "to"')
        now = sim.now()
        return {
            "now": now,
            "local": datetime.fromtimestamp(now, ZONE).isoformat(),
            "next_close": sim.next_close(),
            "next_result": sim.next_result(),
            "open_events": {str(k): v for k, v in sim.open_events().items()},
        }
    if path == "/_sim/results" and method == "POST":
        return sim.force_result(int(body["event_id"]), str(body["result"]))
    if path == "/_sim/foreign-ticket" and method == "POST":
        return {"ticket": sim.foreign_ticket(body.get("wagers"))}
    if path == "/_sim/unreadable" and method == "POST":
        sim.make_unreadable(int(body["ticket_number"]))
        return {"unreadable": int(body["ticket_number"])}
    if path == "/_sim/offline":
        if method == "POST":
            for_s = body.get("for_s")
            sim.set_offline(bool(body.get("offline", True)), for_s=for_s)
        return {"offline": sim.offline}
    return None
