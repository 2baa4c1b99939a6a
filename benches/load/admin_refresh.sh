#!/usr/bin/env bash
# What the admin page costs the proxy: instructions per refresh (one `GET /status` and one
# `GET /stats`, what the page's script asks every 2 s), and per sample of the figures the admin
# side takes every 2 s whether a page is open or not, counted under callgrind so the figures
# hold on a loaded machine.
#
#   benches/load/admin_refresh.sh
#
# Two configs: bench.edge (one route, a pool of three servers) and a config of 1,000 routes
# over ten pools of two servers (the shape of benches/build/run.sh's), each with an admin
# listener on 127.0.0.1:18399. Each proxy runs under `valgrind --tool=callgrind` with no
# traffic but the admin's: the counters are zeroed, nothing is asked for SAMPLE_SECONDS (the
# sampler alone), the counters are dumped; zeroed again, `h2load --h1 -c 1` asks REFRESHES
# times for /status and /stats on one keep-alive connection, dumped again. A sample's cost is
# the first dump over the samples taken in that time; a refresh's, the second over the
# refreshes, less the samples taken meanwhile.
#
# Environment: REFRESHES (500), SAMPLE_SECONDS (20), EDGE_CACHE_DIR (target/edge-load).
# Loopback only; every load is bounded; everything started here is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
REFRESHES=${REFRESHES:-500}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-20}
ADMIN_PORT=18399
export EDGE_CACHE_DIR=${EDGE_CACHE_DIR:-$repo/target/edge-load}
export EDGE_WORKERS=1 RUST_LOG=warn
for tool in valgrind callgrind_control h2load curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

work=$(mktemp -d /tmp/edge-admin-refresh.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

admin="admin {
    bind 127.0.0.1:$ADMIN_PORT
}"
{ cat "$here/bench.edge"; printf '\n%s\n' "$admin"; } >"$work/small.edge"
{
    printf 'listener api {\n    bind 127.0.0.1:18398\n}\n\n%s\n\n' "$admin"
    for pool in $(seq 0 9); do
        printf 'pool service_%d {\n    server 10.0.%d.1:8080\n    server 10.0.%d.2:8080\n}\n\n' \
            "$pool" "$pool" "$pool"
    done
    for route in $(seq 0 999); do
        printf 'route r%d {\n    on api\n    path /api/r%d\n    forward service_%d\n}\n\n' \
            "$route" "$route" $((route % 10))
    done
} >"$work/large.edge"

echo "building edgec and two proxies (EDGE_CACHE_DIR=$EDGE_CACHE_DIR)" >&2
(cd "$repo" && cargo build --release --bin edgec >&2)
for name in small large; do
    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        "$repo/target/release/edgec" build "$work/$name.edge" -o "$work/$name" >&2
done

total() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }

# Waits (at most 20 s) for a dump: callgrind takes a command when the proxy next runs, which
# an idle one does at its next sample.
dumped() {
    for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.1; done
    echo "no dump $1" >&2
    exit 1
}

# "SAMPLE REFRESH": instructions per sample and per refresh of the proxy `name`.
measure() {
    local name=$1 pid dir="$work/cg-$1"
    mkdir -p "$dir"
    (cd "$dir" && exec valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out.%p" \
        "$work/$name" >"$dir/out" 2>"$dir/err") &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 600); do # 60 s: a proxy under valgrind starts slowly
        curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    h2load --h1 -n 40 -c 1 "http://127.0.0.1:$ADMIN_PORT/status" \
        "http://127.0.0.1:$ADMIN_PORT/stats" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    sleep "$SAMPLE_SECONDS"
    callgrind_control -d "$pid" >/dev/null 2>&1
    dumped "$dir/callgrind.out.$pid.1"
    local started ended
    started=$(date +%s.%N)
    h2load --h1 -n $((2 * REFRESHES)) -c 1 "http://127.0.0.1:$ADMIN_PORT/status" \
        "http://127.0.0.1:$ADMIN_PORT/stats" >"$dir/h2load.txt"
    ended=$(date +%s.%N)
    grep -q "status codes: $((2 * REFRESHES)) 2xx" "$dir/h2load.txt" || { cat "$dir/h2load.txt" >&2; exit 1; }
    callgrind_control -d "$pid" >/dev/null 2>&1
    dumped "$dir/callgrind.out.$pid.2"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    awk -v idle="$(total "$dir/callgrind.out.$pid.1")" -v busy="$(total "$dir/callgrind.out.$pid.2")" \
        -v secs="$SAMPLE_SECONDS" -v took="$(awk -v s="$started" -v e="$ended" 'BEGIN { print e - s }')" \
        -v n="$REFRESHES" 'BEGIN {
            per_sample = idle / (secs / 2)
            printf "%.0f %.0f\n", per_sample, (busy - per_sample * took / 2) / n
        }'
}

echo "## What the admin page costs the proxy (instructions, callgrind)"
echo
echo "| config | per sample (every 2 s) | per refresh (/status and /stats) |"
echo "|---|---:|---:|"
for name in small large; do
    # In this shell, not a subshell, so that the proxy is stopped on exit whatever happens.
    measure "$name" >"$work/$name.figures"
    read -r sample refresh <"$work/$name.figures"
    case $name in
        small) label="bench.edge: 1 route, 3 servers" ;;
        *) label="1,000 routes, 20 servers" ;;
    esac
    echo "| $label | $sample | $refresh |"
done
