#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the clients and container
# engines the tests drive where they are missing, then runs every test against SQLite
# and Postgres.
#
#   bash tests/run.sh            (extra arguments go to `cargo test`)
#
# Postgres: BERTH_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
# A missing Postgres, client or engine fails the suite; nothing is skipped.
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
# PyYAML (the aws CLI brings it) reads docker-compose.yml and docs/kubernetes.md's
# manifests for the deployment test.
if ! python3 -c "import yaml" 2>/dev/null; then
    echo "tests/run.sh: installing PyYAML (pip package pyyaml)"
    pip_install pyyaml
fi
# Debian packages that drive the registry face: skopeo, and the container engines
# (Docker Engine with its own CLI at /usr/bin/docker, podman, buildah, containerd's
# ctr). The tests start and stop their own dockerd; it runs as root with no bridge
# and no iptables rules, so nothing else is needed.
debs=()
command -v skopeo >/dev/null 2>&1 || debs+=(skopeo)
{ command -v dockerd >/dev/null 2>&1 && [ -x /usr/bin/docker ]; } || debs+=(docker.io)
command -v podman >/dev/null 2>&1 || debs+=(podman)
command -v buildah >/dev/null 2>&1 || debs+=(buildah)
command -v ctr >/dev/null 2>&1 || debs+=(containerd)
# Other registries berth talks to (pull-through upstreams, replication destinations):
# distribution's docker-registry, with htpasswd for its Basic logins.
command -v docker-registry >/dev/null 2>&1 || debs+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || debs+=(apache2-utils)
if [ "${#debs[@]}" -gt 0 ]; then
    echo "tests/run.sh: installing ${debs[*]}"
    # The packages must not start their daemons as services: dockerd's defaults would
    # set up a bridge and iptables rules. policy-rc.d forbids it during the install.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
        as_root chmod +x /usr/sbin/policy-rc.d
        trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
fi
# Python's cryptography verifies managed signing's signatures against their certificates.
if ! python3 -c "import cryptography" 2>/dev/null; then
    echo "tests/run.sh: installing cryptography (pip package cryptography)"
    pip_install cryptography
fi
# boto3 (its waiters and paginators) drives the scanning actions.
if ! python3 -c "import boto3" 2>/dev/null; then
    echo "tests/run.sh: installing boto3 (pip package boto3)"
    pip_install boto3
fi
if ! python3 -c "import oras.client" 2>/dev/null; then
    echo "tests/run.sh: installing oras-py (pip package oras)"
    pip_install oras
fi
# moto's server in S3 mode is the S3-compatible store the blob-store tests start.
if ! python3 -c "import moto.server, werkzeug.serving" 2>/dev/null; then
    echo "tests/run.sh: installing moto's server (pip package moto[server])"
    pip_install 'moto[server]'
fi

export BERTH_TEST_POSTGRES_URL="${BERTH_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
# The Postgres databases the tests make carry this run's mark in their names and are
# dropped as the run ends, passed or failed (one left behind by a killed run goes after
# two hours: tests/it/helpers.rs).
export BERTH_TEST_RUN="${BERTH_TEST_RUN:-$(date +%s)$$}"
status=0
cargo test --locked "$@" || status=$?
if command -v psql >/dev/null 2>&1; then
    psql "$BERTH_TEST_POSTGRES_URL" -Atq -c \
        "SELECT datname FROM pg_database WHERE datname LIKE 'berth\_test\_%\_${BERTH_TEST_RUN}\_%'" |
        while read -r db; do
            psql "$BERTH_TEST_POSTGRES_URL" -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
        done || echo "tests/run.sh: could not drop this run's databases"
fi
exit "$status"
