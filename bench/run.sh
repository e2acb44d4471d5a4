#!/usr/bin/env bash
# berth's benchmark harness: starts berth (SQLite and Postgres) and its peers (moto_server
# for the ECR face, distribution's docker-registry for the registry face) on loopback,
# drives them all with one load generator (bench/loadgen), and prints one table per
# scenario with each system's median of BENCH_RUNS runs and berth's ratio to the peer,
# then a table of issue #17's targets, met or not, computed from this run.
#
#   bash bench/run.sh
#
# Environment (defaults in brackets):
#   BENCH_DURATION   seconds per measurement [10]
#   BENCH_RUNS       runs per system, scenario and concurrency; the median is reported [3]
#   BENCH_CONCURRENCY  concurrency levels of every scenario but the three below [1 4]
#   BENCH_SCALING_CONCURRENCY  concurrency levels of PutImage, manifest GET and blob GET,
#                    whose throughput must not fall as clients are added [1 4 16 64]
#   BENCH_SCENARIOS  any of: put batchget describe oci blob repos wide [all]; blob
#                    includes memory, repos is DescribeRepositories and /v2/_catalog
#                    against the number of repositories, wide is PutImage of a manifest
#                    with BENCH_WIDE layers and of an index with BENCH_WIDE children
#   BENCH_PUT_FS     where berth-sqlite keeps its database for the write scenarios (put,
#                    manifest PUT, wide): disk (BENCH_DISKDIR, with a docker-registry
#                    there too) and/or tmpfs (the BENCH_TMPDIR pair, no fsync cost: a
#                    reference) [disk tmpfs]
#   BENCH_FSYNC_SECONDS  seconds of each fdatasync calibration (overwrite, then append)
#                    in each of those database directories [3]
#   BENCH_REPO_SIZES repository counts for DescribeRepositories and /v2/_catalog, each in
#                    a fresh berth per store [1000 100000]
#   BENCH_WIDE       layers of the wide manifest, children of the wide index [1000]
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
#   BENCH_DISKDIR    a directory on a disk file system for the on-disk database and blob
#                    runs [/var/tmp]
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
SCALING=${BENCH_SCALING_CONCURRENCY:-"1 4 16 64"}
SCENARIOS=${BENCH_SCENARIOS:-"put batchget describe oci blob repos wide"}
PUT_FS=${BENCH_PUT_FS:-"disk tmpfs"}
FSYNC_SECS=${BENCH_FSYNC_SECONDS:-3}
REPO_SIZES=${BENCH_REPO_SIZES:-"1000 100000"}
WIDE=${BENCH_WIDE:-1000}
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
PG_DBS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    for db in "${PG_DBS[@]}"; do
        psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    done
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
# The plain loopback sender blob GET is set against: the same file, the same client.
start_plain() { # name file
    local port; port=$(free_port)
    "$LOADGEN" serve-file --file "$2" --listen "127.0.0.1:$port" >"$WORK/$1.log" 2>&1 &
    started "$1" $! "http://127.0.0.1:$port" healthz
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

new_pg_db() { # name: creates the database (dropped at exit)
    psql -q "$PG_ADMIN" -c "CREATE DATABASE $1" >/dev/null
    PG_DBS+=("$1")
}
new_pg_db "$PG_DB"
PG_URL="${PG_ADMIN%/*}/$PG_DB"
disk_work() { # the run's directory on disk, made on first use
    [ -n "$DISKWORK" ] || DISKWORK=$(mktemp -d "$DISKDIR/berth-bench.XXXXXX")
}

start_berth berth-sqlite "$WORK/berth-sqlite"
start_berth berth-pg "$WORK/berth-pg" --database-url "$PG_URL"
start_moto
start_registry registry "$WORK/registry"
TMPFS_FT=$(fstype "$BENCH_TMPDIR")
# The write scenarios' systems, name:kind:where-the-data-is. berth-sqlite-<fs> keeps its
# database (and a docker-registry its files) on disk, where a durable commit costs an
# fsync; berth-pg's data is wherever the Postgres server keeps it.
ECR_PUT=() OCI_PUT=() FSYNC_DIRS=()
if has put || has oci || has wide; then
    for fs in $PUT_FS; do
        case $fs in
        disk)
            disk_work
            ft=$(fstype "$DISKWORK")
            start_berth "berth-sqlite-$ft" "$DISKWORK/berth-sqlite"
            ! has oci || start_registry "registry-$ft" "$DISKWORK/registry"
            ECR_PUT+=("berth-sqlite-$ft:berth:$ft")
            OCI_PUT+=("berth-sqlite-$ft:berth-oci:$ft" "registry-$ft:registry:$ft")
            FSYNC_DIRS+=("berth-sqlite-$ft|$ft|$DISKWORK/berth-sqlite") ;;
        tmpfs)
            ECR_PUT+=("berth-sqlite:berth:$TMPFS_FT")
            OCI_PUT+=("berth-sqlite:berth-oci:$TMPFS_FT" "registry:registry:$TMPFS_FT")
            FSYNC_DIRS+=("berth-sqlite|$TMPFS_FT|$WORK/berth-sqlite") ;;
        *) log "unknown BENCH_PUT_FS entry $fs"; exit 1 ;;
        esac
    done
    ECR_PUT+=("berth-pg:berth:postgres" "moto:moto:memory")
    OCI_PUT+=("berth-pg:berth-oci:postgres")
fi
# The blob scenarios get their own berth (SQLite: blob bytes live on the file system
# whatever the metadata store) and docker-registry per file system, started fresh, so
# that their idle memory and their growth during a transfer are not those of a process
# that just served a million-image repository.
BLOB_SETS=()
if has blob; then
    for fs in $BLOB_FS; do
        case $fs in
        tmpfs) dir=$WORK ;;
        disk) disk_work; dir=$DISKWORK ;;
        *) log "unknown BENCH_BLOB_FS entry $fs"; exit 1 ;;
        esac
        ft=$(fstype "$dir")
        [ -z "${URL[berth-blob-$ft]:-}" ] || ft="$ft-$fs"
        # Blob GETs are redirected to berth's download listener, which sends with
        # sendfile (README: "The download listener"); uploads go to the main listener.
        start_berth "berth-blob-$ft" "$dir/berth-blob" --download-listen 127.0.0.1:0 --blob-redirect
        start_registry "registry-blob-$ft" "$dir/registry-blob"
        BLOB_SETS+=("$ft|$dir")
    done
fi

{
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    echo "berth: $(git rev-parse --short HEAD); moto $(python3 -c 'import moto; print(moto.__version__)'); $(docker-registry --version)"
    echo "duration ${DURATION}s, runs $RUNS, concurrency $CONCURRENCY (PutImage, manifest GET, blob GET: $SCALING), data in $BENCH_TMPDIR ($TMPFS_FT)$([ -z "$DISKWORK" ] || echo ", on-disk databases and blobs in $DISKDIR ($(fstype "$DISKDIR"))"), $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "Postgres: $(psql -At "$PG_ADMIN" -c 'SHOW server_version' 2>/dev/null), data in $(psql -At "$PG_ADMIN" -c 'SHOW data_directory' 2>/dev/null || echo '(not readable)'), synchronous_commit $(psql -At "$PG_ADMIN" -c 'SHOW synchronous_commit' 2>/dev/null), fsync $(psql -At "$PG_ADMIN" -c 'SHOW fsync' 2>/dev/null)"
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

# Creates repositories <prefix>-000000 .. on a berth and records how long it took.
seed_repos() { # system count
    local t0 t1
    log "creating $2 repositories on $1"
    t0=$(date +%s.%N)
    "$LOADGEN" seed-repos --url "${URL[$1]}" --system berth --repo bench/r --count "$2" \
        --concurrency "$SEED_CONC"
    t1=$(date +%s.%N)
    echo "{\"kind\":\"seed\",\"target\":\"$1\",\"repo\":\"bench/r-*\",\"images\":0,\"repos\":$2,\"seconds\":$(awk "BEGIN {print $t1 - $t0}")}" >>"$JSONL"
}

# The rate of durable small writes where each berth-sqlite of the write scenarios keeps
# its database: write + fdatasync, one at a time (the ceiling of one durable commit per
# request at one client). Taken before and after PutImage is measured: on a shared
# machine the disk's pace moves, and the two readings show by how much.
fsync_calibrate() { # before|after
    local d name ft dir out
    for d in "${FSYNC_DIRS[@]}"; do
        IFS='|' read -r name ft dir <<<"$d"
        log "calibrating ($1): fdatasync in $dir ($ft), ${FSYNC_SECS}s overwriting and ${FSYNC_SECS}s appending"
        out=$("$LOADGEN" fsync --dir "$dir" --duration "$FSYNC_SECS")
        echo "{\"kind\":\"fsync\",\"when\":\"$1\",\"target\":\"$name\",\"fs\":\"$ft\",\"result\":$out}" >>"$JSONL"
        log "fsync: $out"
    done
}

# SQLite's writer thread's commits and the writes they held, as berth's /metrics counts
# them ("0 0" for any other system): a cell's difference is how many pushes shared a
# commit.
writer_counts() { # system
    case $1 in
    berth*) curl -sf "${URL[$1]}/metrics" | awk '/^berth_sqlite_commits_total /{c=$2} /^berth_sqlite_committed_writes_total /{w=$2} END {print c+0, w+0}' ;;
    *) echo 0 0 ;;
    esac
}

# A measurement cell: label|scenario|repo|images|system|kind|tags (tags: JSON members
# the report uses, e.g. "fs":"tmpfs"). measure runs every cell at every concurrency
# level given, BENCH_RUNS times, round-robin over the cells so drift hits them all alike.
measure() { # levels cell...
    local levels=$1 c r cell label sc repo n sys k tags watch out before after writer
    shift
    for c in $levels; do
        for r in $(seq 1 "$RUNS"); do
            for cell in "$@"; do
                IFS='|' read -r label sc repo n sys k tags <<<"$cell"
                watch=(--cpu-pid "${PID[$sys]}")
                case $sc in blob-*) watch+=(--watch-pid "${PID[$sys]}") ;; esac
                case $sys in berth-pg*) watch+=(--db-comm postgres) ;; esac
                read -ra before < <(writer_counts "$sys")
                out=$("$LOADGEN" run --url "${URL[$sys]}" --system "$k" --repo "$repo" --images "$n" \
                    --blob-mib "$BLOB_MIB" --wide "$WIDE" --scenario "$sc" --concurrency "$c" \
                    --duration "$DURATION" "${watch[@]}")
                read -ra after < <(writer_counts "$sys")
                writer=""
                [ "${after[0]}" = "${before[0]}" ] ||
                    writer=",\"sqlite_commits\":$((after[0] - before[0])),\"sqlite_writes\":$((after[1] - before[1]))"
                echo "{\"label\":\"$label\",\"scenario\":\"$sc\",\"images\":$n,\"target\":\"$sys\",\"run\":$r${tags:+,$tags}$writer,\"result\":$out}" >>"$JSONL"
                log "$label c=$c run $r $sys: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.1f req/s %.1f MiB/s p50 %.2f ms p99 %.2f ms errors %d" % (d["rps"], d["mb_per_s"], d["p50_ms"], d["p99_ms"], d["errors"]))' "$out")"
            done
        done
    done
}

ECR_SYSTEMS="berth-sqlite:berth berth-pg:berth moto:moto"
OCI_SYSTEMS="berth-sqlite:berth-oci berth-pg:berth-oci registry:registry"
# cells label scenario repo images systems [tags]: one cell per name:kind[:db] in
# systems; db, where the system keeps its data, becomes the tag "db"
cells() {
    local s name kind db tags
    for s in $5; do
        IFS=: read -r name kind db <<<"$s"
        tags=${6:-}
        [ -z "$db" ] || tags="${tags:+$tags,}\"db\":\"$db\""
        echo "$1|$2|$3|$4|$name|$kind|$tags"
    done
}
num() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }

# What any server answering this load generator pays per request before doing anything.
log "measuring a loopback round trip with nothing done at either end"
echo "{\"kind\":\"round_trip\",\"cores\":$(nproc),\"result\":$("$LOADGEN" round-trip --duration 3)}" >>"$JSONL"

for scenario in $SCENARIOS; do
    case $scenario in
    put)
        fsync_calibrate before
        mapfile -t C < <(cells "PutImage (distinct small manifests)" put-image bench/put 0 "${ECR_PUT[*]}")
        measure "$SCALING" "${C[@]}"
        fsync_calibrate after
        ;;
    batchget)
        for s in $ECR_SYSTEMS; do seed "${s%%:*}" "${s##*:}" bench/many "$SEED_IMAGES"; done
        mapfile -t C < <(
            cells "BatchGetImage by tag ($(num "$SEED_IMAGES") images)" batch-get-tag bench/many "$SEED_IMAGES" "$ECR_SYSTEMS"
            cells "BatchGetImage by digest ($(num "$SEED_IMAGES") images)" batch-get-digest bench/many "$SEED_IMAGES" "$ECR_SYSTEMS"
        )
        measure "$CONCURRENCY" "${C[@]}"
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
        measure "$CONCURRENCY" "${C[@]}"
        ;;
    oci)
        mapfile -t C < <(cells "Registry manifest PUT" oci-put-manifest bench/oci-put 0 "${OCI_PUT[*]}")
        measure "$CONCURRENCY" "${C[@]}"
        for s in $OCI_SYSTEMS; do seed "${s%%:*}" "${s##*:}" bench/oci-many "$SEED_IMAGES"; done
        mapfile -t C < <(cells "Registry manifest GET by tag ($(num "$SEED_IMAGES") images)" oci-get-manifest bench/oci-many "$SEED_IMAGES" "$OCI_SYSTEMS")
        measure "$SCALING" "${C[@]}"
        ;;
    blob)
        streams=$(echo $CONCURRENCY $SCALING | tr ' ' '\n' | sort -n -u | paste -sd, -)
        log "calibrating: SHA-256 on one core, loopback TCP with $streams streams"
        cal=$("$LOADGEN" calibrate --sha-mib 1024 --streams "$streams" --duration 3)
        echo "{\"kind\":\"calibrate\",\"result\":$cal}" >>"$JSONL"
        log "calibration: $cal"
        digest=$("$LOADGEN" blob-digest --blob-mib "$BLOB_MIB")
        hex=${digest#sha256:}
        for set in "${BLOB_SETS[@]}"; do
            ft=${set%%|*} dir=${set#*|}
            systems="berth-blob-$ft:berth-oci registry-blob-$ft:registry"
            for s in $systems; do seed "${s%%:*}" "${s##*:}" bench/blob 0 --large-blob; done
            # the plain sender serves berth's own copy of the blob (same file, same cache)
            file="$dir/berth-blob/blobs/sha256/${hex:0:2}/$hex"
            if [ "$(stat -c %s "$file" 2>/dev/null)" != "$((BLOB_MIB << 20))" ]; then
                log "berth's copy of the large blob is not at $file"; exit 1
            fi
            start_plain "plain-$ft" "$file"
            tags="\"fs\":\"$ft\",\"dir\":\"$dir\",\"blob_mib\":$BLOB_MIB"
            mapfile -t C < <(
                cells "Blob upload $BLOB_MIB MiB, monolithic, $ft" blob-upload-mono bench/blob 0 "$systems" "$tags"
                cells "Blob upload $BLOB_MIB MiB, chunked (16 MiB PATCHes), $ft" blob-upload-chunked bench/blob 0 "$systems" "$tags"
                cells "Blob upload $BLOB_MIB MiB, streamed (one PATCH, chunked transfer encoding), $ft" blob-upload-stream bench/blob 0 "$systems" "$tags"
            )
            measure "$CONCURRENCY" "${C[@]}"
            mapfile -t C < <(cells "Blob GET $BLOB_MIB MiB, $ft" blob-get bench/blob 0 "$systems plain-$ft:plain" "$tags")
            measure "$SCALING" "${C[@]}"
        done
        ;;
    repos)
        # A fresh berth per store and size, so each holds exactly that many repositories,
        # and every size is measured round-robin with the others.
        C=()
        for n in $REPO_SIZES; do
            start_berth "berth-sqlite-r$n" "$WORK/berth-sqlite-r$n"
            new_pg_db "${PG_DB}_r$n"
            start_berth "berth-pg-r$n" "$WORK/berth-pg-r$n" --database-url "${PG_ADMIN%/*}/${PG_DB}_r$n"
            seed_repos "berth-sqlite-r$n" "$n"
            seed_repos "berth-pg-r$n" "$n"
            systems="berth-sqlite-r$n:berth:$TMPFS_FT berth-pg-r$n:berth:postgres"
            mapfile -t -O "${#C[@]}" C < <(
                cells "DescribeRepositories first page ($(num "$n") repositories)" describe-repositories bench/r 0 "$systems" "\"repos\":$n"
                cells "Registry /v2/_catalog first page ($(num "$n") repositories)" oci-catalog bench/r 0 "${systems//:berth:/:berth-oci:}" "\"repos\":$n"
            )
        done
        measure "$CONCURRENCY" "${C[@]}"
        ;;
    wide)
        mapfile -t C < <(
            cells "PutImage of a manifest with $(num "$WIDE") layers" put-image-layers bench/wide 0 "${ECR_PUT[*]}" "\"wide\":$WIDE"
            cells "PutImage of an image index with $(num "$WIDE") children" put-image-index bench/wide 0 "${ECR_PUT[*]}" "\"wide\":$WIDE"
        )
        measure "$CONCURRENCY" "${C[@]}"
        ;;
    *) log "unknown scenario $scenario"; exit 1 ;;
    esac
done

for name in "${!PID[@]}"; do
    echo "{\"kind\":\"idle_rss\",\"target\":\"$name\",\"when\":\"end\",\"rss_kib\":$(rss_kib "${PID[$name]}")}" >>"$JSONL"
done

python3 bench/report.py "$JSONL" bench/results/meta.txt | tee bench/results/latest.md
log "tables written to bench/results/latest.md, every run to $JSONL"
