#!/usr/bin/env bash
# Instructions and system calls per proxied request: Edge against nginx and HAProxy, counted
# rather than timed, so the figures hold on a loaded machine.
#
#   benches/load/callgrind.sh EDGE_PROXY [EDGE_PROXY...]   # binaries built from bench.edge
#
# Environment: REQUESTS (20000, per measured run), CONNS (64), WARMUP_REQUESTS (2000),
# STRACE_REQUESTS (5000), PROXIES (the binaries given, then nginx, haproxy and the two reference
# peers hyper-min and raw-min; set to e.g. "nginx" to skip the Edge ones), PEERS_DIR (where the
# reference peers are built, target/bench-peers/release: see benches/load/README.md),
# KEEP_WORK=1 keeps the temp dir (configs, callgrind files).
#
# The same setup as run.sh, scenario a (1 KiB over HTTP/1.1 keep-alive, round robin over three
# nginx backends with upstream keep-alive, forwarding headers set): the backends on
# 127.0.0.1:18301-18303 and the proxy under test on its run.sh port (Edge 18310, nginx 18320,
# HAProxy 18330, hyper-min 18340, raw-min 18350), one at a time. The reference peers
# (../shared/bench-peers) show the floor: hyper-min is plain hyper with hyper-util's pooled
# client setting only X-Forwarded-For, raw-min httparse on reused buffers. Each proxy runs under `valgrind --tool=callgrind` (nginx with
# one worker and no master process, HAProxy with one thread); after WARMUP_REQUESTS the
# counters are zeroed, `h2load --h1 -n REQUESTS -c CONNS -t 1` runs, and the counters are
# dumped: instructions per request are the dump's total over REQUESTS. Then the proxy runs
# again natively with `strace -c -f` attached for STRACE_REQUESTS requests: system calls per
# request, total and by name. Prints a markdown table on stdout (progress on stderr).
# Loopback only; every load is bounded in requests; everything started here is stopped on
# exit.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 EDGE_PROXY [EDGE_PROXY...]" >&2; exit 2; }
REQUESTS=${REQUESTS:-20000}
CONNS=${CONNS:-64}
WARMUP_REQUESTS=${WARMUP_REQUESTS:-2000}
STRACE_REQUESTS=${STRACE_REQUESTS:-5000}
for tool in valgrind callgrind_control callgrind_annotate strace h2load nginx haproxy; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

# Edge as run.sh runs it (exported: valgrind must start the proxy itself, not through env).
export EDGE_WORKERS=1 RUST_LOG=warn
BACKENDS=(18301 18302 18303)
EDGE_PORT=18310
NGINX_PORT=18320
HAPROXY_PORT=18330
HYPER_MIN_PORT=18340
RAW_MIN_PORT=18350
here=$(cd "$(dirname "$0")" && pwd)
PEERS_DIR=${PEERS_DIR:-$here/../../target/bench-peers/release}

work=$(mktemp -d /tmp/edge-callgrind.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 0.5
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
    local port=$1
    for _ in $(seq 600); do # 60 s: a proxy under valgrind starts slowly
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$port" >&2
    return 1
}

# ---- backends and configs, as run.sh writes them ----

chmod 755 "$work"
mkdir -p "$work/www" "$work/tmp"
head -c 1024 /dev/zero | tr '\0' x >"$work/www/1k"
for port in "${BACKENDS[@]}"; do
    cat >"$work/backend-$port.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/backend-$port.pid;
error_log $work/backend-$port.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
    client_body_temp_path $work/tmp/backend-$port-body;
    proxy_temp_path $work/tmp/backend-$port-proxy;
    open_file_cache max=16;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $work/www;
    }
}
CONF
    nginx -p "$work" -e "$work/backend-$port.err" -c "$work/backend-$port.conf" &
    pids+=($!)
done
for port in "${BACKENDS[@]}"; do wait_port "$port"; done

cat >"$work/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $work/tmp/nginx-body;
    proxy_temp_path $work/tmp/nginx-proxy;
    upstream backends {
        server 127.0.0.1:${BACKENDS[0]};
        server 127.0.0.1:${BACKENDS[1]};
        server 127.0.0.1:${BACKENDS[2]};
        keepalive 64;
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Real-IP \$remote_addr;
    proxy_set_header X-Forwarded-Proto \$scheme;
    proxy_set_header X-Forwarded-Host \$host;
    proxy_max_temp_file_size 0;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / { proxy_pass http://backends; }
    }
}
CONF

cat >"$work/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 4000

defaults
    mode http
    maxconn 4000
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option forwardfor
    http-reuse always

frontend plain
    bind 127.0.0.1:$HAPROXY_PORT
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    default_backend backends

backend backends
    balance roundrobin
    server b1 127.0.0.1:${BACKENDS[0]}
    server b2 127.0.0.1:${BACKENDS[1]}
    server b3 127.0.0.1:${BACKENDS[2]}
CONF

# ---- measuring ----

# name: the command line that runs proxy NAME in the foreground, and its port.
command_of() {
    case $1 in
        nginx) echo "nginx -p $work -e $work/nginx.err -c $work/nginx.conf" ;;
        haproxy) echo "haproxy -db -f $work/haproxy.cfg" ;;
        hyper-min | raw-min)
            local port
            port=$(port_of "$1")
            echo "$PEERS_DIR/$1 127.0.0.1:$port 127.0.0.1:${BACKENDS[0]} 127.0.0.1:${BACKENDS[1]} 127.0.0.1:${BACKENDS[2]}"
            ;;
        *) echo "$1" ;;
    esac
}
port_of() {
    case $1 in
        nginx) echo $NGINX_PORT ;;
        haproxy) echo $HAPROXY_PORT ;;
        hyper-min) echo $HYPER_MIN_PORT ;;
        raw-min) echo $RAW_MIN_PORT ;;
        *) echo $EDGE_PORT ;;
    esac
}

# Runs h2load; prints the requests that succeeded.
load() { # port requests
    local out
    out=$(h2load --h1 -n "$2" -c "$CONNS" -t 1 "http://127.0.0.1:$1/1k")
    awk '/^requests:/ {print $8}' <<<"$out"
}

stop() { # pid
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

# Instructions per request under callgrind: "IR_PER_REQUEST".
instructions() { # name index
    local name=$1 index=$2 port pid
    port=$(port_of "$name")
    local dir="$work/cg-$index"
    mkdir -p "$dir"
    # shellcheck disable=SC2046
    (cd "$dir" && exec valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out.%p" \
        $(command_of "$name") >"$dir/out" 2>"$dir/err") &
    pid=$!
    pids+=("$pid")
    wait_port "$port"
    load "$port" "$WARMUP_REQUESTS" >/dev/null
    callgrind_control -z "$pid" >/dev/null
    local done_requests
    done_requests=$(load "$port" "$REQUESTS")
    callgrind_control -d "$pid" >/dev/null
    stop "$pid"
    # The dump taken right after the measured run is part 1.
    local dump="$dir/callgrind.out.$pid.1"
    cp "$dump" "$work/callgrind-$index.out"
    local total
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    awk -v t="$total" -v n="$done_requests" 'BEGIN { printf "%.0f", (n > 0) ? t / n : 0 }'
}

# System calls per request under strace: "TOTAL_PER_REQUEST top-calls".
syscalls() { # name index
    local name=$1 index=$2 port pid tracer
    port=$(port_of "$name")
    # shellcheck disable=SC2046
    $(command_of "$name") >"$work/native-$index.out" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_port "$port"
    load "$port" "$WARMUP_REQUESTS" >/dev/null
    strace -c -f -p "$pid" -o "$work/strace-$index.txt" 2>/dev/null &
    tracer=$!
    sleep 1
    local done_requests
    done_requests=$(load "$port" "$STRACE_REQUESTS")
    kill -INT "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    stop "$pid"
    local total detail
    total=$(awk -v n="$done_requests" '$NF == "total" { printf "%.2f", (n > 0) ? $4 / n : 0 }' \
        "$work/strace-$index.txt")
    # Calls made at least once per 20 requests, most frequent first.
    detail=$(awk -v n="$done_requests" '
        $1 ~ /^[0-9.]+$/ && $NF != "total" && n > 0 && $4 / n >= 0.05 { printf "%.2f %s\n", $4 / n, $NF }' \
        "$work/strace-$index.txt" | sort -k1,1nr | awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')
    echo "$total|$detail"
}

if [ -z "${PROXIES:-}" ]; then
    PROXIES="$* nginx haproxy hyper-min raw-min"
fi
for name in $PROXIES; do
    case $name in
        hyper-min | raw-min)
            [ -x "$PEERS_DIR/$name" ] || {
                echo "no $PEERS_DIR/$name: build the reference peers first (benches/load/README.md)" >&2
                exit 2
            }
            ;;
    esac
done
echo "| proxy | instructions/request | syscalls/request | syscalls by name, per request |"
echo "|---|---|---|---|"
index=0
for name in $PROXIES; do
    index=$((index + 1))
    echo "callgrind: $name" >&2
    ir=$(instructions "$name" "$index")
    echo "strace: $name" >&2
    IFS='|' read -r calls detail <<<"$(syscalls "$name" "$index")"
    label=$name
    case $name in nginx | haproxy | hyper-min | raw-min) ;; *) label="edge ($(basename "$name"))" ;; esac
    echo "| $label | $ir | $calls | $detail |"
done
