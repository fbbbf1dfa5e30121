"""What a config reload (SIGHUP) does with each key: applied live, or "needs a restart".

Rules:
- Every config key is in exactly one table below; a test checks that no key is missing, so a
  new key must be placed (and its reload tested) when it is added.
- LIVE maps a key to the part of the daemon that takes it over at reload (the daemon carries
  that out): the part that *reads* the key, or the reload claims what it does not do (a test
  reads each key's value back from the live part after a reload); RESTART keys are said by
  name in the reload log and in `kioskctl status` (`needs_restart`) until the daemon runs
  with them. Nothing is claimed that is not done.
- Pure: compares two configs, no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any

SESSION = "session"  # counter session settings / keymap, swapped between keys
POLICY = "policy"  # outbox policy, rebuilt
PRINTER = "printer"  # printer reopened between jobs
LIGHTS = "lights"  # LEDs and buzzer reopened
INPUTS = "inputs"  # input readers restarted
CONTROL = "control"  # control server settings
JOURNAL = "journal"  # journal settings
LOGGING = "logging"  # log handler set up again
READ_AT_USE = "read at use"  # read from the config each time it is needed
METRICS = "metrics"  # the exporter reads [metrics] at its next write (woken at reload)

LIVE: dict[str, str] = {
    "terminal.id": LOGGING,
    "terminal.locale": SESSION,
    "terminal.currency": SESSION,
    "offline.create_max_age_s": POLICY,
    "offline.pay_max_age_s": POLICY,
    "offline.max_queued": POLICY,
    "offline.max_queued_amount": POLICY,
    "reconcile.quiet_period_s": POLICY,
    "reconcile.probes": POLICY,
    "reconcile.probe_interval_s": POLICY,
    "api.shared_account": POLICY,
    "catalog.refresh_s": READ_AT_USE,
    "catalog.stale_after_s": READ_AT_USE,
    "input.idle_reset_s": SESSION,
    "scanner.pattern": SESSION,
    "scanner.double_read_ms": SESSION,  # the session's double-read window, not the reader's
    "pay.not_winner": SESSION,
    "functions.supervisor_code": SESSION,
    "functions.protected": SESSION,
    "keymap.bindings": SESSION,
    "scanner.device": INPUTS,
    "scanner.layout": INPUTS,
    "scanner.gap_ms": INPUTS,
    "scanner.suffix": INPUTS,
    "scanner.max_length": INPUTS,
    "scanner.grab": INPUTS,
    "scanner.numlock": INPUTS,
    "keypad.device": INPUTS,
    "keypad.layout": INPUTS,
    "keypad.grab": INPUTS,
    "keypad.numlock": INPUTS,
    "printer.uri": PRINTER,
    "printer.paper_mm": PRINTER,
    "printer.timeout_s": PRINTER,
    "printer.preview_dir": PRINTER,
    "printer.profile": PRINTER,
    "printer.dots": PRINTER,
    "printer.columns": PRINTER,
    "leds.backend": LIGHTS,
    "leds.pin_factory": LIGHTS,
    "leds.green": LIGHTS,
    "leds.amber": LIGHTS,
    "leds.red": LIGHTS,
    "leds.buzzer": LIGHTS,
    "control.allow_inject": CONTROL,
    "journal.retention_days": JOURNAL,
    "log.level": LOGGING,
    "log.target": LOGGING,
    "metrics.textfile_dir": METRICS,
    "metrics.listen": METRICS,
    "metrics.interval_s": METRICS,
    "metrics.textfile_max_age_s": METRICS,
}

# Keys that only take effect when the daemon starts (the API client and its login, the journal
# file, the control socket's path, the first catalog wait).
RESTART: frozenset[str] = frozenset(
    {
        "terminal.agency_name",
        "api.base_url",
        "api.email",
        "api.password",
        "api.password_file",
        "api.connect_timeout_s",
        "api.read_timeout_s",
        "api.verify_tls",
        "api.ca_bundle",
        "journal.path",
        "catalog.first_load_wait_s",
        "control.socket",
    }
)


def keys_of(config: Any) -> dict[str, Any]:
    """Every `section.key` of a config with its value."""
    out = {}
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                out[f"{section.name}.{f.name}"] = getattr(value, f.name)
    return out


def changed(old: Any, new: Any) -> list[str]:
    """The keys whose values differ, in config order."""
    a, b = keys_of(old), keys_of(new)
    return [k for k in b if a.get(k) != b[k]]


def split(keys: list[str]) -> tuple[list[str], list[str]]:
    """(applied live, needing a restart); a key in neither table counts as needing a restart."""
    live = [k for k in keys if k in LIVE]
    return live, [k for k in keys if k not in LIVE]


def waiting(started: Any, current: Any) -> list[str]:
    """Restart keys whose value differs from the one the daemon started with."""
    return [k for k in changed(started, current) if k not in LIVE]
