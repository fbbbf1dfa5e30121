#!/usr/bin/env bash
# Install or upgrade kioskd on a Raspberry Pi (Raspberry Pi OS Bookworm / Debian 12): a thin
# wrapper around the Debian package (debian/README.Debian), for a technician with a checkout.
#
#   sudo scripts/install.sh [--password-file FILE] [kioskd_X_ARCH.deb]   install or upgrade
#   scripts/install.sh --dry-run [DEB]            print every step without changing anything
#
# Steps: build the package with scripts/build-deb.sh unless a .deb is given (installing the
# build packages first); move aside what an earlier script install left where the package now
# puts things (/etc/systemd/system/kioskd.service, /usr/local/bin/kioskd*, an unpackaged
# /opt/kioskd/venv); `apt-get install ./kioskd_*.deb` (user, venv, unit enabled, udev rules,
# /etc/kioskd/kioskd.toml kept if edited); the API password as the credential
# $KIOSKD_ETC/api_password (mode 0600; asked on the terminal without echo, or read from
# --password-file FILE; never from the command line or the environment, which shell history
# and /proc keep; kept if present); then the service is (re)started. Without this script: apt
# install ./kioskd_X_ARCH.deb, and the package's post-installation message says how to set the
# password.
# Environment: KIOSKD_ETC (/etc/kioskd: config and credential; another directory reaches the
# unit through a drop-in kioskd.service.d/10-install-paths.conf), KIOSKD_NO_START=1 (enable
# only). KIOSKD_PREFIX is no longer used: the package installs into /opt/kioskd.
set -euo pipefail

DRY_RUN=0
DEB=""
PASSWORD_FILE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run|-n) DRY_RUN=1 ;;
        --password-file) shift; PASSWORD_FILE=${1:?install.sh: --password-file needs a FILE} ;;
        --password-file=*) PASSWORD_FILE=${1#--password-file=} ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        -*) echo "install.sh: unknown option $1" >&2; exit 2 ;;
        *) DEB=$1 ;;
    esac
    shift
done
if [ -n "${KIOSKD_API_PASSWORD:-}" ]; then
    echo "install.sh: KIOSKD_API_PASSWORD is no longer read (the environment and shell history" \
        "keep it): use --password-file FILE or answer the prompt" >&2
    exit 2
fi

SRC=$(cd "$(dirname "$0")/.." && pwd)
ETC=${KIOSKD_ETC:-/etc/kioskd}
BUILD_PKGS="dpkg-dev debhelper dh-virtualenv python3-venv python3-dev gcc linux-libc-dev
libffi-dev libxkbcommon-dev zlib1g-dev libjpeg-dev libfreetype-dev libyaml-dev"

say() { printf '==> %s\n' "$*"; }
# run CMD...: execute, or only print it in a dry run.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '    would run: %s\n' "$*"
    else
        "$@"
    fi
}

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or use --dry-run to see the steps" >&2
    exit 1
fi
[ "$DRY_RUN" = 1 ] && say "dry run: nothing will be changed"
[ -n "${KIOSKD_PREFIX:-}" ] && say "KIOSKD_PREFIX is ignored: the package installs /opt/kioskd"

if [ -n "$DEB" ]; then
    DEB=$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")
    say "package: $DEB"
else
    say "package: build from $SRC (scripts/build-deb.sh)"
    missing=""
    for p in $BUILD_PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        run apt-get update -q
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
    fi
    if [ "$DRY_RUN" = 1 ]; then
        run "$SRC/scripts/build-deb.sh" "$SRC/dist"
        DEB="$SRC/dist/kioskd_VERSION_ARCH.deb"
    else
        DEB=$("$SRC/scripts/build-deb.sh" "$SRC/dist" | tail -n 1)
    fi
fi

say "leftovers of a script install (before the package)"
if [ -f /etc/systemd/system/kioskd.service ] && [ ! -L /etc/systemd/system/kioskd.service ]; then
    # It would shadow the packaged /lib/systemd/system/kioskd.service.
    run mv /etc/systemd/system/kioskd.service /etc/systemd/system/kioskd.service.pre-deb
fi
for link in /usr/local/bin/kioskd /usr/local/bin/kioskctl; do
    if [ -L "$link" ]; then run rm -f "$link"; fi
done
if [ -d /opt/kioskd/venv ] && ! dpkg-query -S /opt/kioskd/venv >/dev/null 2>&1; then
    run rm -rf /opt/kioskd/venv
fi

say "apt-get install $DEB"
run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB"

say "API password credential $ETC/api_password (mode 0600, root only)"
if [ -s "$ETC/api_password" ]; then
    say "  exists: kept"
    run chmod 0600 "$ETC/api_password"
else
    password=""
    if [ -n "$PASSWORD_FILE" ]; then
        [ -r "$PASSWORD_FILE" ] || { echo "install.sh: cannot read $PASSWORD_FILE" >&2; exit 1; }
        IFS= read -r password < "$PASSWORD_FILE" || true
    elif [ "$DRY_RUN" = 0 ] && [ -t 0 ]; then
        read -r -s -p "Banklot API password for this terminal: " password; echo
    fi
    if [ -z "$password" ] && [ "$DRY_RUN" = 0 ]; then
        echo "install.sh: no password: give --password-file FILE or run on a terminal" >&2
        exit 1
    fi
    if [ "$DRY_RUN" = 1 ]; then
        printf '    would write: %s (mode 0600, password from %s)\n' "$ETC/api_password" \
            "$([ -n "$PASSWORD_FILE" ] && echo "$PASSWORD_FILE" || echo the prompt)"
    else
        (umask 077 && printf '%s\n' "$password" > "$ETC/api_password.tmp")
        chown root:root "$ETC/api_password.tmp"
        mv -f "$ETC/api_password.tmp" "$ETC/api_password"
    fi
    unset password
fi

if [ "$ETC" != /etc/kioskd ]; then
    # The packaged unit names /etc/kioskd: another directory must reach ExecStart and the
    # credential, or the service would run with a config and password nobody installed.
    dropin=/etc/systemd/system/kioskd.service.d/10-install-paths.conf
    say "paths: $ETC reaches the unit through $dropin"
    unit="[Service]
ExecStart=
ExecStart=/opt/kioskd/venv/bin/kioskd run --config $ETC/kioskd.toml
LoadCredential=
LoadCredential=api_password:$ETC/api_password"
    if [ "$DRY_RUN" = 1 ]; then
        printf '    would write: %s\n%s\n' "$dropin" "$unit"
    else
        mkdir -p "$(dirname "$dropin")"
        printf '%s\n' "$unit" > "$dropin"
        systemctl daemon-reload 2>/dev/null || true
    fi
fi

if [ "${KIOSKD_NO_START:-0}" = 1 ]; then
    say "KIOSKD_NO_START=1: enabled, not started"
else
    say "start"
    run kioskd check-config --config "$ETC/kioskd.toml"
    run systemctl restart kioskd.service
fi
say "done: journalctl -u kioskd -f; kioskctl status (as root or a member of group kioskd)"
say "upgrade later with: sudo apt install ./kioskd_NEW_ARCH.deb (config and password kept)"
