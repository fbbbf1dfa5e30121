"""The Debian package, end to end: built with the documented command (scripts/build-deb.sh),
checked by lintian, then installed, upgraded over itself with an edited config, removed and
purged in a throwaway root (tests/packaging/rootfs.py says why an overlay of this machine and
not the machine itself or a debootstrap chroot).

Needs root and the Debian build tools (`./dev.sh setup` installs them); the build fetches the
Python dependencies from PyPI. About 2-3 minutes, most of it the build. Under `./dev.sh test` the
build starts first and the tests that install it (marked `late`) spread over the workers once
everything else is handed out (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.metrics.conftest import free_port
from tests.mountns import needs_mount_namespace
from tests.packaging.rootfs import ThrowawayRoot, missing_tools

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("dpkg-buildpackage", "dh_virtualenv", "lintian", "apt-get")

pytestmark = [
    pytest.mark.slow,  # builds the package (minutes): scheduled first
    pytest.mark.skipif(os.geteuid() != 0, reason="installs a package: needs root"),
    pytest.mark.skipif(
        bool([t for t in TOOLS if shutil.which(t) is None] + missing_tools()),
        reason="missing "
        + ", ".join([t for t in TOOLS if shutil.which(t) is None] + missing_tools())
        + " (./dev.sh setup installs the Debian build packages)",
    ),
]

SECRET = "s3cret-packaging-pw"


@pytest.fixture(scope="session")
def deb(run_dir: Path) -> Path:
    """The package, built once per run: the first test that needs it builds it (under a lock
    every worker of the run shares), the others use it; a failed build fails them all at once
    with its error rather than each building again."""
    # KIOSKD_TEST_DEB=path: test that package instead of building one (to rerun the install
    # tests on a package just built; CI never sets it).
    if os.environ.get("KIOSKD_TEST_DEB"):
        return Path(os.environ["KIOSKD_TEST_DEB"])
    out = run_dir / "deb"
    out.mkdir(exist_ok=True)
    with (out / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = out / "result"
        if result.exists():
            text = result.read_text()
            assert not text.startswith("error:"), "the package build failed: " + text
            return Path(text)
        # Ahead of the other workers' tests (nice -5; the tests need root anyway): the build
        # and the installs after it are the suite's longest chain, the rest waits for no one.
        proc = subprocess.run(
            ["nice", "-n", "-5", str(REPO / "scripts" / "build-deb.sh"), str(out)],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        if proc.returncode != 0:
            result.write_text("error: " + proc.stderr[-4000:])
        assert proc.returncode == 0, proc.stderr[-4000:]
        path = Path(proc.stdout.strip().splitlines()[-1])
        result.write_text(str(path))
        return path


def test_the_package_builds_with_the_documented_command(deb: Path) -> None:
    """Scheduled first (slow, a unit of its own): it builds the package the `late` tests use."""
    arch = subprocess.run(
        ["dpkg-architecture", "-qDEB_HOST_ARCH"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert deb.name == f"kioskd_{project_version()}_{arch}.deb"
    assert deb.stat().st_size > 0


def project_version() -> str:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.late
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


@pytest.mark.late
def test_package_never_holds_the_password(deb: Path) -> None:
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    assert "api_password" not in listing
    assert "/etc/kioskd/kioskd.toml" in listing.replace("./etc", "/etc")


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.late
@needs_mount_namespace(overlay=True)
def test_install_upgrade_remove_purge(deb: Path, tmp_path: Path) -> None:
    with ThrowawayRoot(tmp_path / "rootfs") as root:
        shutil.copy(deb, root.path("/tmp"))
        pkg = f"/tmp/{deb.name}"

        # Install with apt, as a technician does.
        out = ok(root.run(f"apt-get install -y --no-install-recommends {pkg}"))
        assert "api_password" in out  # the postinst says how to set the credential
        # node-exporter's folder links kioskd.prom to the file kioskd writes on tmpfs.
        textfile_link = root.path("/var/lib/prometheus/node-exporter/kioskd.prom")
        assert os.readlink(textfile_link) == "/run/kioskd-metrics/kioskd.prom"
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

        # The simulator and the demo ship too: a technician bench-tests a kiosk with them.
        ok(root.run("kioskd demo --out /tmp/demo-out", timeout=600))
        assert list(root.path("/tmp/demo-out/slips").glob("*.png"))
        port = free_port()
        ok(
            root.run(
                f"setsid kioskd sim --host 127.0.0.1 --port {port} </dev/null >/tmp/sim.log 2>&1"
                " & echo $! > /tmp/sim.pid"
            )
        )
        try:
            answer = _http_status(f"http://127.0.0.1:{port}/")
        finally:
            root.run("kill $(cat /tmp/sim.pid)")
        assert answer < 500, root.path("/tmp/sim.log").read_text()

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

        # Remove: the program goes, the data and the configuration stay; the link the textfile
        # helper made in node-exporter's folder goes (it would point at nothing).
        ok(root.run("apt-get remove -y kioskd"))
        link = root.path("/var/lib/prometheus/node-exporter/kioskd.prom")
        assert not link.is_symlink() and not link.exists()
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


@pytest.mark.late
@needs_mount_namespace(overlay=True)
def test_install_script_replaces_a_script_install_with_the_package(
    deb: Path, tmp_path: Path
) -> None:
    """scripts/install.sh, given the .deb, over what the earlier script install left."""
    with ThrowawayRoot(tmp_path / "rootfs") as root:
        shutil.copy(deb, root.path("/tmp"))
        # The root has a /tmp of its own: a checkout under the host's /tmp is not visible in
        # it, so the script goes in beside the package (given a .deb it needs nothing else).
        shutil.copy(REPO / "scripts" / "install.sh", root.path("/tmp"))
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
                f"bash /tmp/install.sh --password-file /tmp/pw /tmp/{deb.name}"
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


TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"  # node-exporter's (Debian's default)
TMPFS_DIR = "/run/kioskd-metrics"  # metrics.textfile_dir's default: kioskd writes here


def write_prom(folder: str) -> str:
    """kioskd's own metrics writer, from the installed venv, run as the kioskd user (what the
    daemon does; setpriv: as that user, no capabilities, like the unit)."""
    return (
        "setpriv --reuid=kioskd --regid=kioskd --init-groups -- /opt/kioskd/venv/bin/python -c "
        "'import time; from kioskd.config import MetricsConfig; from kioskd.daemon.metrics import "
        'Metrics; print(Metrics(MetricsConfig, terminal_id="K-214", version="0", now=time.time)'
        f'.write_textfile("{folder}"))\''
    )


def _http_status(url: str, deadline_s: float = 20) -> int:
    """The HTTP status of a GET (any answer counts: the server is up), waiting for it to start."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _scrape(url: str, deadline_s: float = 20) -> str:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.late
@needs_mount_namespace(overlay=True)
@pytest.mark.skipif(
    shutil.which("prometheus-node-exporter") is None,
    reason="needs prometheus-node-exporter (./dev.sh setup installs it)",
)
@pytest.mark.parametrize("with_exporter", [True, False], ids=["installed_before", "after"])
def test_metrics_reach_node_exporter_installed_before_or_after(
    deb: Path, tmp_path: Path, with_exporter: bool
) -> None:
    """With node-exporter installed (its package gives /var/lib/prometheus to the prometheus
    user, which made systemd-tmpfiles refuse kioskd's ACL line), and without it: the kioskd user
    writes kioskd.prom into /run/kioskd-metrics (tmpfs: issue 19), node-exporter's folder holds
    the link to it, and node-exporter, as its own user, serves it; a site that writes into
    node-exporter's folder itself (the old default) still can. (Two roots, one per case: two
    tests, so two workers can take them.)"""
    port = free_port()
    with ThrowawayRoot(tmp_path / f"rootfs-{with_exporter}") as root:
        shutil.copy(deb, root.path("/tmp"))
        if not with_exporter:
            ok(root.run("apt-get purge -y prometheus-node-exporter prometheus"))
            assert not root.path(TEXTFILE_DIR).exists()
        else:
            owner = ok(root.run("stat -c %U /var/lib/prometheus"))
            assert owner.strip() == "prometheus"  # the layout that broke tmpfiles
        ok(root.run(f"apt-get install -y --no-install-recommends /tmp/{deb.name}"))
        # Boot's tmpfiles pass over kioskd's snippet succeeds (it exited 73 before).
        ok(root.run("systemd-tmpfiles --create /usr/lib/tmpfiles.d/kioskd.conf"))
        # The folder keeps its owner and permissions; kioskd has an entry of its own.
        acl = ok(root.run(f"getfacl -p {TEXTFILE_DIR}")).splitlines()
        for entry in (
            "# owner: root",
            "user::rwx",
            "user:kioskd:rwx",
            "group::r-x",
            "other::r-x",
        ):
            assert entry in acl, acl

        # The tmpfs folder (tmpfiles.d) and the link to its file (the postinst's helper).
        assert ok(root.run(f"stat -c '%U %G %a' {TMPFS_DIR}")).strip() == "kioskd kioskd 755"
        link = f"{TEXTFILE_DIR}/kioskd.prom"
        assert ok(root.run(f"readlink {link}")).strip() == f"{TMPFS_DIR}/kioskd.prom"
        # The old default still works: kioskd's write replaces the link with its file.
        written = ok(root.run(write_prom(TEXTFILE_DIR))).strip()
        assert written == link
        kind = ok(root.run(f"stat -c '%U %a %F' {written}")).strip()
        assert kind == "kioskd 644 regular file"
        ok(root.run("/usr/libexec/kioskd-textfile-access"))  # the next start: the link again
        assert ok(root.run(f"readlink {link}")).strip() == f"{TMPFS_DIR}/kioskd.prom"
        written = ok(root.run(write_prom(TMPFS_DIR))).strip()
        assert written == f"{TMPFS_DIR}/kioskd.prom"
        assert ok(root.run(f"stat -c '%U %a' {written}")).strip() == "kioskd 644"
        if not with_exporter:
            # Installed later, node-exporter finds the folder ready (and the unit's
            # ExecStartPre gives the link and the ACL again at each start).
            ok(root.run("apt-get install -y --no-install-recommends prometheus-node-exporter"))
            ok(root.run("/usr/libexec/kioskd-textfile-access"))
            ok(root.run(write_prom(TMPFS_DIR)))
        # node-exporter as its packaged unit runs it: user prometheus, this textfile folder.
        ok(
            root.run(
                "setsid setpriv --reuid=prometheus --regid=prometheus --init-groups -- "
                f"prometheus-node-exporter --web.listen-address=127.0.0.1:{port} "
                "--collector.disable-defaults --collector.textfile "
                f"--collector.textfile.directory={TEXTFILE_DIR} "
                "</dev/null >/tmp/ne.log 2>&1 & echo $! > /tmp/ne.pid"
            )
        )
        try:
            text = _scrape(f"http://127.0.0.1:{port}/metrics")
        finally:
            root.run("kill $(cat /tmp/ne.pid)")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        build = (("terminal_id", "K-214"), ("version", "0"))
        assert samples.get(("kioskd_build_info", build)) == 1, text[-2000:]
        assert samples.get(("node_textfile_scrape_error", ())) == 0, text[-2000:]
        # Served under the link's name (what the fleet's alert selects), the file's age.
        assert samples.get(("node_textfile_mtime_seconds", (("file", link),))), text[-2000:]


def _gpg(home: Path, *args: str) -> str:
    proc = subprocess.run(
        ["gpg", "--batch", "--quiet", "--homedir", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return proc.stdout


@contextlib.contextmanager
def _test_key(name: str) -> Iterator[tuple[Path, str]]:
    """A throwaway signing key (never committed): its GNUPGHOME and fingerprint. The home is
    short-named in /tmp (gpg-agent's socket path must fit), its agent stopped afterwards."""
    home = Path(tempfile.mkdtemp(prefix="kgpg-"))
    try:
        _gpg(home, "--passphrase", "", "--quick-gen-key", f"{name} <{name}@invalid>", "ed25519")
        listing = _gpg(home, "--with-colons", "--list-keys").splitlines()
        yield home, next(line.split(":")[9] for line in listing if line.startswith("fpr"))
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)


def _newer(deb: Path, version: str, out: Path) -> Path:
    """The same package under a newer version (what the next release looks like to apt)."""
    out.mkdir(parents=True, exist_ok=True)
    tree = out / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    text = control.read_text()
    old = next(line for line in text.splitlines() if line.startswith("Version: "))
    control.write_text(text.replace(old, f"Version: {version}"))
    new = out / deb.name.replace(project_version(), version)
    # gzip -1, not dpkg-deb's default xz: 0.5 s instead of 17 (the compression of this copy is
    # not what its tests are about; apt and reprepro read both).
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "-b", str(tree), str(new)],
        check=True,
        capture_output=True,
    )
    return new


def _repo(src: Path, key_home: Path, key: str, *debs: Path) -> None:
    env = dict(os.environ, GNUPGHOME=str(key_home))
    proc = subprocess.run(
        [str(REPO / "scripts" / "build-apt-repo.sh"), str(src), key, *map(str, debs)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


# Only the fleet's repository: apt on the kiosk resolves kioskd from it, its dependencies from
# what is installed (no mirror needed, none touched).
SOURCES = "/etc/apt/sources.list.d/kioskd.sources"
APT_ONLY_KIOSKD = f"-o Dir::Etc::sourcelist={SOURCES} -o Dir::Etc::sourceparts=-"


def _publish(root: ThrowawayRoot, src: Path) -> None:
    """Serve the repository to the kiosk (file://; HTTPS in the field)."""
    dest = root.path("/srv/kioskd-apt")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("conf", "db"))


@pytest.mark.late
@needs_mount_namespace(overlay=True)
@pytest.mark.skipif(
    not all(shutil.which(t) for t in ("reprepro", "gpg")),
    reason="needs reprepro and gpg (./dev.sh setup installs reprepro)",
)
def test_fleet_repository_installs_upgrades_keeps_site_files_and_refuses_bad_signatures(
    deb: Path, tmp_path: Path
) -> None:
    with (
        _test_key("kioskd-fleet-test") as (fleet_home, fleet_key),
        _test_key("kioskd-rogue-test") as (rogue_home, rogue_key),
    ):
        _fleet_repository(deb, tmp_path, fleet_home, fleet_key, rogue_home, rogue_key)


def _fleet_repository(
    deb: Path, tmp_path: Path, fleet_home: Path, fleet_key: str, rogue_home: Path, rogue_key: str
) -> None:
    repo = tmp_path / "repo"
    _repo(repo, fleet_home, fleet_key, deb)
    newer = _newer(deb, "99.0.0", tmp_path)

    with ThrowawayRoot(tmp_path / "rootfs") as root:
        # A kiosk joins the fleet: the public key and the source, once (docs/FLEET.md).
        _publish(root, repo)
        keyring = root.path("/etc/apt/keyrings/kioskd.gpg")
        keyring.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo / "kioskd-archive-keyring.gpg", keyring)
        root.path(SOURCES).write_text(
            "Types: deb\nURIs: file:/srv/kioskd-apt\nSuites: bookworm\nComponents: main\n"
            "Signed-By: /etc/apt/keyrings/kioskd.gpg\n"
        )
        ok(root.run(f"apt-get {APT_ONLY_KIOSKD} update"))
        ok(root.run(f"apt-get {APT_ONLY_KIOSKD} install -y --no-install-recommends kioskd"))
        assert ok(root.run("dpkg-query -W -f='${Version}' kioskd")) == project_version()

        # The site's own files.
        ok(
            root.run(
                "set -e; echo '# edited on site' >> /etc/kioskd/kioskd.toml\n"
                "printf '[terminal]\\nid = \"kiosk-214\"\\n'"
                " > /etc/kioskd/kioskd.toml.d/50-site.toml\n"
                f"(umask 077; echo {SECRET} > /etc/kioskd/api_password)\n"
                "mkdir -p /var/lib/kioskd && echo journal > /var/lib/kioskd/journal.sqlite3"
            )
        )

        # A release reaches the repository; the kiosk upgrades as unattended-upgrades would.
        _repo(repo, fleet_home, fleet_key, newer)
        _publish(root, repo)
        ok(root.run(f"apt-get {APT_ONLY_KIOSKD} update"))
        out = ok(root.run(f"apt-get {APT_ONLY_KIOSKD} upgrade -y"))
        assert SECRET not in out
        assert ok(root.run("dpkg-query -W -f='${Version}' kioskd")) == "99.0.0"
        assert root.path("/etc/kioskd/kioskd.toml").read_text().endswith("# edited on site\n")
        assert root.path("/etc/kioskd/api_password").read_text() == SECRET + "\n"
        assert root.path("/var/lib/kioskd/journal.sqlite3").read_text() == "journal\n"
        ok(root.run("kioskd check-config --config /etc/kioskd/kioskd.toml | grep -q kiosk-214"))

        # Refused: a repository signed by another key, and one not signed at all.
        rogue = tmp_path / "rogue-repo"
        _repo(rogue, rogue_home, rogue_key, _newer(deb, "99.1.0", tmp_path / "r"))
        _publish(root, rogue)
        bad = root.run(f"apt-get {APT_ONLY_KIOSKD} update")  # warns, keeps the old index
        assert "NO_PUBKEY" in bad.stdout + bad.stderr, bad
        root.run(f"apt-get {APT_ONLY_KIOSKD} upgrade -y")
        assert ok(root.run("dpkg-query -W -f='${Version}' kioskd")) == "99.0.0"
        assert "99.1.0" not in ok(root.run("apt-cache policy kioskd"))
        for signature in ("InRelease", "Release.gpg"):
            root.path(f"/srv/kioskd-apt/dists/bookworm/{signature}").unlink()
        bad = root.run(f"apt-get {APT_ONLY_KIOSKD} update")
        # apt: "is not signed" (never seen signed) or "is no longer signed" (as here).
        assert bad.returncode != 0 and " signed." in bad.stderr, bad
        root.run(f"apt-get {APT_ONLY_KIOSKD} upgrade -y")
        assert ok(root.run("dpkg-query -W -f='${Version}' kioskd")) == "99.0.0"
