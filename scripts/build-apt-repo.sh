#!/bin/sh
# The fleet's signed apt repository: scripts/build-apt-repo.sh REPODIR KEYID DEB...
#   REPODIR  the repository, made on first use; publish it as it is (any HTTPS server; file:// in
#            tests). Running again adds packages: a newer version replaces the older in its suite.
#   KEYID    the OpenPGP key that signs it (fingerprint or id, in gpg's GNUPGHOME; no passphrase
#            prompt: use a CI secret keyring or an agent). Its public half is exported to
#            REPODIR/kioskd-archive-keyring.gpg, which a kiosk installs once (docs/FLEET.md).
#   DEB...   kioskd_<version>_<arch>.deb files (any mix of amd64, arm64, armhf)
# KIOSKD_SUITE: the Debian release the packages were built on, bookworm (default) or trixie;
# each has its suite, since a package works only with the python3 of its release.
# Needs reprepro and gnupg (`./dev.sh setup` installs reprepro).
#
# Why reprepro: Debian's own tool for exactly this (a pool, Packages indexes per suite and
# architecture, InRelease and Release.gpg signed with SignWith), in Debian 12, with no daemon
# and no database server: the repository is a folder.
set -eu
REPO=${1:?usage: build-apt-repo.sh REPODIR KEYID DEB...}
KEY=${2:?usage: build-apt-repo.sh REPODIR KEYID DEB...}
shift 2
[ $# -gt 0 ] || { echo "build-apt-repo: no .deb given" >&2; exit 2; }
SUITE=${KIOSKD_SUITE:-bookworm}
mkdir -p "$REPO/conf"
# Origin and Label "kioskd": what unattended-upgrades' Origins-Pattern selects (docs/FLEET.md).
{
    for codename in bookworm trixie; do
        cat <<EOF
Origin: kioskd
Label: kioskd
Codename: $codename
Architectures: amd64 arm64 armhf
Components: main
Description: kioskd for the kiosk fleet ($codename)
SignWith: $KEY

EOF
    done
} > "$REPO/conf/distributions"
for deb in "$@"; do
    reprepro -b "$REPO" includedeb "$SUITE" "$deb"
done
reprepro -b "$REPO" export "$SUITE"
gpg --batch --yes --export "$KEY" > "$REPO/kioskd-archive-keyring.gpg"
echo "build-apt-repo: $REPO ($SUITE): $(reprepro -b "$REPO" list "$SUITE" | tr '\n' ' ')"
