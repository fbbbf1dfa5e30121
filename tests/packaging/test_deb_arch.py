"""The Raspberry Pi package, end to end under emulation (opt-in: minutes of qemu).

    KIOSKD_TEST_ARCH=arm64 ./dev.sh test tests/packaging/test_deb_arch.py   (or armhf)

builds `kioskd_<version>_<arch>.deb` with the documented command (`scripts/build-deb-arch.sh`,
an emulated Debian 12 root under qemu-user-static, kept in KIOSKD_ROOTS between runs), installs
it with apt into a throwaway overlay of that root, and sells a ticket through the installed
`/opt/kioskd/venv/bin/kioskd run` (an arm64 process under qemu) against the simulator, with the
virtual kiosk's keypad, printer and notify socket: the harness runs on this machine, the daemon
in the root, sharing /tmp and the loopback network. Last results: debian/README.Debian.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kioskd.proving.harness import VirtualKiosk
from tests.mountns import needs_mount_namespace
from tests.packaging.rootfs import ThrowawayRoot

REPO = Path(__file__).resolve().parents[2]
ARCH = os.environ.get("KIOSKD_TEST_ARCH", "")
RELEASE = os.environ.get("KIOSKD_TEST_RELEASE", "bookworm")
ROOTS = os.environ.get("KIOSKD_ROOTS", "/var/tmp/kioskd-roots")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        ARCH == "",
        reason="opt-in: KIOSKD_TEST_ARCH=arm64 (or armhf) builds the package under qemu "
        "(~10 min, more for the first root)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap, chroot: needs root"),
    needs_mount_namespace(overlay=True),
]


@pytest.fixture(scope="module")
def arch_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    proc = subprocess.run(
        [str(REPO / "scripts" / "build-deb-arch.sh"), ARCH, RELEASE, str(out)],
        capture_output=True,
        text=True,
        timeout=7200,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.name.endswith(f"_{ARCH}.deb"), path
    return path


def test_the_installed_daemon_sells_a_ticket_under_emulation(arch_deb: Path, tmp_path: Path):
    with ThrowawayRoot(
        tmp_path / "rootfs", lower=f"{ROOTS}/{RELEASE}-{ARCH}", share_tmp=True
    ) as root:
        shared = Path("/tmp") / f"kioskd-arch-{os.getpid()}"
        shared.mkdir()
        try:
            shutil.copy(arch_deb, shared)
            proc = root.run(
                f"apt-get install -y --no-install-recommends {shared / arch_deb.name}", timeout=1800
            )
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            machine = root.run("dpkg --print-architecture && /opt/kioskd/venv/bin/kioskd --help")
            assert machine.stdout.startswith(ARCH), machine.stdout + machine.stderr

            # The harness (this machine) drives the daemon installed in the emulated root: the
            # wrap drops the harness's own interpreter and runs the packaged command instead.
            assert root.proc is not None
            enter = (
                f"shift 3; exec nsenter --target={root.proc.pid} --mount --root "
                f'chroot {root.root} /opt/kioskd/venv/bin/kioskd "$@"'
            )
            with VirtualKiosk(shared / "k") as k:
                k.start_daemon(wrap=["sh", "-c", enter, "sh"], timeout_s=300)
                k.wait_catalog(timeout_s=120)
                k.type("+1.341.20\n\n")
                k.wait_for(lambda: len(k.sim.ledger()["tickets"]) == 1, 180)
                k.wait_for(lambda: len(k.printer.core.printed) > 0, 120)  # its slip
                assert k.stop_daemon(timeout_s=120) == 0
        finally:
            shutil.rmtree(shared, ignore_errors=True)
