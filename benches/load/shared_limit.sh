#!/usr/bin/env bash
# A rate limit kept in Redis against the same limit kept in the proxy: what it costs per
# request, and how exact it is across proxies.
#
#   benches/load/shared_limit.sh
#
# 1. Cost. bench.edge (scenario a of run.sh: 1 KiB over HTTP/1.1 keep-alive, round robin over
#    three nginx backends) with a rate limit on its route that no request reaches (1,000,000/s,
#    a burst of 1,000,000: a round trip takes 32 requests of the hot key), kept in the proxy
#    and kept in a redis-server on 127.0.0.1:18360. callgrind.sh counts each one's
#    instructions and system calls per request in the same run.
# 2. Accuracy. A limit of LIMIT_RATE/s with a burst of as many, kept in the same Redis, on 2
#    and then 4 proxies answering by themselves; one client (h2load, keep-alive) sends
#    ACCURACY_REQUESTS requests to each proxy at once. Passed requests against the limit's
#    allowance over the time they took (burst + rate x seconds).
#
# Environment: REQUESTS, CONNS, WARMUP_REQUESTS, STRACE_REQUESTS (as callgrind.sh),
# LIMIT_RATE (1000), ACCURACY_REQUESTS (5000 per proxy), EDGE_CACHE_DIR (target/edge-load),
# KEEP_WORK=1 keeps callgrind.sh's temp dir (its callgrind files).
# Loopback only; every load is bounded in requests; everything started here is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LIMIT_RATE=${LIMIT_RATE:-1000}
ACCURACY_REQUESTS=${ACCURACY_REQUESTS:-5000}
REDIS_PORT=18360
export EDGE_CACHE_DIR=${EDGE_CACHE_DIR:-$repo/target/edge-load}
for tool in redis-server redis-cli h2load; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

work=$(mktemp -d /tmp/edge-shared-limit.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done

# A deadline far above a loopback round trip: under valgrind the proxy runs some 50 times
# slower, and a call that missed the default 5 ms would measure the fallback instead.
store="store shared = redis {
    url \"redis://127.0.0.1:$REDIS_PORT/0\"
    timeout 1s
}"
unreached="rate 1000000/s
    burst 1000000"
# bench.edge with `use limit` on its route, and the policy.
with_limit() {
    sed 's/^    forward backends$/    use limit\n    forward backends/' "$here/bench.edge"
    printf '%s\n' "$1"
}
with_limit "policy limit = rate_limit {
    $unreached
}" >"$work/local.edge"
with_limit "$store
policy limit = rate_limit {
    $unreached
    store shared
}" >"$work/stored.edge"
cat >"$work/limited.edge" <<EDGE
listener web {
    bind 127.0.0.1:18370
}

$store

policy limit = rate_limit {
    rate $LIMIT_RATE/s
    burst $LIMIT_RATE
    store shared
}

route all {
    on web
    use limit
    respond 200 "ok\n"
}
EDGE

echo "building edgec and three proxies (EDGE_CACHE_DIR=$EDGE_CACHE_DIR)" >&2
(cd "$repo" && cargo build --release --bin edgec >&2)
for name in local stored limited; do
    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        "$repo/target/release/edgec" build "$work/$name.edge" -o "$work/$name" >&2
done

echo "## Cost per request: a limit kept in Redis against one kept in the proxy"
echo
echo "(\`local\`: kept in the proxy; \`stored\`: kept in Redis, batches of 32)"
echo
KEEP_WORK=${KEEP_WORK:-0} PROXIES="$work/local $work/stored" "$here/callgrind.sh" "$work/local" \
    | sed "s|$work/||g"
echo
calls=$(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' \
    | awk -F'[=,]' '/cmdstat_(evalsha|eval):/ { s += $2 } END { print s + 0 }')
sent=$((${WARMUP_REQUESTS:-2000} + ${REQUESTS:-20000} + ${STRACE_REQUESTS:-5000}))
echo "The stored limit made $calls script calls for its $sent requests; Redis's own CPU: \
$(redis-cli -p "$REDIS_PORT" info cpu | tr -d '\r' \
    | awk -F: '/used_cpu_(user|sys):/ { s += $2 } END { printf "%.2f s", s }')."
echo
echo "## Accuracy across proxies: $LIMIT_RATE/s, a burst of $LIMIT_RATE, one client"
echo
echo "| proxies | requests | took | passed | allowed (burst + rate x time) | error |"
echo "|---:|---:|---:|---:|---:|---:|"
for count in 2 4; do
    redis-cli -p "$REDIS_PORT" flushall >/dev/null
    proxy_pids=()
    for i in $(seq "$count"); do
        port=$((18370 + i))
        EDGE_WORKERS=1 RUST_LOG=warn EDGE_BIND_WEB="127.0.0.1:$port" "$work/limited" \
            >"$work/limited-$i.out" 2>&1 &
        proxy_pids+=($!)
        pids+=($!)
    done
    for i in $(seq "$count"); do
        port=$((18370 + i))
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.1
        done
    done
    started=$(date +%s.%N)
    loads=()
    for i in $(seq "$count"); do
        h2load --h1 -n "$ACCURACY_REQUESTS" -c 4 -t 1 "http://127.0.0.1:$((18370 + i))/" \
            >"$work/h2load-$count-$i.txt" 2>&1 &
        loads+=($!)
    done
    for load in "${loads[@]}"; do wait "$load"; done
    ended=$(date +%s.%N)
    passed=$(cat "$work"/h2load-"$count"-*.txt \
        | awk '/status codes:/ { sum += $3 } END { print sum + 0 }')
    awk -v n="$count" -v r="$((count * ACCURACY_REQUESTS))" -v p="$passed" \
        -v s="$started" -v e="$ended" -v rate="$LIMIT_RATE" 'BEGIN {
            took = e - s; allowed = rate + rate * took
            printf "| %d | %d | %.2f s | %d | %.0f | %+.1f %% |\n", n, r, took, p, allowed,
                100 * (p - allowed) / allowed
        }'
    for pid in "${proxy_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${proxy_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
done
