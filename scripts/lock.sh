#!/bin/sh
# Update the lock files: scripts/lock.sh [UV-ARGS...]   (e.g. --upgrade, --upgrade-package httpx)
#   requirements/run.txt  what the Debian package's venv and `./dev.sh demo` install: the
#                         dependencies of pyproject.toml and kioskd's build backend (build.in)
#   requirements/dev.txt  the same plus the dev extra (tests, lint, types), constrained to run.txt
#                         so that a test venv runs exactly the versions the package ships
# Both are universal (every platform and Python >= 3.11: amd64, arm64, armhf, Debian 12 and 13) and
# list the sha256 of every file PyPI has for each version, so pip installs them with
# --require-hashes. Without arguments, versions already locked stay (a new dependency is added at
# its newest version); --upgrade takes the newest of everything. Needs uv (`pip install uv`, or
# UV=/path/to/uv) and PyPI. Commit the two files with the pyproject.toml change that needs them.
set -eu
cd "$(dirname "$0")/.."
UV=${UV:-uv}
compile() {
    "$UV" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --annotation-style line --custom-compile-command "scripts/lock.sh" "$@"
}
compile "$@" pyproject.toml requirements/build.in -o requirements/run.txt
compile "$@" --extra dev -c requirements/run.txt pyproject.toml requirements/build.in \
    -o requirements/dev.txt
echo "lock: requirements/run.txt $(grep -c '==' requirements/run.txt) packages," \
     "requirements/dev.txt $(grep -c '==' requirements/dev.txt)"
