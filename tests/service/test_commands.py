"""`kioskd check-config`, the unit check and the installer's dry run, as real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kioskd.proving import unitcheck
from tests.run_kioskd import python_lines
from tests.service.conftest import MINIMAL, write

REPO = Path(__file__).resolve().parents[2]


def kioskd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kioskd", *args], capture_output=True, text=True, cwd=REPO
    )


def test_check_config_ok_and_broken(tmp_path: Path) -> None:
    good = kioskd("check-config", "--config", str(REPO / "config" / "kioskd.toml"))
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("ok: terminal")
    assert "80mm profile default," in good.stdout
    write(tmp_path / "kioskd.toml", MINIMAL)
    write(tmp_path / "kioskd.toml.d" / "10-site.toml", "[printer]\n\npaper_mm = 70\n")
    bad = kioskd("check-config", "--config", str(tmp_path / "kioskd.toml"))
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        "kioskd.toml.d/10-site.toml:3: printer.paper_mm: must be 58 or 80, got 70",
        f"1 error in {tmp_path / 'kioskd.toml'}",
    ]


SECURITY_OUT = """\
  NAME                   DESCRIPTION                                     EXPOSURE
✗ PrivateNetwork=        Service has access to the host's network             0.5

→ Overall exposure level for kioskd.service: 1.3 OK 🙂
"""


def test_parsers_on_recorded_output() -> None:
    assert unitcheck.parse_exposure(SECURITY_OUT) == 1.3
    assert unitcheck.parse_exposure("nothing") is None
    verify = (
        "kioskd.service: Command /opt/kioskd/venv/bin/kioskd is not executable: "
        "No such file or directory\n"
        "/x/kioskd.service:9: Unknown key name 'Foo' in section 'Service', ignoring.\n"
    )
    assert unitcheck.verify_findings(verify) == [
        "/x/kioskd.service:9: Unknown key name 'Foo' in section 'Service', ignoring."
    ]


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


@needs_analyze
def test_shipped_unit_passes() -> None:
    ok, report = unitcheck.check_unit(REPO / "systemd" / "kioskd.service")
    assert ok, report
    assert report[0].startswith("security: exposure ") and report[0].endswith(" ok")
    assert report[1] == "verify: clean (apart from the binary path)"


@needs_analyze
def test_weakened_unit_fails(tmp_path: Path) -> None:
    text = (REPO / "systemd" / "kioskd.service").read_text()
    text = text.replace("ProtectSystem=strict\n", "ProtectSystem=no\nFrobnicate=yes\n")
    text = text.replace("CapabilityBoundingSet=\n", "")
    unit = write(tmp_path / "kioskd.service", text)
    proc = subprocess.run(
        [sys.executable, "-m", "kioskd.proving.unitcheck", str(unit)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 1
    assert "FAIL (must be <= 1.5)" in proc.stdout
    assert "Frobnicate" in proc.stdout


def test_install_dry_run_changes_nothing(tmp_path: Path) -> None:
    secret = tmp_path.parent / f"{tmp_path.name}-pw"
    secret.write_text("never-printed-pw\n")
    env = {
        **os.environ,
        "KIOSKD_PREFIX": str(tmp_path / "opt"),
        "KIOSKD_ETC": str(tmp_path / "etc"),
    }
    env.pop("KIOSKD_API_PASSWORD", None)
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "install.sh"), "--dry-run", "--password-file", str(secret)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "never-printed-pw" not in out + proc.stderr
    for expected in (
        "KIOSKD_PREFIX is ignored",
        f"{REPO / 'scripts' / 'build-deb.sh'} {REPO / 'dist'}",
        "apt-get install -y -q",
        "kioskd_VERSION_ARCH.deb",
        f"would write: {tmp_path / 'etc' / 'api_password'} (mode 0600, password from {secret})",
        # another config directory reaches the installed unit
        f"ExecStart=/opt/kioskd/venv/bin/kioskd run --config {tmp_path / 'etc'}/kioskd.toml",
        f"LoadCredential=api_password:{tmp_path / 'etc'}/api_password",
        f"kioskd check-config --config {tmp_path / 'etc'}/kioskd.toml",
        "systemctl restart kioskd.service",
    ):
        assert expected in out, expected
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_install_never_takes_the_password_from_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, "KIOSKD_ETC": str(tmp_path / "etc"), "KIOSKD_API_PASSWORD": "pw-env"}
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "install.sh"), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    assert "--password-file" in proc.stderr and "pw-env" not in proc.stdout + proc.stderr


def test_install_dry_run_with_a_package_keeps_existing_password(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    write(etc / "api_password", "old\n")
    deb = tmp_path / "kioskd_0.1.0_arm64.deb"
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "install.sh"), "--dry-run", str(deb)],
        capture_output=True,
        text=True,
        env={**os.environ, "KIOSKD_ETC": str(etc)},
    )
    assert proc.returncode == 0, proc.stderr
    assert f"apt-get install -y -q {deb}" in proc.stdout
    assert "build-deb.sh" not in proc.stdout  # a given package is installed, not rebuilt
    assert f"{etc / 'api_password'}" in proc.stdout and "exists: kept" in proc.stdout
    assert f"would write: {etc / 'api_password'}" not in proc.stdout
    assert (etc / "api_password").read_text() == "old\n"


def test_a_command_builds_only_its_own_parser() -> None:
    """`kioskd run` imports no other command's module (issue 19, start-up); `kioskd --help`
    still lists them all."""
    code = (
        "import sys\n"
        "from kioskd.cli import COMMANDS, build_parser\n"
        "build_parser('run')\n"
        "print(sorted(m for m in sys.modules if m.startswith('kioskd.commands.')))\n"
        "build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('kioskd.commands.')))\n"
    )
    out = python_lines(code)
    assert out[0] == "['kioskd.commands.run']"
    assert "kioskd.commands.chaos" in out[1] and "kioskd.commands.doctor" in out[1]
    helped = subprocess.run(
        [sys.executable, "-m", "kioskd", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "check-config" in helped and "chaos" in helped
    ran = subprocess.run(
        [sys.executable, "-m", "kioskd", "run", "--help"], capture_output=True, text=True
    )
    assert ran.returncode == 0 and "usage: kioskd run" in ran.stdout
