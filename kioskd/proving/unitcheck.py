"""Check the systemd unit: `python -m kioskd.proving.unitcheck systemd/kioskd.service`.

Runs `systemd-analyze security --offline=true` (exposure must be <= 1.5) and
`systemd-analyze verify` (must report nothing but the missing binary, since the unit names the
installed path /opt/kioskd/venv/bin/kioskd that a CI machine does not have). Prints both results;
exit code 0 when both pass, 1 when either fails, 2 when systemd-analyze is missing. CI calls
this exact command where systemd-analyze exists.

The parsing is pure (`parse_exposure`, `verify_findings`) so it is tested on recorded output.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

MAX_EXPOSURE = 1.5
_EXPOSURE = re.compile(r"Overall exposure level for \S+:\s*([0-9]+(?:\.[0-9]+)?)")
# The one acceptable verify finding: the installed binary does not exist on this machine.
_MISSING_BINARY = re.compile(r"Command \S+ is not executable: No such file or directory")


def parse_exposure(output: str) -> float | None:
    """The overall exposure printed by `systemd-analyze security`, or None if absent."""
    m = _EXPOSURE.search(output)
    return float(m.group(1)) if m else None


def verify_findings(output: str) -> list[str]:
    """Lines of `systemd-analyze verify` output that are real problems."""
    out = []
    for line in output.splitlines():
        line = line.strip()
        if not line or _MISSING_BINARY.search(line):
            continue
        out.append(line)
    return out


def _run(cmd: list[str]) -> tuple[int, str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def check_unit(unit: Path, max_exposure: float = MAX_EXPOSURE) -> tuple[bool, list[str]]:
    """(passed, report lines)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        raise FileNotFoundError("systemd-analyze not found")
    report: list[str] = []
    ok = True
    _rc, sec = _run([tool, "security", "--offline=true", "--no-pager", str(unit)])
    exposure = parse_exposure(sec)
    if exposure is None:
        ok = False
        report.append("security: no exposure in systemd-analyze output:")
        report.extend("  " + line for line in sec.splitlines()[-10:])
    else:
        verdict = "ok" if exposure <= max_exposure else f"FAIL (must be <= {max_exposure})"
        report.append(f"security: exposure {exposure:.1f} {verdict}")
        ok = ok and exposure <= max_exposure
    # verify warns about unknown keys on stderr while security only warns; show them too.
    _rc, ver = _run([tool, "verify", "--no-pager", str(unit)])
    findings = verify_findings(ver)
    for line in sec.splitlines():
        if ("Unknown" in line or "ignoring" in line) and line.strip() not in findings:
            findings.append(line.strip())
    if findings:
        ok = False
        report.append(f"verify: {len(findings)} finding(s):")
        report.extend("  " + f for f in findings)
    else:
        report.append("verify: clean (apart from the binary path)")
    return ok, report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kioskd.proving.unitcheck", description=__doc__)
    p.add_argument("unit", type=Path, help="unit file, e.g. systemd/kioskd.service")
    p.add_argument("--max-exposure", type=float, default=MAX_EXPOSURE)
    args = p.parse_args(argv)
    if not args.unit.is_file():
        print(f"unitcheck: {args.unit}: no such file", file=sys.stderr)
        return 1
    try:
        ok, report = check_unit(args.unit, args.max_exposure)
    except FileNotFoundError as exc:
        print(f"unitcheck: {exc}", file=sys.stderr)
        return 2
    print(f"{args.unit}:")
    for line in report:
        print(f"  {line}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
