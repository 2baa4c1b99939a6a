#!/usr/bin/env bash
# Load harness: Edge against nginx and HAProxy as reverse proxies on loopback, same work each.
#
#   benches/load/run.sh                          # ROUNDS=3 DURATION=10s
#   ROUNDS=5 DURATION=30s benches/load/run.sh    # longer
#   ROUNDS=1 DURATION=2s benches/load/run.sh     # smoke run (not a result)
#
# Environment: ROUNDS (3), DURATION (10s, whole seconds), WARMUP (2s, before every measured
# run), SCENARIOS (the measured ones, space-separated names as in the table; all by default),
# IDLE_CONNS (10000, the RSS scenario; 0 skips it), EDGE_CACHE_DIR (default target/edge-load),
# KEEP_WORK=1 keeps the temp dir (configs, raw outputs) for inspection.
#
# Three nginx backends (1 worker each, 1 KiB and 64 KiB files) on 127.0.0.1:18301-18303; the
# proxies round robin over them with upstream keep-alive and X-Forwarded-For, no logging:
# Edge (bench.edge, EDGE_WORKERS=1) on 18310 (TLS 18311, Layer 4 18312), nginx (1 worker) on
# 18320 (TLS 18321, stream module 18322), HAProxy (nbthread 1) on 18330 (TLS 18331, mode tcp
# 18332), and, when built (benches/load/README.md), the reference peers of ../shared/bench-peers
# in the plain keep-alive scenarios a and c: hyper-min on 18340 and raw-min on 18350 (PEERS_DIR,
# default target/bench-peers/release). The proxy under test runs on CPU 0; backends and load
# generators on CPU 1. Scenarios: a) HTTP/1.1 keep-alive 1 KiB, b) a new connection per request,
# c) 64 KiB responses, d) TLS HTTP/1.1, e) TLS HTTP/2 (h2load), f) RSS with IDLE_CONNS idle
# keep-alive connections, g) Layer 4 (a TCP tunnel per connection, a new connection per
# request). Prints one markdown table of medians over ROUNDS (see benches/load/README.md).
# Loopback only; every run is bounded; everything started here is stopped on exit.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
IDLE_CONNS=${IDLE_CONNS:-10000}
seconds() { # 10s / 10 -> 10
    local value=${1%s}
    [[ $value =~ ^[0-9]+$ && $value -gt 0 ]] || { echo "durations are whole seconds: $1" >&2; exit 2; }
    echo "$value"
}
duration=$(seconds "$DURATION")
warmup=$(seconds "$WARMUP")
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -gt 0 ]] || { echo "ROUNDS must be a positive number" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export EDGE_CACHE_DIR=${EDGE_CACHE_DIR:-$repo/target/edge-load}

BACKENDS=(18301 18302 18303)
EDGE_PORT=18310
EDGE_TLS=18311
NGINX_PORT=18320
NGINX_TLS=18321
HAPROXY_PORT=18330
HAPROXY_TLS=18331
HYPER_MIN_PORT=18340
RAW_MIN_PORT=18350
EDGE_TCP=18312
NGINX_TCP=18322
HAPROXY_TCP=18332
PROXIES=(edge nginx haproxy)
PEERS_DIR=${PEERS_DIR:-$repo/target/bench-peers/release}
PEERS=()
for peer in hyper-min raw-min; do
    [ -x "$PEERS_DIR/$peer" ] && PEERS+=("$peer")
done
if [ ${#PEERS[@]} -lt 2 ]; then
    echo "note: the reference peers are not built in $PEERS_DIR (benches/load/README.md); measuring without them" >&2
fi
PROXIES+=("${PEERS[@]}")

# ---- tools ----

missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
# nginx's Layer 4 proxy (the stream module) is a separate package in Debian.
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v wrk >/dev/null || missing+=(wrk)
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v openssl >/dev/null || missing+=(openssl)
command -v python3 >/dev/null || missing+=(python3)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    apt-get update -q >&2 && apt-get install -y -q "${missing[@]}" >&2
fi
if [ "$(nproc --all)" -lt 2 ]; then
    echo "needs 2 CPUs (proxy on CPU 0, load on CPU 1)" >&2
    exit 2
fi
# 10,000 idle connections need as many descriptors in the client and in the proxy.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
nofile=$(ulimit -n)
if [ "$nofile" -lt $((IDLE_CONNS + 1000)) ]; then
    echo "warning: ulimit -n is $nofile; the RSS scenario needs $((IDLE_CONNS + 1000))" >&2
fi
ticks=$(getconf CLK_TCK)

# ---- work dir, cleanup ----

work=$(mktemp -d /tmp/edge-load.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (bounded) until something accepts on 127.0.0.1:PORT.
wait_port() {
    local port=$1
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$port; the logs:" >&2
    tail -n 5 "$work"/*.err "$work"/*.out >&2 2>/dev/null || true
    return 1
}

# ---- content, certificate ----

# nginx workers run unprivileged: they must reach the files (the throwaway key stays private).
chmod 755 "$work"
mkdir -p "$work/www" "$work/tmp"
head -c 1024 /dev/zero | tr '\0' x >"$work/www/1k"
head -c 65536 /dev/zero | tr '\0' y >"$work/www/64k"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"
chmod 600 "$work/key.pem" "$work/haproxy.pem"

# ---- build Edge ----

# bench.edge plus a TLS listener on the certificate just made (its path is compiled in).
cp "$here/bench.edge" "$work/bench.edge"
cat >>"$work/bench.edge" <<EDGE

listener web_tls {
    bind 127.0.0.1:$EDGE_TLS
    header_timeout 60s
    tls {
        cert "cert.pem"
        key "key.pem"
    }
}

route all_tls {
    on web_tls
    forward backends
}

listener l4 {
    bind 127.0.0.1:$EDGE_TCP
    mode tcp
}

route all_tcp {
    on l4
    forward backends
}
EDGE
echo "building edgec and the Edge proxy (EDGE_CACHE_DIR=$EDGE_CACHE_DIR)" >&2
(cd "$repo" && cargo build --release --bin edgec >&2)
"$repo/target/release/edgec" build "$work/bench.edge" -o "$work/edge-proxy" >&2
# From here on this shell, and whatever it starts without its own taskset, stays on CPU 1.
taskset -pc 1 $$ >/dev/null

# ---- backends: three nginx, one worker each, on CPU 1 ----

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
    taskset -c 1 nginx -p "$work" -e "$work/backend-$port.err" -c "$work/backend-$port.conf" &
    pids+=($!)
done

# ---- the proxies, on CPU 0 ----

# nginx: one worker, upstream keep-alive, the forwarding headers Edge sets. Buffering stays on
# (nginx's default) but never spills to disk.
nginx_version=$(nginx -v 2>&1 | sed 's/.*nginx\///')
if printf '1.25.1\n%s\n' "$nginx_version" | sort -V -C; then
    tls_listen="listen 127.0.0.1:$NGINX_TLS ssl backlog=4096; http2 on;"
else
    tls_listen="listen 127.0.0.1:$NGINX_TLS ssl http2 backlog=4096;"
fi
cat >"$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
worker_rlimit_nofile $nofile;
events { worker_connections $((nofile > 20000 ? 16000 : nofile - 500)); }
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
    server {
        $tls_listen
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        location / { proxy_pass http://backends; }
    }
}
stream {
    upstream tcp_backends {
        server 127.0.0.1:${BACKENDS[0]};
        server 127.0.0.1:${BACKENDS[1]};
        server 127.0.0.1:${BACKENDS[2]};
    }
    server {
        listen 127.0.0.1:$NGINX_TCP backlog=4096;
        proxy_pass tcp_backends;
    }
}
CONF

# HAProxy: one thread, keep-alive both sides, connections to servers shared, same headers.
cat >"$work/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn $((nofile > 24000 ? 12000 : (nofile - 500) / 2 + 1000))
    # HAProxy wants 2 descriptors per connection; where the hard limit is lower, start anyway
    # (the idle connections of the RSS scenario need only one each).
    no strict-limits

defaults
    mode http
    maxconn $((nofile > 24000 ? 12000 : (nofile - 500) / 2 + 1000))
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

frontend tls
    bind 127.0.0.1:$HAPROXY_TLS ssl crt $work/haproxy.pem alpn h2,http/1.1
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    default_backend backends

frontend tcp
    mode tcp
    bind 127.0.0.1:$HAPROXY_TCP
    default_backend tcp_backends

backend tcp_backends
    mode tcp
    balance roundrobin
    server b1 127.0.0.1:${BACKENDS[0]}
    server b2 127.0.0.1:${BACKENDS[1]}
    server b3 127.0.0.1:${BACKENDS[2]}

backend backends
    balance roundrobin
    server b1 127.0.0.1:${BACKENDS[0]}
    server b2 127.0.0.1:${BACKENDS[1]}
    server b3 127.0.0.1:${BACKENDS[2]}
CONF

port_of() { # proxy tls?
    case "$1${2:-}" in
        edge) echo $EDGE_PORT ;;
        edgetls) echo $EDGE_TLS ;;
        edgetcp) echo $EDGE_TCP ;;
        nginxtcp) echo $NGINX_TCP ;;
        haproxytcp) echo $HAPROXY_TCP ;;
        nginx) echo $NGINX_PORT ;;
        nginxtls) echo $NGINX_TLS ;;
        haproxy) echo $HAPROXY_PORT ;;
        haproxytls) echo $HAPROXY_TLS ;;
        hyper-min) echo $HYPER_MIN_PORT ;;
        raw-min) echo $RAW_MIN_PORT ;;
    esac
}

declare -A pid_of
EDGE_WORKERS=1 RUST_LOG=warn taskset -c 0 "$work/edge-proxy" >"$work/edge.out" 2>"$work/edge.err" &
pid_of[edge]=$!
taskset -c 0 nginx -p "$work" -e "$work/nginx.err" -c "$work/nginx.conf" &
pid_of[nginx]=$!
taskset -c 0 haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.out" 2>&1 &
pid_of[haproxy]=$!
pids+=("${pid_of[edge]}" "${pid_of[nginx]}" "${pid_of[haproxy]}")
for peer in "${PEERS[@]}"; do
    taskset -c 0 "$PEERS_DIR/$peer" "127.0.0.1:$(port_of "$peer")" "127.0.0.1:${BACKENDS[0]}" \
        "127.0.0.1:${BACKENDS[1]}" "127.0.0.1:${BACKENDS[2]}" >"$work/$peer.out" 2>&1 &
    pid_of[$peer]=$!
    pids+=("${pid_of[$peer]}")
    wait_port "$(port_of "$peer")"
done

for port in "${BACKENDS[@]}" $EDGE_PORT $EDGE_TLS $EDGE_TCP $NGINX_PORT $NGINX_TLS $NGINX_TCP \
    $HAPROXY_PORT $HAPROXY_TLS $HAPROXY_TCP; do
    wait_port "$port"
done

# Every proxy answers /1k and /64k in full, over plain HTTP, TLS and its Layer 4 listener,
# before measuring.
python3 - "$EDGE_PORT" "$NGINX_PORT" "$HAPROXY_PORT" "$EDGE_TCP" "$NGINX_TCP" "$HAPROXY_TCP" \
    "$EDGE_TLS" "$NGINX_TLS" "$HAPROXY_TLS" <<'PY'
import ssl, sys, urllib.request
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
ports = sys.argv[1:]
for i, port in enumerate(ports):
    scheme = "https" if i >= 6 else "http"
    for path, size in (("/1k", 1024), ("/64k", 65536)):
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}{path}", context=ctx, timeout=5) as r:
            body = r.read()
            assert r.status == 200 and len(body) == size, (port, path, r.status, len(body))
PY

# ---- measuring ----

# The process and its direct children (nginx's master and worker).
tree() {
    local pid=$1
    echo "$pid"
    local stat
    for stat in /proc/[0-9]*/stat; do
        local s
        read -r s <"$stat" 2>/dev/null || continue
        s=${s##*) }
        set -- $s
        [ "$2" = "$pid" ] && { stat=${stat#/proc/}; echo "${stat%/stat}"; }
    done
    return 0
}

# utime + stime + cutime + cstime (fields 14-17 of /proc/PID/stat), in clock ticks, summed
# over the process and its children.
cpu_ticks() {
    local total=0 p s
    for p in $(tree "$1"); do
        read -r s <"/proc/$p/stat" 2>/dev/null || continue
        s=${s##*) }
        set -- $s
        total=$((total + ${12} + ${13} + ${14} + ${15}))
    done
    echo "$total"
}

# VmRSS in KiB, summed over the process and its children.
rss_kib() {
    local total=0 p kib
    for p in $(tree "$1"); do
        kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

# wrk's latency (1.23ms, 456.78us, 1.02s) in ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

# Appends "scenario proxy req/s p50_ms p99_ms cpu_us_per_req errors" to $work/results.
record() {
    local scenario=$1 proxy=$2 rps=$3 p50=$4 p99=$5 requests=$6 t0=$7 t1=$8 errors=$9
    local cpu
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$ticks" -v n="$requests" 'BEGIN { printf "%.2f", (n > 0) ? d / hz * 1e6 / n : 0 }')
    echo "$scenario $proxy $rps $p50 $p99 $cpu $errors" >>"$work/results"
}

# scenario proxy url [wrk options]: warm-up, then one measured wrk run.
run_wrk() {
    local scenario=$1 proxy=$2 url=$3
    shift 3
    local pid=${pid_of[$proxy]} out="$work/$scenario-$proxy.wrk" t0 t1
    taskset -c 1 wrk -t1 -c64 -d"${warmup}s" "$@" "$url" >/dev/null
    t0=$(cpu_ticks "$pid")
    taskset -c 1 wrk -t1 -c64 -d"${duration}s" --latency "$@" "$url" >"$out"
    t1=$(cpu_ticks "$pid")
    local rps requests p50 p99 non2xx sockerr
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    requests=$(awk '/requests in/ {print $1}' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    sockerr=$(awk '/Socket errors/ { gsub(/,/, ""); print "connect:" $4 ",read:" $6 ",write:" $8 ",timeout:" $10 }' "$out")
    record "$scenario" "$proxy" "${rps:-0}" "$p50" "$p99" "${requests:-0}" "$t0" "$t1" \
        "non2xx:${non2xx:-0},${sockerr:-ok}"
}

# scenario proxy url: warm-up, then one measured h2load run; latency percentiles from its
# per-request log.
run_h2load() {
    local scenario=$1 proxy=$2 url=$3
    local pid=${pid_of[$proxy]} out="$work/$scenario-$proxy.h2load" log="$work/$scenario-$proxy.h2log" t0 t1
    taskset -c 1 h2load -t1 -c64 -m10 -D "$warmup" "$url" >/dev/null
    t0=$(cpu_ticks "$pid")
    taskset -c 1 h2load -t1 -c64 -m10 -D "$duration" --log-file="$log" "$url" >"$out"
    t1=$(cpu_ticks "$pid")
    local rps requests failed p50 p99
    rps=$(awk '/^finished in/ {printf "%.0f", $4}' "$out")
    requests=$(awk '/^requests:/ {print $8}' "$out")
    failed=$(awk '/^requests:/ {print "failed:" $10 ",errored:" $12 ",timeout:" $14}' "$out")
    read -r p50 p99 < <(cut -f3 "$log" | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "0 0"; exit }
        printf "%.3f %.3f\n", v[int((NR - 1) * 0.50) + 1] / 1000, v[int((NR - 1) * 0.99) + 1] / 1000 }')
    rm -f "$log"
    record "$scenario" "$proxy" "${rps:-0}" "$p50" "$p99" "${requests:-0}" "$t0" "$t1" "${failed:-}"
}

read -r -a SCENARIOS <<<"${SCENARIOS:-a_keepalive_1k b_new_conn_1k c_keepalive_64k d_tls_h1_1k e_tls_h2_1k g_tcp_new_conn_1k}"

# Whether PROXY takes part in SCENARIO: the reference peers speak plain HTTP/1.1 keep-alive
# only (they would keep a `Connection: close` connection open).
takes_part() { # scenario proxy
    case $2 in
        hyper-min | raw-min) [[ $1 == a_keepalive_1k || $1 == c_keepalive_64k ]] ;;
        *) true ;;
    esac
}

measure() { # scenario proxy
    local scenario=$1 proxy=$2 port
    case $scenario in
        a_keepalive_1k) run_wrk "$1" "$2" "http://127.0.0.1:$(port_of "$proxy")/1k" ;;
        b_new_conn_1k) run_wrk "$1" "$2" "http://127.0.0.1:$(port_of "$proxy")/1k" -H "Connection: close" ;;
        # Layer 4: each connection tunnelled to a backend, which closes it after its answer.
        g_tcp_new_conn_1k) run_wrk "$1" "$2" "http://127.0.0.1:$(port_of "$proxy" tcp)/1k" -H "Connection: close" ;;
        c_keepalive_64k) run_wrk "$1" "$2" "http://127.0.0.1:$(port_of "$proxy")/64k" ;;
        d_tls_h1_1k | e_tls_h2_1k)
            port=$(port_of "$proxy" tls)
            if [ "$scenario" = d_tls_h1_1k ]; then
                run_wrk "$1" "$2" "https://127.0.0.1:$port/1k"
            else
                run_h2load "$1" "$2" "https://127.0.0.1:$port/1k"
            fi
            ;;
    esac
}

: >"$work/results"
total=0
for scenario in "${SCENARIOS[@]}"; do
    for proxy in "${PROXIES[@]}"; do
        if takes_part "$scenario" "$proxy"; then total=$((total + ROUNDS)); fi
    done
done
done_runs=0
for round in $(seq "$ROUNDS"); do
    # Rotate which proxy goes first, so none always runs right after another's load.
    first=$(((round - 1) % ${#PROXIES[@]}))
    order=("${PROXIES[@]:$first}" "${PROXIES[@]:0:$first}")
    for scenario in "${SCENARIOS[@]}"; do
        for proxy in "${order[@]}"; do
            takes_part "$scenario" "$proxy" || continue
            done_runs=$((done_runs + 1))
            echo "round $round/$ROUNDS, run $done_runs/$total: $scenario $proxy" >&2
            measure "$scenario" "$proxy"
        done
    done
done

# ---- RSS with IDLE_CONNS idle keep-alive connections, once per proxy ----

: >"$work/rss"
[ "$IDLE_CONNS" -gt 0 ] && for proxy in "${PROXIES[@]}"; do
    pid=${pid_of[$proxy]}
    port=$(port_of "$proxy")
    echo "RSS: $IDLE_CONNS idle connections to $proxy" >&2
    before=$(rss_kib "$pid")
    taskset -c 1 python3 "$here/idle_conns.py" 127.0.0.1 "$port" "$IDLE_CONNS" 120 \
        >"$work/idle-$proxy.out" 2>"$work/idle-$proxy.err" &
    holder=$!
    pids+=("$holder")
    ready=""
    for _ in $(seq 1500); do # 150 s at most; the script gives up opening after 120 s
        ready=$(awk '/^ready/ {print $2, $3}' "$work/idle-$proxy.out")
        [ -n "$ready" ] && break
        kill -0 "$holder" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1
    after=$(rss_kib "$pid")
    # Connections established to the proxy's port right now (state 01 in /proc/net/tcp).
    open=$(awk -v p=":$(printf '%04X' "$port")" '$2 ~ p"$" && $4 == "01"' /proc/net/tcp | wc -l)
    kill -TERM "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    read -r ok failed <<<"${ready:-0 $IDLE_CONNS}"
    echo "$proxy $before $after $ok $failed $open" >>"$work/rss"
    sleep 1
done

# ---- the table ----

{
    echo "Edge load harness: ROUNDS=$ROUNDS DURATION=${duration}s WARMUP=${warmup}s, medians; $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo ' (dirty)'), $(uname -r), $(nginx -v 2>&1 | sed 's/.*: //'), $(haproxy -v | head -1 | awk '{print "HAProxy " $3}'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}'), $(h2load --version | head -1)"
    echo
    echo "| scenario | proxy | req/s | p50 ms | p99 ms | CPU µs/req | Edge/peer CPU per req |"
    echo "|---|---|---|---|---|---|---|"
    for scenario in "${SCENARIOS[@]}"; do
        for proxy in "${PROXIES[@]}"; do
            takes_part "$scenario" "$proxy" || continue
            awk -v s="$scenario" -v p="$proxy" '
                function median(list,   a, n, i, j, t) {
                    n = split(list, a, " ")
                    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
                    return n ? a[int((n + 1) / 2)] : 0
                }
                $1 == s { rps[$2] = rps[$2] " " $3; p50[$2] = p50[$2] " " $4; p99[$2] = p99[$2] " " $5; cpu[$2] = cpu[$2] " " $6 }
                END {
                    if (!(p in rps)) { printf "| %s | %s | no data | | | | |\n", s, p; exit }
                    mine = median(cpu[p]); edge = ("edge" in cpu) ? median(cpu["edge"]) : ""
                    ratio = (p == "edge") ? "" : (edge == "" || mine == 0) ? "n/a" : sprintf("%.2f×", edge / mine)
                    printf "| %s | %s | %.0f | %.2f | %.2f | %.1f | %s |\n", s, p, median(rps[p]), median(p50[p]), median(p99[p]), mine, ratio
                }' "$work/results"
        done
    done
    edge_rss=$(awk '$1 == "edge" {print $3}' "$work/rss")
    while read -r proxy before after ok failed open; do
        ratio=""
        if [ "$proxy" != edge ]; then
            ratio=$(awk -v e="$edge_rss" -v m="$after" 'BEGIN { if (m > 0) printf "%.2f× (RSS)", e / m; else printf "n/a" }')
        fi
        printf '| f_rss_%s_idle_conns | %s | RSS %.1f MiB (idle before: %.1f MiB) | | | | %s |\n' \
            "$IDLE_CONNS" "$proxy" "$(awk -v k="$after" 'BEGIN {print k / 1024}')" \
            "$(awk -v k="$before" 'BEGIN {print k / 1024}')" "$ratio"
    done <"$work/rss"
    echo
    echo "Ratios are Edge's CPU time per request (RSS in row f) divided by the peer's: below 1 means Edge uses less."
    # Anything that makes a row suspect: HTTP errors, socket errors, idle connections not held.
    awk '$7 !~ /^non2xx:0,ok$/ && $7 !~ /^failed:0,errored:0,timeout:0$/ {print "note: " $1 " " $2 " had " $7}' "$work/results"
    while read -r proxy before after ok failed open; do
        if [ "$ok" != "$IDLE_CONNS" ] || [ "$open" -lt "$IDLE_CONNS" ]; then
            echo "note: f $proxy: $ok of $IDLE_CONNS connections answered ($failed failed), $open established when measured"
        fi
    done <"$work/rss"
}
