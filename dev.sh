#!/bin/sh
# Set-up and entry point for a fresh Debian 12 / Raspberry Pi OS Bookworm machine with python3 and git.
#   ./dev.sh demo    installs what the demo needs, then runs `kioskd demo` (simulator + virtual devices)
#   ./dev.sh test    installs the test toolchain too, then runs the whole suite (parallel workers)
#   ./dev.sh setup   installs the test toolchain only (what CI's .ci/run calls)
#   ./dev.sh deb     installs the packaging tools, then builds dist/kioskd_<version>_<arch>.deb
#   ./dev.sh deb --arch arm64|armhf|amd64 [--release bookworm|trixie]   the same in an emulated root
#   ./dev.sh kioskd ARGS... / ./dev.sh kioskctl ARGS...   run a command from the venv
#
# System packages come from apt-get (through sudo when not root) with --no-install-recommends, and
# with a policy-rc.d in place for the duration that refuses to start services, so a booted
# machine does not start Prometheus or node-exporter because a test needs their binaries. The lists
# are one package per line: add a package to the list of the command that needs it, with why.
#
# Python packages come from the lock files in requirements/ (exact versions and their hashes;
# how to update them: CONTRIBUTING.md): requirements/run.txt for the demo (what the Debian package
# ships), requirements/dev.txt for the tests and checks. Same commit, same venv.
set -eu
cd "$(dirname "$0")"
VENV=${KIOSKD_VENV:-.venv}
# The venv's interpreter: the distribution's python3 (/usr/bin/python3), the one the Debian
# package's venv runs on a kiosk and the one python3-venv and python3-dev below are for. An
# interpreter earlier on PATH (pyenv, a local build) is not what ships, and proofs run what
# ships: Debian builds its python3 with profile-guided and link-time optimisation (amd64 and
# arm64, says its changelog), and a sale costs about 18 % less CPU on it than on an
# unoptimised build of the same 3.11 (issue 19, bench/RESULTS.md). KIOSKD_PYTHON=/path/to/
# python3 to choose another; a venv made by another interpreter than the chosen one is made
# again.
if [ -n "${KIOSKD_PYTHON:-}" ]; then
    PYTHON=$KIOSKD_PYTHON
elif [ -x /usr/bin/python3 ]; then
    PYTHON=/usr/bin/python3
else
    PYTHON=python3
fi

# What `kioskd demo` needs to build the venv: evdev and xkbcommon compile a C extension (gcc,
# python3-dev, the kernel's input headers, libxkbcommon and its layouts; libffi-dev for cffi where
# PyPI has no wheel, e.g. armhf).
DEMO_PKGS="
python3-venv
python3-dev
gcc
linux-libc-dev
libffi-dev
libxkbcommon-dev
xkb-data
"
# What the tests add: FUSE for the power-cut filesystem (tests/powercut); node-exporter and promtool
# for tests/metrics (run as plain binaries by the tests; their services stay stopped); the Debian
# package's build tools and the -dev libraries Pillow and PyYAML are built against (tests/packaging);
# systemd-journal-remote (tests/logs); the sqlite3 CLI (holds the journal's lock from outside in
# tests/faults); faketime (libfaketime: the kill -9 campaign runs the real daemon under a stepping
# wall clock, tests/crash/test_faketime.py); acl (the package depends on it; tests/packaging reads
# the ACL); reprepro (the fleet's apt repository, tests/packaging).
TEST_PKGS="
fuse
libfuse2
prometheus-node-exporter
prometheus
dpkg-dev
debhelper
dh-virtualenv
lintian
zlib1g-dev
libjpeg-dev
libfreetype-dev
libyaml-dev
systemd-journal-remote
sqlite3
faketime
acl
reprepro
"
# The package build (./dev.sh deb): the Build-Depends of debian/control.
DEB_PKGS="
dpkg-dev
debhelper
dh-virtualenv
zlib1g-dev
libjpeg-dev
libfreetype-dev
libyaml-dev
"

missing_pkgs() {
    command -v dpkg-query >/dev/null 2>&1 || return 0
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
    done
}

apt_install() {
    missing=$(missing_pkgs "$@" | tr '\n' ' ')
    [ -n "${missing% }" ] || return 0
    command -v apt-get >/dev/null 2>&1 || { echo "dev.sh: missing packages: $missing" >&2; exit 1; }
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "dev.sh: installing system packages: $missing" >&2
    # No service starts during the install (invoke-rc.d and deb-systemd-invoke ask policy-rc.d;
    # 101 = "action forbidden"). Only ours is removed afterwards; one already there is left alone.
    policy=/usr/sbin/policy-rc.d
    ours=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# dev.sh: no service starts while it installs packages\nexit 101\n' |
            $SUDO tee "$policy" >/dev/null
        $SUDO chmod 0755 "$policy"
        ours=1
        trap '$SUDO rm -f "$policy"' EXIT INT TERM
    fi
    $SUDO apt-get update -q >&2 || true
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >&2
    if [ -n "$ours" ]; then
        $SUDO rm -f "$policy"
        trap - EXIT INT TERM
    fi
}

# base_python PYTHON: the real path of the interpreter behind PYTHON (a venv's: the one it was
# made from).
base_python() {
    "$1" -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))'
}

# venv LEVEL: the venv with kioskd (editable) and the lock file of LEVEL (run or dev). A stamp
# per level records the lock it was built from; a changed lock or pyproject.toml rebuilds it.
venv() {
    lock="requirements/$1.txt"
    if [ -x "$VENV/bin/python" ] && [ "$(base_python "$VENV/bin/python")" != "$(base_python "$PYTHON")" ]; then
        echo "dev.sh: $VENV was made by $(base_python "$VENV/bin/python"), not $(base_python "$PYTHON"): making it again" >&2
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    stamp="$VENV/.kioskd-$1"
    if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        # --require-hashes: every file pip fetches must match the lock; kioskd itself is then
        # installed with no dependency resolution and no isolated build (its build backend,
        # setuptools + wheel, is in the lock too).
        "$VENV/bin/python" -m pip install -q --require-hashes --no-deps -r "$lock" >&2
        "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e . >&2
        touch "$stamp"
    fi
}

# The demo and the commands need the run lock; a venv that has the dev lock already holds it
# (the same versions, plus the test tools): keep that one up to date rather than shrink it.
venv_for_commands() {
    if [ -f "$VENV/.kioskd-dev" ]; then venv dev; else venv run; fi
}

cmd=${1:-demo}
[ $# -gt 0 ] && shift
case "$cmd" in
    demo)
        # shellcheck disable=SC2086
        apt_install $DEMO_PKGS
        venv_for_commands
        exec "$VENV/bin/kioskd" demo "$@" ;;
    setup)
        # shellcheck disable=SC2086
        apt_install $DEMO_PKGS $TEST_PKGS
        venv dev ;;
    test)
        # shellcheck disable=SC2086
        apt_install $DEMO_PKGS $TEST_PKGS
        venv dev
        # Parallel workers (pytest-xdist): two per core, since most tests wait on a real daemon,
        # socket or timer rather than compute; KIOSKD_TEST_WORKERS=N to choose (a later -n on the
        # command line wins too). tests/conftest.py keeps the tests of a file on one worker,
        # except slow campaigns, which go wherever a worker is free; the longest start first (by
        # the last run's times in .pytest_cache), tests marked late (the package's installs)
        # last, and the run's temporary files live on /dev/shm.
        workers=${KIOSKD_TEST_WORKERS:-$(($(nproc 2>/dev/null || echo 1) * 2))}
        exec "$VENV/bin/python" -m pytest -n "$workers" --dist loadfile "$@" ;;
    deb)
        # ./dev.sh deb --arch arm64|armhf|amd64 [--release bookworm|trixie] [OUTDIR]: in an
        # emulated Debian root (scripts/build-deb-arch.sh says what it needs from the host).
        if [ "${1:-}" = --arch ]; then
            arch=${2:?dev.sh: --arch needs arm64, armhf or amd64}
            shift 2
            release=bookworm
            if [ "${1:-}" = --release ]; then release=${2:?dev.sh: --release needs a name}; shift 2; fi
            exec scripts/build-deb-arch.sh "$arch" "$release" "$@"
        fi
        # shellcheck disable=SC2086
        apt_install $DEMO_PKGS $DEB_PKGS
        exec scripts/build-deb.sh "$@" ;;
    kioskd|kioskctl)
        # shellcheck disable=SC2086
        apt_install $DEMO_PKGS
        venv_for_commands
        exec "$VENV/bin/$cmd" "$@" ;;
    *) echo "usage: ./dev.sh demo|test|setup|deb|kioskd ARGS|kioskctl ARGS" >&2; exit 2 ;;
esac
