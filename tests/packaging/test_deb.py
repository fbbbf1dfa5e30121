"""The Debian package, end to end: built with the documented command (scripts/build-deb.sh),
checked by lintian, then installed, upgraded over itself with an edited config, removed and
purged in a throwaway root (tests/packaging/rootfs.py says why an overlay of this machine and
not the machine itself or a debootstrap chroot).

Needs root and the Debian build tools (`./dev.sh setup` installs them); the build fetches the
Python dependencies from PyPI. About 2-3 minutes, most of it the build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.packaging.rootfs import ThrowawayRoot, missing_tools

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("dpkg-buildpackage", "dh_virtualenv", "lintian", "apt-get")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="installs a package: needs root"),
    pytest.mark.skipif(
        bool([t for t in TOOLS if shutil.which(t) is None] + missing_tools()),
        reason="missing "
        + ", ".join([t for t in TOOLS if shutil.which(t) is None] + missing_tools())
        + " (./dev.sh setup installs the Debian build packages)",
    ),
]

SECRET = "s3cret-packaging-pw"


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    proc = subprocess.run(
        [str(REPO / "scripts" / "build-deb.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    path = Path(proc.stdout.strip().splitlines()[-1])
    arch = subprocess.run(
        ["dpkg-architecture", "-qDEB_HOST_ARCH"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert path.name == f"kioskd_{project_version()}_{arch}.deb"
    return path


def project_version() -> str:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_lintian_reports_no_error(deb: Path) -> None:
    proc = subprocess.run(
        ["lintian", "--no-tag-display-limit", str(deb)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors = [line for line in proc.stdout.splitlines() if line.startswith("E:")]
    assert errors == [], "\n".join(errors)


def test_package_never_holds_the_password(deb: Path) -> None:
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    assert "api_password" not in listing
    assert "/etc/kioskd/kioskd.toml" in listing.replace("./etc", "/etc")


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_install_upgrade_remove_purge(deb: Path, tmp_path: Path) -> None:
    with ThrowawayRoot(tmp_path / "rootfs") as root:
        shutil.copy(deb, root.path("/tmp"))
        pkg = f"/tmp/{deb.name}"

        # Install with apt, as a technician does.
        out = ok(root.run(f"apt-get install -y --no-install-recommends {pkg}"))
        assert "api_password" in out  # the postinst says how to set the credential
        unit = root.path("/lib/systemd/system/kioskd.service").read_text()
        assert unit == (REPO / "systemd" / "kioskd.service").read_text()
        assert "ExecStart=/opt/kioskd/venv/bin/kioskd run" in unit
        assert root.path("/etc/systemd/system/multi-user.target.wants/kioskd.service").is_symlink()
        for shipped in (
            "/usr/lib/sysusers.d/kioskd.conf",
            "/usr/lib/tmpfiles.d/kioskd.conf",
            "/lib/udev/rules.d/99-kioskd.rules",
            "/etc/systemd/journal-upload.conf.d/kioskd.conf",
        ):
            assert root.path(shipped).is_file(), shipped
        assert not root.path("/etc/kioskd/api_password").exists()
        conffiles = ok(root.run("dpkg-query -W -f='${Conffiles}' kioskd"))
        assert "/etc/kioskd/kioskd.toml" in conffiles
        assert "/etc/systemd/journal-upload.conf.d/kioskd.conf" in conffiles
        ok(root.run("getent passwd kioskd && getent group kioskd"))
        perms = ok(root.run("stat -c '%a %U:%G' /etc/kioskd /etc/kioskd/kioskd.toml")).split("\n")
        assert perms[:2] == ["750 root:kioskd", "640 root:kioskd"]
        # The venv runs on its own: the commands, and Pillow built on Debian's libraries.
        ok(root.run("kioskd check-config --config /etc/kioskd/kioskd.toml && kioskctl --help"))
        ok(
            root.run(
                "/opt/kioskd/venv/bin/python -c 'from PIL import features; "
                'assert all(features.check(f) for f in ("jpg", "zlib", "freetype2"))'
                "; import evdev, xkbcommon, escpos, kioskd.printer.png_render'"
            )
        )

        # What a site adds: an edited config, a drop-in, the credential, a journal, a unit drop-in.
        ok(
            root.run(
                "set -e; echo '# edited on site' >> /etc/kioskd/kioskd.toml\n"
                "printf '[terminal]\\nid = \"kiosk-214\"\\n'"
                " > /etc/kioskd/kioskd.toml.d/50-site.toml\n"
                f"(umask 077; echo {SECRET} > /etc/kioskd/api_password)\n"
                "mkdir -p /var/lib/kioskd /etc/systemd/system/kioskd.service.d\n"
                "echo journal > /var/lib/kioskd/journal.sqlite3\n"
                "printf '[Service]\\nIPAddressDeny=any\\n' > "
                "/etc/systemd/system/kioskd.service.d/50-site.conf"
            )
        )
        site_files = (
            "/etc/kioskd/kioskd.toml.d/50-site.toml",
            "/etc/kioskd/api_password",
            "/var/lib/kioskd/journal.sqlite3",
            "/etc/systemd/system/kioskd.service.d/50-site.conf",
        )

        # Upgrade over itself: everything the site wrote survives, without a question.
        out = ok(root.run(f"apt-get install -y --reinstall {pkg}"))
        assert SECRET not in out
        assert root.path("/etc/kioskd/kioskd.toml").read_text().endswith("# edited on site\n")
        for kept in site_files:
            assert root.path(kept).exists(), kept
        assert root.path("/etc/kioskd/api_password").read_text() == SECRET + "\n"
        ok(root.run("kioskd check-config --config /etc/kioskd/kioskd.toml | grep -q kiosk-214"))

        # Remove: the program goes, the data and the configuration stay.
        ok(root.run("apt-get remove -y kioskd"))
        for gone in ("/opt/kioskd/venv", "/usr/bin/kioskd", "/lib/systemd/system/kioskd.service"):
            assert not root.path(gone).exists(), gone
        assert root.path("/etc/kioskd/kioskd.toml").read_text().endswith("# edited on site\n")
        for kept in site_files:
            assert root.path(kept).exists(), kept
        assert ok(root.run("dpkg-query -W -f='${db:Status-Abbrev}' kioskd")).strip() == "rc"

        # Purge: the data goes too.
        ok(root.run("apt-get purge -y kioskd"))
        for gone in (
            "/etc/kioskd",
            "/var/lib/kioskd",
            "/etc/systemd/system/multi-user.target.wants/kioskd.service",
            "/etc/systemd/journal-upload.conf.d/kioskd.conf",
        ):
            assert not root.path(gone).exists(), gone
        assert root.run("dpkg-query -W kioskd").returncode != 0 or "un" in ok(
            root.run("dpkg-query -W -f='${db:Status-Abbrev}' kioskd")
        )


def test_install_script_replaces_a_script_install_with_the_package(
    deb: Path, tmp_path: Path
) -> None:
    """scripts/install.sh, given the .deb, over what the earlier script install left."""
    with ThrowawayRoot(tmp_path / "rootfs") as root:
        shutil.copy(deb, root.path("/tmp"))
        ok(
            root.run(
                "set -e; mkdir -p /opt/kioskd/venv/bin /etc/systemd/system /usr/local/bin\n"
                "echo '[Service]' > /etc/systemd/system/kioskd.service\n"
                "touch /opt/kioskd/venv/bin/stale\n"
                "ln -sfn /opt/kioskd/venv/bin/kioskd /usr/local/bin/kioskd"
            )
        )
        out = ok(
            root.run(
                f"umask 077; printf '%s\\n' '{SECRET}' > /tmp/pw; KIOSKD_NO_START=1 "
                f"bash {REPO}/scripts/install.sh --password-file /tmp/pw /tmp/{deb.name}"
            )
        )
        assert SECRET not in out
        assert root.path("/etc/systemd/system/kioskd.service.pre-deb").exists()
        assert not root.path("/etc/systemd/system/kioskd.service").exists()
        assert not root.path("/opt/kioskd/venv/bin/stale").exists()
        assert not root.path("/usr/local/bin/kioskd").is_symlink()
        assert root.path("/etc/kioskd/api_password").read_text() == SECRET + "\n"
        assert ok(root.run("stat -c '%a %U' /etc/kioskd/api_password")).strip() == "600 root"
        assert ok(root.run("dpkg-query -W -f='${db:Status-Abbrev}' kioskd")).strip() == "ii"
        ok(root.run("kioskd check-config --config /etc/kioskd/kioskd.toml"))
