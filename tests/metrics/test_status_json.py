"""`kioskctl status --json` is a documented, stable interface (docs/MONITORING.md): every field
the document lists is in what the real `kioskctl` prints from a running daemon, with the
documented type, and the enumerated ones take only documented values."""

from __future__ import annotations

import asyncio
import json
import re
import sys

from tests.flows.conftest import running_kiosk
from tests.metrics.conftest import REPO

DOC = REPO / "docs" / "MONITORING.md"
TYPES = {
    "string": (str,),
    "object": (dict,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
}
ENUMERATED = ("state", "api", "outbox")


def documented() -> dict[str, tuple[str, str]]:
    """field -> (type text, meaning) from the status table of the document."""
    text = DOC.read_text()
    section = text.split("## `kioskctl status --json`", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \| (.+) \|$", section, re.MULTILINE)
    return {name: (kind.strip(), meaning) for name, kind, meaning in rows}


def type_ok(value: object, kind: str) -> bool:
    if kind.endswith(" or null") and value is None:
        return True
    kind = kind.removesuffix(" or null")
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, TYPES[kind])


async def kioskctl_status(socket: str) -> dict:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kioskd.ctl",
        "--socket",
        socket,
        "status",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


def test_the_document_lists_the_fields():
    fields = documented()
    assert len(fields) >= 15
    assert {"state", "api", "queue", "in_doubt", "printer", "terminal_id"} <= set(fields)
    for name, (kind, _meaning) in fields.items():
        assert kind.removesuffix(" or null") in TYPES, (name, kind)


async def test_every_documented_field_is_in_kioskctl_status_json(tmp_path):
    fields = documented()
    async with running_kiosk(tmp_path) as kiosk:
        await kiosk.sell("+6.12.10\n\n")
        status = await kioskctl_status(str(tmp_path / "ctl.sock"))
    missing = set(fields) - set(status)
    assert not missing, f"documented but not in kioskctl status --json: {missing}"
    for name, (kind, meaning) in fields.items():
        assert type_ok(status[name], kind), (name, kind, status[name])
        if name in ENUMERATED:
            assert f"`{status[name]}`" in meaning, (name, status[name])
    assert status["state"] == "ready" and status["api"] == "ok"
    assert status["queue"]["done"] == 1 and status["slips_printed"] == 1
    assert set(status["lights"]) >= {"state", "last_signal", "green", "amber", "red"}
