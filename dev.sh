#!/bin/sh
# Set-up and entry point for a fresh Debian 12 / Raspberry Pi OS Bookworm machine with only python3.
#   ./dev.sh demo    installs what is missing, then runs `kioskd demo` (simulator + virtual devices)
#   ./dev.sh test    installs what is missing, then runs the whole test suite
#   ./dev.sh setup   only installs
#   ./dev.sh kioskd ARGS... / ./dev.sh kioskctl ARGS...   run a command from the venv
# System packages (installed with apt-get, through sudo when not root): python3-venv, python3-dev,
# gcc and linux headers (evdev builds a C extension), libxkbcommon-dev (xkbcommon bindings),
# fuse + libfuse2 (power-cut test filesystem), prometheus-node-exporter and prometheus (promtool)
# for the metrics and alert-rule tests; the Debian package's build tools (dpkg-dev, debhelper,
# dh-virtualenv, lintian, and the -dev libraries Pillow and PyYAML are built against) and
# systemd-journal-remote (journal upload/remote) for tests/packaging and tests/logs; sqlite3 (the
# CLI holds the journal's lock from outside in tests/faults).
#   ./dev.sh deb     installs what is missing, then builds dist/kioskd_<version>_<arch>.deb
set -eu
cd "$(dirname "$0")"
VENV=${KIOSKD_VENV:-.venv}
PKGS="python3-venv python3-dev gcc linux-libc-dev libxkbcommon-dev xkb-data fuse libfuse2
prometheus-node-exporter prometheus
dpkg-dev debhelper dh-virtualenv lintian zlib1g-dev libjpeg-dev libfreetype-dev libyaml-dev
systemd-journal-remote sqlite3"

need_apt() {
    command -v dpkg-query >/dev/null 2>&1 || return 1
    for p in $PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || return 0
    done
    return 1
}

setup() {
    if need_apt; then
        SUDO=""
        [ "$(id -u)" = 0 ] || SUDO="sudo"
        echo "dev.sh: installing system packages: $PKGS" >&2
        $SUDO apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $PKGS >&2
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    stamp="$VENV/.kioskd-installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip >&2
        "$VENV/bin/python" -m pip install -q -e ".[dev]" >&2
        touch "$stamp"
    fi
}

cmd=${1:-demo}
[ $# -gt 0 ] && shift
case "$cmd" in
    setup) setup ;;
    demo) setup; exec "$VENV/bin/kioskd" demo "$@" ;;
    test) setup; exec "$VENV/bin/python" -m pytest "$@" ;;
    deb) setup; exec scripts/build-deb.sh "$@" ;;
    kioskd|kioskctl) setup; exec "$VENV/bin/$cmd" "$@" ;;
    *) echo "usage: ./dev.sh demo|test|setup|deb|kioskd ARGS|kioskctl ARGS" >&2; exit 2 ;;
esac
