#!/bin/sh
# Build the Debian package for a Raspberry Pi (or any Debian architecture) in an emulated root:
#   scripts/build-deb-arch.sh ARCH [RELEASE] [OUTDIR]     (or ./dev.sh deb --arch ARCH ...)
#     ARCH     arm64 (64-bit Raspberry Pi OS), armhf (32-bit), amd64
#     RELEASE  bookworm (Debian 12, Python 3.11: the default) or trixie (Debian 13, Python 3.13)
#     OUTDIR   where kioskd_<version>_<arch>.deb goes (default dist/<release>/)
#
# Why emulated: dh-virtualenv cannot cross-compile (pip builds evdev, xkbcommon's cffi module,
# Pillow and PyYAML with the building machine's compiler and python3), so the build runs in a
# Debian root of the target architecture, under qemu-user when that is not the host's.
#
# Needs on the host, as root: debootstrap and qemu-user-static (installed with apt-get when
# missing), binfmt_misc (mounted and the qemu handlers registered by this script when missing;
# a container must be privileged for that), about 1.5 GB per root, and the network (the Debian
# mirror, KIOSKD_MIRROR, and PyPI). The roots stay in KIOSKD_ROOTS (default
# /var/tmp/kioskd-roots/<release>-<arch>), outside the checkout, and are reused: a second build
# only installs what changed in the build packages. Under qemu, count ~10 min (arm64) on 2 cores.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
ARCH=${1:?usage: build-deb-arch.sh arm64|armhf|amd64 [bookworm|trixie] [OUTDIR]}
RELEASE=${2:-bookworm}
OUT=${3:-$SRC/dist/$RELEASE}
ROOTS=${KIOSKD_ROOTS:-/var/tmp/kioskd-roots}
ROOT=$ROOTS/$RELEASE-$ARCH
MIRROR=${KIOSKD_MIRROR:-http://deb.debian.org/debian}
# The build packages (debian/control Build-Depends, and build-essential, which
# dpkg-buildpackage requires of every build) plus what scripts/build-deb.sh runs.
BUILD_PKGS="build-essential python3 python3-venv python3-dev gcc linux-libc-dev libffi-dev libxkbcommon-dev
xkb-data dpkg-dev debhelper dh-virtualenv zlib1g-dev libjpeg-dev libfreetype-dev libyaml-dev
ca-certificates"

case "$ARCH" in
    arm64) qemu=aarch64 ;;
    armhf) qemu=arm ;;
    amd64) qemu=x86_64 ;;
    *) echo "build-deb-arch: unknown architecture $ARCH (arm64, armhf or amd64)" >&2; exit 2 ;;
esac
case "$RELEASE" in
    bookworm|trixie) ;;
    *) echo "build-deb-arch: unknown release $RELEASE (bookworm or trixie)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "build-deb-arch: run as root (debootstrap, chroot)" >&2; exit 1; }
say() { printf 'build-deb-arch: %s\n' "$*" >&2; }

host=$(dpkg --print-architecture)
tools="debootstrap"
[ "$ARCH" = "$host" ] || tools="$tools qemu-user-static"
missing=""
for p in $tools; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing$missing"
    apt-get update -q >&2 || true
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
fi
if [ "$ARCH" != "$host" ] && [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$qemu" ]; then
    # qemu-user-static ships its handlers in /usr/lib/binfmt.d (flag F: the interpreter is
    # opened now, so it works inside the chroot without a copy there).
    [ -e /proc/sys/fs/binfmt_misc/register ] ||
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    /lib/systemd/systemd-binfmt "/usr/lib/binfmt.d/qemu-$qemu.conf"
fi

if [ ! -x "$ROOT/usr/bin/dpkg-buildpackage" ]; then
    if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
        say "debootstrap $RELEASE $ARCH into $ROOT"
        rm -rf "$ROOT"
        mkdir -p "$ROOTS"
        debootstrap --arch="$ARCH" --variant=minbase "$RELEASE" "$ROOT" "$MIRROR" >&2
    fi
fi

# Everything inside runs in a private mount namespace: /proc, /dev and the source vanish with it.
work=$(mktemp -d "$ROOT/tmp/kioskd-src.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
tar -C "$SRC" --exclude=./.venv --exclude=./.git --exclude=./dist --exclude=./build \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache \
    --exclude=.mypy_cache --exclude=.hypothesis --exclude=demo-out -cf - . | tar -C "$work" -xf -
inside=/tmp/$(basename "$work")
start=$(date +%s)
# shellcheck disable=SC2016  # expanded inside the chroot
unshare --mount --propagation private sh -eu -c '
    ROOT=$1; inside=$2; pkgs=$3
    mount -t proc proc "$ROOT/proc"
    mount --rbind /dev "$ROOT/dev"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # A site whose HTTPS goes through a proxy of its own names its CA in PIP_CERT: pip in the
    # root trusts the same file.
    cert=""
    if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
        cp "$PIP_CERT" "$ROOT/etc/kioskd-build-ca.crt"
        cert=PIP_CERT=/etc/kioskd-build-ca.crt
    fi
    chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 $cert \
        DEBIAN_FRONTEND=noninteractive sh -eu -c "
        printf \"#!/bin/sh\nexit 101\n\" > /usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d
        apt-get update -q
        apt-get install -y -q --no-install-recommends $pkgs
        cd $inside && scripts/build-deb.sh $inside/out
    "
' - "$ROOT" "$inside" "$(echo $BUILD_PKGS)" >&2
mkdir -p "$OUT"
for deb in "$work"/out/*.deb; do
    cp "$deb" "$OUT/"
    say "built $(basename "$deb") in $(($(date +%s) - start)) s ($RELEASE, $ARCH)"
    echo "$OUT/$(basename "$deb")"
done
