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

# Modes after which the server holds the call's effect (if the call itself succeeded).
APPLIED_MODES = frozenset(
    {"delay", "commit_then_drop", "commit_then_504", "malformed", "empty_body", "wrong_types",
     "foreign_ticket", "commit_late"}
)  # fmt: skip


class FaultError(ValueError):
    """An admin request for a fault that cannot exist (unknown mode, bad count)."""


@dataclass(slots=True)
class Fault:
    endpoint: str
    mode: str
    count: int = 1
    delay_s: float = 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def endpoint_key(path: str) -> str:
    """The endpoint a path belongs to (the image path carries the uuid)."""
    if path.startswith("/user/ticket/image/"):
        return "/user/ticket/image"
    return path


class FaultPlan:
    def __init__(self) -> None:
        self._armed: list[Fault] = []

    def arm(self, endpoint: str, mode: str, count: int = 1, delay_s: float = 0.0) -> Fault:
        if mode not in MODES:
            raise FaultError(f"unknown fault mode {mode!r} (known: {', '.join(MODES)})")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise FaultError(f"fault count must be a positive integer, got {count!r}")
        if not isinstance(delay_s, int | float) or delay_s < 0:
            raise FaultError(f"fault delay_s must be a non-negative number, got {delay_s!r}")
        if not isinstance(endpoint, str) or not endpoint:
            raise FaultError("fault endpoint must be a path or '*'")
        fault = Fault(endpoint_key(endpoint), mode, count, float(delay_s))
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
                return Fault(fault.endpoint, fault.mode, 1, fault.delay_s)
        return None
