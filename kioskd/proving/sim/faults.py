"""Fault plan of the simulator: which of the next calls misbehave, and how.

Rules:
- A fault is armed for an endpoint path (`"*"` = any Banklot endpoint, never the `/_sim` admin
  API) and is consumed by the next `count` matching calls, first armed first used.
- The plan only says *what* goes wrong; `dispatch.handle` applies it (commit or not, which body)
  and the transports turn the remaining signals (drop, hang, delay) into what a socket shows.
- Modes and whether the call's effect is applied on the server:

  | mode                | applied | what the caller sees                                   |
  |---------------------|---------|--------------------------------------------------------|
  | delay               | yes     | the normal answer after `delay_s` (or its own timeout)  |
  | fail_before_commit  | no      | HTTP 500 JSON envelope                                 |
  | commit_then_drop    | yes     | connection closed, no answer                           |
  | commit_then_504     | yes     | HTTP 504 HTML page                                     |
  | malformed           | yes     | the answer's JSON cut in half                          |
  | html_error          | no      | HTTP 502 HTML page                                     |
  | empty_body          | yes     | HTTP 200, empty body                                   |
  | huge_body           | no      | HTTP 200, 10 MB body                                   |
  | wrong_types         | yes     | envelope with wrong types (status a string...)         |
  | drop_before_commit  | no      | connection closed before the call was handled          |
  | hang                | no      | never answers                                          |
  | commit_late         | yes     | never answers; the server commits `delay_s` after the  |
  |                     | (later) | request arrived (a handler that outlives the client)   |
  | expire_token        | no      | 403 token expired (the token really is gone)           |
  | foreign_ticket      | yes     | another terminal sells first, then the normal answer   |

  The field's faults (`FIELD_MODES`: what gateways, caches and other terminals do in shops):

  | mode                | applied | what the caller sees                                   |
  |---------------------|---------|--------------------------------------------------------|
  | gateway_502         | yes     | HTTP 502 `{"status":502,"error":"Bad Gateway"}` (JSON, |
  |                     | (later) | looks like an envelope) while the upstream request     |
  |                     |         | commits `delay_s` after it arrived                     |
  | gateway_504         | yes     | the same with HTTP 504 `{"status":504,"error":...}`    |
  |                     | (later) |                                                        |
  | other_wagers        | yes     | the answer of a create carries other wagers (and       |
  |                     |         | total) than the server sold                            |
  | replay_previous     | no      | the previous answer of this endpoint again (a caching  |
  |                     |         | proxy); with none yet, the connection drops            |
  | huge_ticket_number  | yes     | the answer's ticket number is beyond 64 bits           |
  | huge_amount         | yes     | the answer's amount is beyond 64 bits                  |

  Two flags combine with any mode (a fault is *what happens to this call*, the flags *what
  else happens on the account*):
  - `foreign`: "same" -- another terminal on the same account sells the same wagers as this
    create just before it is handled (a second session of the account); "other" -- it sells
    something else (as `foreign_ticket`). The other terminal's *first* sale on the account is
    of the same wagers only along with this call's own commit (else it sells something else):
    a first sale of our wagers while ours is not on the server is the one case no answer can
    tell from ours (reconcile's ambiguity 5, its remaining risk); "same-first" makes that case
    on purpose, for the tests that show it.
  - `unreadable`: the ticket this call creates is listed (`POST /user/ticket/`) and shown by
    `/user/ticket/last`, but its lookup (`POST /user/ticket`) answers "no rows" for ever.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

MODES = (
    "delay",
    "fail_before_commit",
    "commit_then_drop",
    "commit_then_504",
    "malformed",
    "html_error",
    "empty_body",
    "huge_body",
    "wrong_types",
    "hang",
    "drop_before_commit",
    "commit_late",
    "expire_token",
    "foreign_ticket",
)
# The field's faults (gateways, caches, 64-bit overflow), armed like the others. Kept out of
# `MODES`, which the seeded and exhaustive campaigns iterate over, so that adding them there is
# a decision of the campaigns (and their figures), not a side effect of this table.
FIELD_MODES = (
    "gateway_502",
    "gateway_504",
    "other_wagers",
    "replay_previous",
    "huge_ticket_number",
    "huge_amount",
)
ALL_MODES = MODES + FIELD_MODES
FOREIGN = (None, "same", "other", "same-first")

# Modes after which the server holds the call's effect (if the call itself succeeded).
APPLIED_MODES = frozenset(
    {"delay", "commit_then_drop", "commit_then_504", "malformed", "empty_body", "wrong_types",
     "foreign_ticket", "commit_late", "gateway_502", "gateway_504", "other_wagers",
     "huge_ticket_number", "huge_amount"}
)  # fmt: skip
# Modes whose effect commits only `delay_s` after the call arrived (the caller has its answer).
LATE_MODES = frozenset({"commit_late", "gateway_502", "gateway_504"})


class FaultError(ValueError):
    """An admin request for a fault that cannot exist (unknown mode, bad count)."""


@dataclass(slots=True)
class Fault:
    endpoint: str
    mode: str
    count: int = 1
    delay_s: float = 0.0
    foreign: str | None = None
    unreadable: bool = False

    def to_json(self) -> dict[str, object]:
        """The fault as the admin API shows it (the flags only when set: the older form)."""
        out = asdict(self)
        if self.foreign is None:
            del out["foreign"]
        if not self.unreadable:
            del out["unreadable"]
        return out


def endpoint_key(path: str) -> str:
    """The endpoint a path belongs to (the image path carries the uuid)."""
    if path.startswith("/user/ticket/image/"):
        return "/user/ticket/image"
    return path


class FaultPlan:
    def __init__(self) -> None:
        self._armed: list[Fault] = []

    def arm(
        self,
        endpoint: str,
        mode: str,
        count: int = 1,
        delay_s: float = 0.0,
        *,
        foreign: str | None = None,
        unreadable: bool = False,
    ) -> Fault:
        if mode not in ALL_MODES:
            raise FaultError(f"unknown fault mode {mode!r} (known: {', '.join(ALL_MODES)})")
        if foreign not in FOREIGN:
            raise FaultError(
                f"fault foreign must be 'same', 'other', 'same-first' or null, got {foreign!r}"
            )
        if not isinstance(unreadable, bool):
            raise FaultError(f"fault unreadable must be true or false, got {unreadable!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise FaultError(f"fault count must be a positive integer, got {count!r}")
        if not isinstance(delay_s, int | float) or delay_s < 0:
            raise FaultError(f"fault delay_s must be a non-negative number, got {delay_s!r}")
        if not isinstance(endpoint, str) or not endpoint:
            raise FaultError("fault endpoint must be a path or '*'")
        fault = Fault(endpoint_key(endpoint), mode, count, float(delay_s), foreign, unreadable)
        self._armed.append(fault)
        return fault

    def clear(self) -> None:
        self._armed.clear()

    def armed(self) -> list[Fault]:
        return list(self._armed)

    def take(self, path: str) -> Fault | None:
        """Consume one use of the first fault matching `path`, if any."""
        if not self._armed or path.startswith("/_sim"):
            return None
        key = endpoint_key(path)
        for i, fault in enumerate(self._armed):
            if fault.endpoint in ("*", key):
                fault.count -= 1
                if fault.count <= 0:
                    del self._armed[i]
                return Fault(
                    fault.endpoint, fault.mode, 1, fault.delay_s, fault.foreign, fault.unreadable
                )
        return None
