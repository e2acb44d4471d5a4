#!/usr/bin/env bash
# berth's benchmark harness: starts berth (SQLite and Postgres) and its peers (moto_server
# for the ECR face, distribution's docker-registry for the registry face) on loopback,
# drives them all with one load generator (bench/loadgen), and prints one table per
# scenario with each system's median of BENCH_RUNS runs and berth's ratio to the peer,
# then a table of issue #6's targets, met or not, computed from this run.
#
#   bash bench/run.sh
#
# Environment (defaults in brackets):
#   BENCH_DURATION   seconds per measurement [10]
#   BENCH_RUNS       runs per system, scenario and concurrency; the median is reported [3]
#   BENCH_CONCURRENCY  concurrency levels [1 4]
#   BENCH_SCENARIOS  any of: put batchget describe oci blob [all]; blob includes memory
#   BENCH_SEED_IMAGES  images in the BatchGetImage and manifest GET repositories [10000]
#   BENCH_DESCRIBE_SIZES  repository sizes for DescribeImages and ListImages
#                    [1000 100000 1000000]
#   BENCH_MOTO_MAX_IMAGES  largest DescribeImages/ListImages repository moto is seeded
#                    and measured at (it scans Python lists: 100,000 would take hours) [1000]
#   BENCH_SEED_CONCURRENCY  requests in flight while seeding [16]
#   BENCH_BLOB_MIB   large blob size in MiB [1024]
#   BENCH_BLOB_FS    where the blob scenarios run: tmpfs (BENCH_TMPDIR) and/or disk
#                    (BENCH_DISKDIR) [tmpfs disk]
#   BENCH_TMPDIR     where every system keeps its data [/dev/shm if present, else /tmp]
#   BENCH_DISKDIR    a directory on a disk file system for the on-disk blob runs [/var/tmp]
#   BENCH_POSTGRES_URL  an admin URL of the Postgres to create the run's database in
#                    [postgres://postgres@127.0.0.1:5432/postgres]
#   CARGO_TARGET_DIR  honoured for both builds
# Results: stdout, bench/results/latest.md (tables) and bench/results/latest.jsonl (every
# run, seed, idle memory reading and calibration, one JSON object a line).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
CONCURRENCY=${BENCH_CONCURRENCY:-"1 4"}
SCENARIOS=${BENCH_SCENARIOS:-"put batchget describe oci blob"}
SEED_IMAGES=${BENCH_SEED_IMAGES:-10000}
DESCRIBE_SIZES=${BENCH_DESCRIBE_SIZES:-"1000 100000 1000000"}
MOTO_MAX=${BENCH_MOTO_MAX_IMAGES:-1000}
SEED_CONC=${BENCH_SEED_CONCURRENCY:-16}
BLOB_MIB=${BENCH_BLOB_MIB:-1024}
BLOB_FS=${BENCH_BLOB_FS:-"tmpfs disk"}
DISKDIR=${BENCH_DISKDIR:-/var/tmp}
PG_ADMIN=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if [ -z "${BENCH_TMPDIR:-}" ]; then
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then BENCH_TMPDIR=/dev/shm; else BENCH_TMPDIR=/tmp; fi
fi

log() { echo "bench: $(date -u +%H:%M:%S) $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
fstype() { findmnt -n -o FSTYPE -T "$1" 2>/dev/null | head -1 || stat -f -c %T "$1"; }
has() { case " $SCENARIOS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

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
BERTH=${CARGO_TARGET_DIR:-$ROOT/target}/release/berth
LOADGEN=${CARGO_TARGET_DIR:-$ROOT/bench/loadgen/target}/release/berth-loadgen
case $BERTH in /*) ;; *) BERTH=$ROOT/$BERTH ;; esac
case $LOADGEN in /*) ;; *) LOADGEN=$ROOT/$LOADGEN ;; esac

# --- processes ---------------------------------------------------------------------------
WORK=$(mktemp -d "$BENCH_TMPDIR/berth-bench.XXXXXX")
DISKWORK=
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
    [ -z "$DISKWORK" ] || rm -rf "$DISKWORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p bench/results
JSONL=bench/results/latest.jsonl
: >"$JSONL"

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
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

export BENCH_ACCESS_KEY_ID=AKIDBERTHBENCH BENCH_SECRET_ACCESS_KEY=berth-bench-secret
declare -A URL PID

# Records a process's resident memory once it has come up and settled, before any load.
started() { # name pid base-url health-path
    URL[$1]=$3 PID[$1]=$2
    PIDS+=("$2")
    wait_up "$3/$4" "$1"
    sleep 2
    echo "{\"kind\":\"idle_rss\",\"target\":\"$1\",\"when\":\"start\",\"rss_kib\":$(rss_kib "$2")}" >>"$JSONL"
    log "$1 on $3 (pid $2, idle RSS $(rss_kib "$2") KiB)"
}
start_berth() { # name data-dir [extra args]
    local name=$1 dir=$2; shift 2
    local port; port=$(free_port)
    mkdir -p "$dir"
    BERTH_ACCESS_KEY_ID=$BENCH_ACCESS_KEY_ID BERTH_SECRET_ACCESS_KEY=$BENCH_SECRET_ACCESS_KEY RUST_LOG=warn \
        "$BERTH" serve --listen "127.0.0.1:$port" --public-listen 127.0.0.1:0 --data-dir "$dir" "$@" >"$WORK/$name.log" 2>&1 &
    started "$name" $! "http://127.0.0.1:$port" healthz
}
start_moto() {
    local port; port=$(free_port)
    moto_server -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
    started moto $! "http://127.0.0.1:$port" moto-api/
}
start_registry() { # name root-dir
    local name=$1 dir=$2
    local port; port=$(free_port)
    mkdir -p "$dir"
    cat >"$WORK/$name.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
    docker-registry serve "$WORK/$name.yml" >"$WORK/$name.log" 2>&1 &
    started "$name" $! "http://127.0.0.1:$port" v2/
}

psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DB" >/dev/null
PG_CREATED=1
PG_URL="${PG_ADMIN%/*}/$PG_DB"

start_berth berth-sqlite "$WORK/berth-sqlite"
start_berth berth-pg "$WORK/berth-pg" --database-url "$PG_URL"
start_moto
start_registry registry "$WORK/registry"
# The blob scenarios get their own berth (SQLite: blob bytes live on the file system
# whatever the metadata store) and docker-registry per file system, started fresh, so
# that their idle memory and their growth during a transfer are not those of a process
# that just served a million-image repository.
BLOB_SETS=()
if has blob; then
    for fs in $BLOB_FS; do
        case $fs in
        tmpfs) dir=$WORK ;;
        disk)
            DISKWORK=$(mktemp -d "$DISKDIR/berth-bench.XXXXXX")
            dir=$DISKWORK ;;
        *) log "unknown BENCH_BLOB_FS entry $fs"; exit 1 ;;
        esac
        ft=$(fstype "$dir")
        [ -z "${URL[berth-$ft]:-}" ] || ft="$ft-$fs"
        start_berth "berth-$ft" "$dir/berth-blob"
        start_registry "registry-$ft" "$dir/registry-blob"
        BLOB_SETS+=("$ft|$dir")
    done
fi

{
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    echo "berth: $(git rev-parse --short HEAD); moto $(python3 -c 'import moto; print(moto.__version__)'); $(docker-registry --version)"
    echo "duration ${DURATION}s, runs $RUNS, concurrency $CONCURRENCY, data in $BENCH_TMPDIR ($(fstype "$BENCH_TMPDIR"))$([ -z "$DISKWORK" ] || echo ", on-disk blob runs in $DISKDIR ($(fstype "$DISKDIR"))"), $(date -u +%Y-%m-%dT%H:%MZ)"
} >bench/results/meta.txt

# Seeds a repository through the system's own write path and records how long it took.
seed() { # system kind repo images [extra]
    local sys=$1 k=$2 repo=$3 n=$4 t0 t1; shift 4
    log "seeding $repo with $n images on $sys"
    t0=$(date +%s.%N)
    "$LOADGEN" seed --url "${URL[$sys]}" --system "$k" --repo "$repo" --images "$n" \
        --blob-mib "$BLOB_MIB" --concurrency "$SEED_CONC" "$@"
    t1=$(date +%s.%N)
    echo "{\"kind\":\"seed\",\"target\":\"$sys\",\"repo\":\"$repo\",\"images\":$n,\"seconds\":$(awk "BEGIN {print $t1 - $t0}")}" >>"$JSONL"
}

# A measurement cell: label|scenario|repo|images|system|kind|tags (tags: JSON members
# the report uses, e.g. "fs":"tmpfs"). measure runs every cell at every concurrency,
# BENCH_RUNS times, round-robin over the cells so drift hits them all alike.
measure() {
    local c r cell label sc repo n sys k tags watch out
    for c in $CONCURRENCY; do
        for r in $(seq 1 "$RUNS"); do
            for cell in "$@"; do
                IFS='|' read -r label sc repo n sys k tags <<<"$cell"
                watch=()
                case $sc in blob-*) watch=(--watch-pid "${PID[$sys]}") ;; esac
                out=$("$LOADGEN" run --url "${URL[$sys]}" --system "$k" --repo "$repo" --images "$n" \
                    --blob-mib "$BLOB_MIB" --scenario "$sc" --concurrency "$c" --duration "$DURATION" \
                    "${watch[@]}")
                echo "{\"label\":\"$label\",\"scenario\":\"$sc\",\"images\":$n,\"target\":\"$sys\",\"run\":$r${tags:+,$tags},\"result\":$out}" >>"$JSONL"
                log "$label c=$c run $r $sys: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.1f req/s %.1f MiB/s p50 %.2f ms p99 %.2f ms errors %d" % (d["rps"], d["mb_per_s"], d["p50_ms"], d["p99_ms"], d["errors"]))' "$out")"
            done
        done
    done
}

ECR_SYSTEMS="berth-sqlite:berth berth-pg:berth moto:moto"
OCI_SYSTEMS="berth-sqlite:berth-oci berth-pg:berth-oci registry:registry"
cells() { # label scenario repo images systems [tags]
    local s
    for s in $5; do echo "$1|$2|$3|$4|${s%%:*}|${s##*:}|${6:-}"; done
}
num() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }

for scenario in $SCENARIOS; do
    case $scenario in
    put)
        mapfile -t C < <(cells "PutImage (distinct small manifests)" put-image bench/put 0 "$ECR_SYSTEMS")
        measure "${C[@]}"
        ;;
    batchget)
        for s in $ECR_SYSTEMS; do seed "${s%%:*}" "${s##*:}" bench/many "$SEED_IMAGES"; done
        mapfile -t C < <(
            cells "BatchGetImage by tag ($(num "$SEED_IMAGES") images)" batch-get-tag bench/many "$SEED_IMAGES" "$ECR_SYSTEMS"
            cells "BatchGetImage by digest ($(num "$SEED_IMAGES") images)" batch-get-digest bench/many "$SEED_IMAGES" "$ECR_SYSTEMS"
        )
        measure "${C[@]}"
        ;;
    describe)
        # Every size is seeded first, then all sizes are measured round-robin: the p50 at
        # the largest size and at the smallest come from the same stretch of time.
        C=()
        for n in $DESCRIBE_SIZES; do
            systems="berth-sqlite:berth berth-pg:berth"
            [ "$n" -gt "$MOTO_MAX" ] || systems="$systems moto:moto"
            for s in $systems; do seed "${s%%:*}" "${s##*:}" "bench/describe-$n" "$n"; done
            mapfile -t -O "${#C[@]}" C < <(
                cells "DescribeImages first page ($(num "$n") images)" describe-images "bench/describe-$n" "$n" "$systems"
                cells "ListImages first page ($(num "$n") images)" list-images "bench/describe-$n" "$n" "$systems"
            )
        done
        measure "${C[@]}"
        ;;
    oci)
        mapfile -t C < <(cells "Registry manifest PUT" oci-put-manifest bench/oci-put 0 "$OCI_SYSTEMS")
        measure "${C[@]}"
        for s in $OCI_SYSTEMS; do seed "${s%%:*}" "${s##*:}" bench/oci-many "$SEED_IMAGES"; done
        mapfile -t C < <(cells "Registry manifest GET by tag ($(num "$SEED_IMAGES") images)" oci-get-manifest bench/oci-many "$SEED_IMAGES" "$OCI_SYSTEMS")
        measure "${C[@]}"
        ;;
    blob)
        streams=$(echo "$CONCURRENCY" | tr ' ' ',')
        log "calibrating: SHA-256 on one core, loopback TCP with $streams streams"
        cal=$("$LOADGEN" calibrate --sha-mib 1024 --streams "$streams" --duration 3)
        echo "{\"kind\":\"calibrate\",\"result\":$cal}" >>"$JSONL"
        log "calibration: $cal"
        for set in "${BLOB_SETS[@]}"; do
            ft=${set%%|*} dir=${set#*|}
            systems="berth-$ft:berth-oci registry-$ft:registry"
            for s in $systems; do seed "${s%%:*}" "${s##*:}" bench/blob 0 --large-blob; done
            tags="\"fs\":\"$ft\",\"dir\":\"$dir\",\"blob_mib\":$BLOB_MIB"
            mapfile -t C < <(
                cells "Blob upload $BLOB_MIB MiB, monolithic, $ft" blob-upload-mono bench/blob 0 "$systems" "$tags"
                cells "Blob upload $BLOB_MIB MiB, chunked (16 MiB PATCHes), $ft" blob-upload-chunked bench/blob 0 "$systems" "$tags"
                cells "Blob upload $BLOB_MIB MiB, streamed (one PATCH, chunked transfer encoding), $ft" blob-upload-stream bench/blob 0 "$systems" "$tags"
                cells "Blob GET $BLOB_MIB MiB, $ft" blob-get bench/blob 0 "$systems" "$tags"
            )
            measure "${C[@]}"
        done
        ;;
    *) log "unknown scenario $scenario"; exit 1 ;;
    esac
done

for name in "${!PID[@]}"; do
    echo "{\"kind\":\"idle_rss\",\"target\":\"$name\",\"when\":\"end\",\"rss_kib\":$(rss_kib "${PID[$name]}")}" >>"$JSONL"
done

python3 bench/report.py "$JSONL" bench/results/meta.txt | tee bench/results/latest.md
log "tables written to bench/results/latest.md, every run to $JSONL"
