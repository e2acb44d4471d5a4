#!/usr/bin/env bash
# berth's benchmark harness: starts berth (SQLite and Postgres) and its peers (moto_server
# for the ECR face, distribution's docker-registry for the registry face) on loopback,
# drives them all with one load generator (bench/loadgen), and prints one table per
# scenario with each system's median of BENCH_RUNS runs and berth's ratio to the peer.
#
#   bash bench/run.sh
#
# Environment (defaults in brackets):
#   BENCH_DURATION   seconds per measurement [10]
#   BENCH_RUNS       runs per system, scenario and concurrency; the median is reported [3]
#   BENCH_CONCURRENCY  concurrency levels [1 4]
#   BENCH_SCENARIOS  any of: put batchget describe oci blob [all]
#   BENCH_SEED_IMAGES  images in the BatchGetImage / manifest GET repository [2000]
#   BENCH_DESCRIBE_SIZES  repository sizes for DescribeImages [1000 10000]
#   BENCH_BLOB_MIB   large blob size in MiB [256]
#   BENCH_TMPDIR     where every system keeps its data [/dev/shm if present, else /tmp]
#   BENCH_POSTGRES_URL  an admin URL of the Postgres to create the run's database in
#                    [postgres://postgres@127.0.0.1:5432/postgres]
# Results: stdout, bench/results/latest.md (tables) and bench/results/latest.jsonl (every run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
CONCURRENCY=${BENCH_CONCURRENCY:-"1 4"}
SCENARIOS=${BENCH_SCENARIOS:-"put batchget describe oci blob"}
SEED_IMAGES=${BENCH_SEED_IMAGES:-2000}
DESCRIBE_SIZES=${BENCH_DESCRIBE_SIZES:-"1000 10000"}
BLOB_MIB=${BENCH_BLOB_MIB:-256}
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if [ -z "${BENCH_TMPDIR:-}" ]; then
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then BENCH_TMPDIR=/dev/shm; else BENCH_TMPDIR=/tmp; fi
fi

log() { echo "bench: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- peers ------------------------------------------------------------------------------
if ! command -v moto_server >/dev/null 2>&1; then
    log "installing moto[server] (pip)"
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
fi
if ! command -v docker-registry >/dev/null 2>&1; then
    log "installing docker-registry (apt)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
fi
command -v psql >/dev/null 2>&1 || { log "psql is needed to create the Postgres database"; exit 1; }

# --- builds (before anything runs: compiling competes for the cores) --------------------
log "building berth (release)"
cargo build --release --quiet
log "building the load generator (release)"
cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml
BERTH=$ROOT/target/release/berth
LOADGEN=$ROOT/bench/loadgen/target/release/berth-loadgen

# --- processes ---------------------------------------------------------------------------
WORK=$(mktemp -d "$BENCH_TMPDIR/berth-bench.XXXXXX")
PIDS=()
PG_DB="berth_bench_$(date +%s)_$$"
PG_CREATED=
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$PG_CREATED" ]; then
        psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_up() { # url name
    for _ in $(seq 1 300); do
        if curl -s -o /dev/null "$1"; then return 0; fi
        sleep 0.1
    done
    log "$2 did not come up at $1; its log:"; tail -20 "$WORK/$2.log" >&2; exit 1
}

export BENCH_ACCESS_KEY_ID=AKIDBERTHBENCH BENCH_SECRET_ACCESS_KEY=berth-bench-secret
declare -A URL

start_berth() { # name [extra args]
    local name=$1; shift
    local port; port=$(free_port)
    mkdir -p "$WORK/$name"
    BERTH_ACCESS_KEY_ID=$BENCH_ACCESS_KEY_ID BERTH_SECRET_ACCESS_KEY=$BENCH_SECRET_ACCESS_KEY RUST_LOG=warn \
        "$BERTH" serve --listen "127.0.0.1:$port" --data-dir "$WORK/$name" "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    URL[$name]=http://127.0.0.1:$port
    wait_up "${URL[$name]}/healthz" "$name"
    log "$name on ${URL[$name]} (pid $!)"
}
start_moto() {
    local port; port=$(free_port)
    moto_server -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
    PIDS+=($!)
    URL[moto]=http://127.0.0.1:$port
    wait_up "${URL[moto]}/moto-api/" moto
    log "moto on ${URL[moto]} (pid $!)"
}
start_registry() {
    local port; port=$(free_port)
    mkdir -p "$WORK/registry"
    cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
    docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
    PIDS+=($!)
    URL[registry]=http://127.0.0.1:$port
    wait_up "${URL[registry]}/v2/" registry
    log "registry on ${URL[registry]} (pid $!)"
}

psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DB" >/dev/null
PG_CREATED=1
PG_URL="${PG_ADMIN%/*}/$PG_DB"

start_berth berth-sqlite
start_berth berth-pg --database-url "$PG_URL"
start_moto
start_registry

mkdir -p bench/results
JSONL=bench/results/latest.jsonl
: >"$JSONL"
{
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    echo "berth: $(git rev-parse --short HEAD); moto $(python3 -c 'import moto; print(moto.__version__)'); $(docker-registry --version)"
    echo "duration ${DURATION}s, runs $RUNS, concurrency $CONCURRENCY, data in $BENCH_TMPDIR, $(date -u +%Y-%m-%dT%H:%MZ)"
} >bench/results/meta.txt

# system name -> loadgen --system kind
kind() {
    case $1 in
        berth-sqlite|berth-pg) echo "${2:-berth}" ;;
        moto) echo moto ;;
        registry) echo registry ;;
    esac
}

seed() { # label system kind repo images [extra]
    local label=$1 sys=$2 k=$3 repo=$4 n=$5; shift 5
    log "seeding $repo with $n images on $sys"
    "$LOADGEN" seed --url "${URL[$sys]}" --system "$k" --repo "$repo" --images "$n" --blob-mib "$BLOB_MIB" "$@"
}

# measure LABEL SCENARIO REPO IMAGES "SYSTEM:KIND ..." : every run, round-robin over systems
measure() {
    local label=$1 sc=$2 repo=$3 n=$4 systems=$5 c r s sys k out
    for c in $CONCURRENCY; do
        for r in $(seq 1 "$RUNS"); do
            for s in $systems; do
                sys=${s%%:*} k=${s##*:}
                out=$("$LOADGEN" run --url "${URL[$sys]}" --system "$k" --repo "$repo" --images "$n" \
                    --blob-mib "$BLOB_MIB" --scenario "$sc" --concurrency "$c" --duration "$DURATION")
                echo "{\"label\":\"$label\",\"target\":\"$sys\",\"run\":$r,\"result\":$out}" >>"$JSONL"
                log "$label c=$c run $r $sys: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.1f req/s p50 %.2f ms p99 %.2f ms errors %d" % (d["rps"], d["p50_ms"], d["p99_ms"], d["errors"]))' "$out")"
            done
        done
    done
}

ECR_SYSTEMS="berth-sqlite:berth berth-pg:berth moto:moto"
OCI_SYSTEMS="berth-sqlite:berth-oci berth-pg:berth-oci registry:registry"

for scenario in $SCENARIOS; do
    case $scenario in
    put)
        measure "PutImage (distinct small manifests)" put-image bench/put 0 "$ECR_SYSTEMS"
        ;;
    batchget)
        for s in $ECR_SYSTEMS; do seed x "${s%%:*}" "${s##*:}" bench/many "$SEED_IMAGES"; done
        measure "BatchGetImage by tag ($SEED_IMAGES images)" batch-get-tag bench/many "$SEED_IMAGES" "$ECR_SYSTEMS"
        measure "BatchGetImage by digest ($SEED_IMAGES images)" batch-get-digest bench/many "$SEED_IMAGES" "$ECR_SYSTEMS"
        ;;
    describe)
        for n in $DESCRIBE_SIZES; do
            for s in $ECR_SYSTEMS; do seed x "${s%%:*}" "${s##*:}" "bench/describe-$n" "$n"; done
            measure "DescribeImages first page ($n images)" describe-images "bench/describe-$n" "$n" "$ECR_SYSTEMS"
        done
        ;;
    oci)
        measure "Registry manifest PUT" oci-put-manifest bench/oci-put 0 "$OCI_SYSTEMS"
        for s in $OCI_SYSTEMS; do seed x "${s%%:*}" "${s##*:}" bench/oci-many "$SEED_IMAGES"; done
        measure "Registry manifest GET by tag ($SEED_IMAGES images)" oci-get-manifest bench/oci-many "$SEED_IMAGES" "$OCI_SYSTEMS"
        ;;
    blob)
        # blobs live on the filesystem whatever the metadata store: berth on SQLite only
        BLOB_SYSTEMS="berth-sqlite:berth-oci registry:registry"
        for s in $BLOB_SYSTEMS; do seed x "${s%%:*}" "${s##*:}" bench/blob 0 --large-blob; done
        measure "Blob upload ${BLOB_MIB} MiB, monolithic" blob-upload-mono bench/blob 0 "$BLOB_SYSTEMS"
        measure "Blob upload ${BLOB_MIB} MiB, chunked (16 MiB chunks)" blob-upload-chunked bench/blob 0 "$BLOB_SYSTEMS"
        measure "Blob GET ${BLOB_MIB} MiB" blob-get bench/blob 0 "$BLOB_SYSTEMS"
        ;;
    *) log "unknown scenario $scenario"; exit 1 ;;
    esac
done

python3 bench/report.py "$JSONL" bench/results/meta.txt | tee bench/results/latest.md
log "tables written to bench/results/latest.md, every run to $JSONL"
