#!/bin/sh
# Build the Debian package: scripts/build-deb.sh [OUTDIR]   (default: dist/)
# Writes OUTDIR/kioskd_<version>_<arch>.deb (version from pyproject.toml, which must agree with
# debian/changelog; arch: the building machine's, e.g. arm64 on a Pi 4/5 with a 64-bit OS,
# armhf on a 32-bit one: see debian/README.Debian for building for other Pis).
# Needs: dpkg-dev debhelper dh-virtualenv python3-venv python3-dev gcc linux-libc-dev
# libxkbcommon-dev (`./dev.sh deb` installs them), and PyPI for the dependencies.
# The build runs in a temporary copy of the working tree, so the checkout stays clean and
# dpkg-buildpackage's files next to the source never land next to your checkout.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$SRC/dist}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$SRC/pyproject.toml" | head -n 1)
deb_version=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
if [ "$version" != "$deb_version" ]; then
    echo "build-deb: pyproject.toml says $version, debian/changelog $deb_version: add a" \
         "changelog entry (dch -v $version) so both agree" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kioskd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/kioskd-$version"
# Everything but the local venv, git metadata and build leftovers.
tar -C "$SRC" --exclude=./.venv --exclude=./.git --exclude=./dist --exclude=./build \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache \
    --exclude=.mypy_cache --exclude=.hypothesis --exclude=demo-out -cf - . |
    tar -C "$work/kioskd-$version" -xf -
(cd "$work/kioskd-$version" && dpkg-buildpackage -us -uc -b) >&2
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
cp "$work/kioskd_${version}_${arch}.deb" "$OUT/"
echo "$OUT/kioskd_${version}_${arch}.deb"
