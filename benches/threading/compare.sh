#!/usr/bin/env bash
# Compares proxy binaries built from bench.edge (e.g. two threading models, each built with
# `edgec build benches/threading/bench.edge -o BIN` at its commit) under the same load.
#
#   benches/threading/compare.sh LABEL_A BIN_A LABEL_B BIN_B [ROUNDS]
#
# For each binary, ROUNDS times (default 3, alternating binaries): the proxy pinned to CPU 0
# with wrk and the backend on CPU 1 ("pinned"), then everything unpinned ("free"); for each,
# `wrk -t1 -c64 -d5s` after a 3 s warm-up on /direct (answered by the proxy) and /fwd
# (proxied to an nginx backend serving 1 KiB). Prints the median requests/s as a table.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,10p "$0"; exit 2; }
rounds=${5:-3}
here=$(cd "$(dirname "$0")" && pwd)
for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { apt-get update -q && apt-get install -y -q wrk nginx-light; }
done
work=$(mktemp -d)
trap 'kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
head -c 1024 /dev/zero | tr '\0' x >"$work/1k.txt"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:18101;
        location / { root $work; try_files /1k.txt =404; }
    }
}
CONF
taskset -c 1 nginx -c "$work/nginx.conf"
sleep 0.3

measure() { # label binary
    local label=$1 bin=$2 mode path pid load
    for mode in pinned free; do
        if [ "$mode" = pinned ]; then
            taskset -c 0 "$bin" >/dev/null 2>"$work/proxy.err" & load="taskset -c 1 wrk"
        else
            "$bin" >/dev/null 2>"$work/proxy.err" & load=wrk
        fi
        pid=$!
        sleep 0.5
        for path in direct fwd; do
            $load -t1 -c64 -d3s "http://127.0.0.1:18100/$path" >/dev/null
            echo "$label $mode $path $($load -t1 -c64 -d5s "http://127.0.0.1:18100/$path" | awk '/Requests\/sec/ {print $2}')"
        done
        kill -TERM "$pid"
        wait "$pid" || true
    done
}

for _ in $(seq "$rounds"); do
    measure "$1" "$2"
    measure "$3" "$4"
done >"$work/results"

echo "| model | placement | route | median req/s | runs |"
echo "|---|---|---|---|---|"
sort "$work/results" | awk '{k=$1" | "$2" | "$3; v[k]=v[k]" "$4; n[k]++} END {for (k in v) print k, v[k]}' |
    while read -r label sep1 mode sep2 path runs; do
        median=$(tr ' ' '\n' <<<"$runs" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        echo "| $label | $mode | $path | $median | $runs |"
    done | sort
