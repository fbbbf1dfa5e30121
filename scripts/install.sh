#!/usr/bin/env bash
# Install kioskd on a Raspberry Pi (Raspberry Pi OS Bookworm / Debian 12) as a systemd service.
#
#   sudo scripts/install.sh              install or upgrade (idempotent: safe to run again)
#   scripts/install.sh --dry-run         print every step without changing anything
#
# Steps: system packages; the kioskd user (systemd-sysusers); the application in a venv under
# /opt/kioskd; the unit, sysusers and tmpfiles files; the udev rules (hardware/99-kioskd.rules:
# /dev/kiosk/scanner, keypad, printer); a starting config in /etc/kioskd (kept if present); the
# API password as a credential file /etc/kioskd/api_password (mode 0600, from
# $KIOSKD_API_PASSWORD or asked; kept if present); then the service is enabled and (re)started.
# Environment: KIOSKD_PREFIX (/opt/kioskd), KIOSKD_ETC (/etc/kioskd), KIOSKD_API_PASSWORD,
# KIOSKD_NO_START=1 (enable only).
set -euo pipefail

DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --dry-run|-n) DRY_RUN=1 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${KIOSKD_PREFIX:-/opt/kioskd}
ETC=${KIOSKD_ETC:-/etc/kioskd}
VENV="$PREFIX/venv"
UNIT_DIR=/etc/systemd/system
SYSUSERS_DIR=/usr/lib/sysusers.d
TMPFILES_DIR=/usr/lib/tmpfiles.d
UDEV_DIR=/etc/udev/rules.d
APT_PKGS="python3-venv python3-dev gcc linux-libc-dev libxkbcommon-dev xkb-data"

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

say "system packages: $APT_PKGS"
missing=""
for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    run apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
else
    say "  all present"
fi

say "user kioskd (sysusers.d) and /etc/kioskd (tmpfiles.d)"
run install -D -m 0644 "$SRC/systemd/kioskd.sysusers" "$SYSUSERS_DIR/kioskd.conf"
run install -D -m 0644 "$SRC/systemd/kioskd.tmpfiles" "$TMPFILES_DIR/kioskd.conf"
run systemd-sysusers kioskd.conf
run systemd-tmpfiles --create kioskd.conf

say "application: venv in $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    run python3 -m venv "$VENV"
fi
run "$VENV/bin/python" -m pip install -q --upgrade pip
run "$VENV/bin/python" -m pip install -q --upgrade "$SRC"
run install -D -m 0644 "$SRC/README.md" "$PREFIX/README.md"
run ln -sfn "$VENV/bin/kioskd" /usr/local/bin/kioskd
run ln -sfn "$VENV/bin/kioskctl" /usr/local/bin/kioskctl

say "udev rules"
if [ -f "$SRC/hardware/99-kioskd.rules" ]; then
    run install -D -m 0644 "$SRC/hardware/99-kioskd.rules" "$UDEV_DIR/99-kioskd.rules"
    run udevadm control --reload-rules
    run udevadm trigger --subsystem-match=input --subsystem-match=usbmisc --subsystem-match=tty
else
    say "  hardware/99-kioskd.rules not found: skipped (use evdev paths in the config)"
fi

say "config in $ETC"
if [ -e "$ETC/kioskd.toml" ]; then
    say "  $ETC/kioskd.toml exists: kept"
else
    run install -D -m 0640 -o root -g kioskd "$SRC/config/kioskd.toml" "$ETC/kioskd.toml"
    say "  edit $ETC/kioskd.toml (api.base_url, api.email, devices), then: kioskd check-config"
fi

say "API password credential $ETC/api_password (mode 0600, root only)"
if [ -s "$ETC/api_password" ]; then
    say "  exists: kept"
    run chmod 0600 "$ETC/api_password"
else
    password=${KIOSKD_API_PASSWORD:-}
    if [ -z "$password" ] && [ "$DRY_RUN" = 0 ]; then
        if [ -t 0 ]; then
            read -r -s -p "Banklot API password for this terminal: " password; echo
        fi
        if [ -z "$password" ]; then
            echo "install.sh: no password: set KIOSKD_API_PASSWORD or run interactively" >&2
            exit 1
        fi
    fi
    if [ "$DRY_RUN" = 1 ]; then
        printf '    would write: %s (mode 0600, password from %s)\n' "$ETC/api_password" \
            "$([ -n "$password" ] && echo KIOSKD_API_PASSWORD || echo the prompt)"
    else
        (umask 077 && printf '%s\n' "$password" > "$ETC/api_password.tmp")
        chown root:root "$ETC/api_password.tmp"
        mv -f "$ETC/api_password.tmp" "$ETC/api_password"
    fi
    unset password
fi

say "systemd unit"
run install -D -m 0644 "$SRC/systemd/kioskd.service" "$UNIT_DIR/kioskd.service"
run systemctl daemon-reload
run systemctl enable kioskd.service
if [ "${KIOSKD_NO_START:-0}" = 1 ]; then
    say "  KIOSKD_NO_START=1: enabled, not started"
else
    run "$VENV/bin/kioskd" check-config --config "$ETC/kioskd.toml"
    run systemctl restart kioskd.service
fi
say "done: journalctl -u kioskd -f; kioskctl status (as root or a member of group kioskd)"
