#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the clients the tests drive
# where they are missing, then runs every test against SQLite and Postgres.
#
#   bash tests/run.sh            (extra arguments go to `cargo test`)
#
# Postgres: BERTH_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
# A missing Postgres or client fails the suite; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# Root installs directly; anyone else through sudo.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }

# The aws CLI (the smoke test drives it) and botocore (the spec test reads its model).
if ! command -v aws >/dev/null 2>&1 || ! python3 -c "import botocore" 2>/dev/null; then
    echo "tests/run.sh: installing the aws CLI (pip package awscli)"
    pip_install awscli
fi
# skopeo (Debian package) and oras-py (PyPI package oras) drive the registry face.
if ! command -v skopeo >/dev/null 2>&1; then
    echo "tests/run.sh: installing skopeo"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo >/dev/null
fi
if ! python3 -c "import oras.client" 2>/dev/null; then
    echo "tests/run.sh: installing oras-py (pip package oras)"
    pip_install oras
fi

export BERTH_TEST_POSTGRES_URL="${BERTH_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo test --locked "$@"
