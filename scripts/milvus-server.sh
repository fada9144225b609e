#!/usr/bin/env bash
# Start and stop a real Milvus standalone server (2.3.5, from the PyPI package `milvus`) for
# the integration tests and CI. The server lives in its own virtualenv, .venv-milvus, so its
# dependencies never touch the project's .venv.
#
#   scripts/milvus-server.sh install            create .venv-milvus with milvus==2.3.5 (idempotent)
#   scripts/milvus-server.sh start DATA_DIR     start in the background, wait until it answers,
#                                               print its URI (pid in DATA_DIR/milvus.pid,
#                                               output in DATA_DIR/milvus.log)
#   scripts/milvus-server.sh stop DATA_DIR      SIGTERM, wait, then SIGKILL what is left
#   scripts/milvus-server.sh status DATA_DIR    print the URI and exit 0 if it is running
#
# Environment: MILVUS_PORT (gRPC port, default 19530; the server also uses the next 18 ports),
# MILVUS_START_TIMEOUT (seconds, 120), MILVUS_STOP_TIMEOUT (seconds, 20), REPORTRAG_PYTHON (the
# client's python, default .venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-milvus"
MILVUS_VERSION="2.3.5"
PORT="${MILVUS_PORT:-19530}"
START_TIMEOUT="${MILVUS_START_TIMEOUT:-120}"
STOP_TIMEOUT="${MILVUS_STOP_TIMEOUT:-20}"
CLIENT_PY="${REPORTRAG_PYTHON:-$ROOT/.venv/bin/python}"
URI="http://127.0.0.1:$PORT"

die() { echo "milvus-server.sh: $*" >&2; exit 1; }

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

data_dir() {
    [ -n "${1:-}" ] || usage
    mkdir -p "$1"
    (cd "$1" && pwd)
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

recorded_pid() {
    local f="$1/milvus.pid"
    [ -f "$f" ] && tr -dc '0-9' <"$f" || true
}

# Does the gRPC endpoint answer a real request (not just accept TCP)?
answers() {
    "$CLIENT_PY" - "$URI" <<'PY' >/dev/null 2>&1
import sys
from pymilvus import MilvusClient
client = MilvusClient(uri=sys.argv[1], timeout=3)
client.list_collections(timeout=3)
client.close()
PY
}

# Can it create and drop a collection? Right after start-up (above all on a data dir whose
# previous server was killed) list_collections answers while DDL still times out, because
# the new root coordinator waits for the old one's etcd session to expire.
ready() {
    "$CLIENT_PY" - "$URI" <<'PY' >/dev/null 2>&1
import sys
from pymilvus import DataType, MilvusClient
client = MilvusClient(uri=sys.argv[1], timeout=3)
name = "reportrag_readiness_probe"
if client.has_collection(name, timeout=5):
    client.drop_collection(name, timeout=5)
schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
schema.add_field("id", DataType.INT64, is_primary=True)
schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
client.create_collection(name, schema=schema, timeout=5)
client.drop_collection(name, timeout=5)
client.close()
PY
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

cmd_install() {
    if [ -x "$VENV/bin/milvus-server" ] &&
        "$VENV/bin/python" -c "import milvus, sys; sys.exit(milvus.__version__ != '$MILVUS_VERSION')" 2>/dev/null; then
        echo "milvus $MILVUS_VERSION already installed in $VENV"
        return 0
    fi
    [ -d "$VENV" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "milvus==$MILVUS_VERSION"
    echo "installed milvus $MILVUS_VERSION in $VENV"
}

cmd_start() {
    local dir pid log waited
    dir="$(data_dir "${1:-}")"
    [ -x "$VENV/bin/milvus-server" ] || die "not installed; run: $0 install"
    [ -x "$CLIENT_PY" ] || die "no client python at $CLIENT_PY (set REPORTRAG_PYTHON)"
    pid="$(recorded_pid "$dir")"
    if alive "$pid"; then
        die "already running (pid $pid, $dir); stop it first"
    fi
    # milvus-server silently moves to the next free port when the asked one is taken;
    # refuse instead, so the printed URI is always the real one.
    if port_open; then
        die "port $PORT is already in use (set MILVUS_PORT to another port)"
    fi
    log="$dir/milvus.log"
    # setsid: the Python wrapper and the milvus binary it spawns get a process group of their
    # own (pgid == pid), so stop can signal both: a SIGTERM to the wrapper alone kills it and
    # leaves the milvus binary running, orphaned.
    #
    # Every port the server opens is pinned near PORT, so several servers (CI's and a test's
    # own) can run side by side: left alone, the internal ports float to the first free one
    # near their defaults (19529-19531, 2379...), which may be another server's proxy port,
    # and the embedded etcd's peer port (2380) is not configurable at all except through an
    # etcd config file (ETCD_CONFIG_PATH). etcd keeps PORT+9 and PORT+10; the components
    # alternate between PORT+1..8 and PORT+11..18 from one start to the next, so that after
    # a crash the previous run's sessions, still in etcd until their lease expires, point at
    # closed ports (clients retry) rather than at a component of the new run listening on
    # the same port (which has made Milvus 2.3.5 panic: "unknown service ...DataCoord").
    local etcd_client=$((PORT + 9)) etcd_peer=$((PORT + 10)) p starts base
    starts="$(tr -dc '0-9' 2>/dev/null <"$dir/milvus.starts" || true)"
    starts=$((${starts:-0} + 1))
    echo "$starts" >"$dir/milvus.starts"
    base=$((PORT + 1 + 10 * (starts % 2)))
    for p in $(seq "$base" $((base + 7))) "$etcd_client" "$etcd_peer"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            die "port $p (derived from MILVUS_PORT=$PORT) is in use; choose another MILVUS_PORT"
        fi
    done
    printf '%s\n' "name: default" \
        "listen-client-urls: http://127.0.0.1:$etcd_client" \
        "advertise-client-urls: http://127.0.0.1:$etcd_client" \
        "listen-peer-urls: http://127.0.0.1:$etcd_peer" \
        "initial-advertise-peer-urls: http://127.0.0.1:$etcd_peer" \
        "initial-cluster: default=http://127.0.0.1:$etcd_peer" >"$dir/etcd.yaml"
    ETCD_CONFIG_PATH="$dir/etcd.yaml" PYTHONUNBUFFERED=1 setsid "$VENV/bin/milvus-server" \
        --data "$dir" --proxy-port "$PORT" --proxy-internal-port "$base" \
        --root-coord-port $((base + 1)) --query-coord-port $((base + 2)) \
        --query-node-port $((base + 3)) --index-coord-port $((base + 4)) \
        --index-node-port $((base + 5)) --data-coord-port $((base + 6)) \
        --data-node-port $((base + 7)) --etcd-port "$etcd_client" \
        </dev/null >"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/milvus.pid"
    waited=0
    while :; do
        if ! alive "$pid"; then
            echo "milvus-server exited during start-up; last lines of its logs:" >&2
            tail -n 20 "$log" >&2 || true
            tail -n 20 "$dir/logs/milvus-stderr.log" >&2 2>/dev/null || true
            rm -f "$dir/milvus.pid"
            exit 1
        fi
        if port_open && ready; then
            break
        fi
        if [ "$waited" -ge "$START_TIMEOUT" ]; then
            echo "Milvus did not answer on $URI within ${START_TIMEOUT}s; stopping it" >&2
            tail -n 20 "$dir/logs/milvus-stderr.log" >&2 2>/dev/null || true
            cmd_stop "$dir" >&2
            exit 1
        fi
        sleep 2
        waited=$((waited + 2))
    done
    echo "$URI"
}

# The live processes of the server: the recorded pid, the members of the process group that
# start gave it (pgid == pid; the group outlives a dead wrapper) and the pid's children.
# Only milvus processes count (a recycled pid is left alone), and zombies don't.
members() {
    local pid="$1" p
    {
        echo "$pid"
        pgrep -g "$pid" 2>/dev/null || true
        pgrep -P "$pid" 2>/dev/null || true
    } | sort -u | while read -r p; do
        if ps -o stat= -p "$p" 2>/dev/null | grep -q '^[^Z]' &&
            ps -o args= -p "$p" 2>/dev/null | grep -q milvus; then
            echo "$p"
        fi
    done
}

signal_all() {
    local sig="$1" pid="$2" p
    for p in $(members "$pid"); do
        kill "-$sig" "$p" 2>/dev/null || true
    done
}

group_alive() { [ -n "$(members "$1")" ]; }

cmd_stop() {
    local dir pid waited
    dir="$(data_dir "${1:-}")"
    pid="$(recorded_pid "$dir")"
    if [ -z "$pid" ] || ! group_alive "$pid"; then
        rm -f "$dir/milvus.pid"
        echo "not running"
        return 0
    fi
    signal_all TERM "$pid"
    waited=0
    while group_alive "$pid" && [ "$waited" -lt "$STOP_TIMEOUT" ]; do
        sleep 1
        waited=$((waited + 1))
    done
    if group_alive "$pid"; then
        # Milvus 2.3 standalone often hangs in shutdown waiting for its coordinators.
        echo "still running after ${STOP_TIMEOUT}s; sending SIGKILL" >&2
        signal_all KILL "$pid"
        sleep 1
    fi
    rm -f "$dir/milvus.pid"
    echo "stopped (pid $pid)"
}

cmd_status() {
    local dir pid
    dir="$(data_dir "${1:-}")"
    pid="$(recorded_pid "$dir")"
    if alive "$pid" && answers; then
        echo "$URI"
        return 0
    fi
    echo "not running" >&2
    return 1
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start "${2:-}" ;;
    stop) cmd_stop "${2:-}" ;;
    status) cmd_status "${2:-}" ;;
    *) usage ;;
esac
