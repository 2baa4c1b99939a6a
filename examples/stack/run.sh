#!/usr/bin/env bash
# Builds and starts the whole stack on loopback: the pods (pods.edge), two instances of the API
# gateway (gateway.edge) and the Layer 4 balancer in front (l4.edge). Requests to
# http://127.0.0.1:9400 then cross all three layers. Ctrl-C stops everything.
#
#   examples/stack/run.sh            # build, start, and keep running
#   examples/stack/run.sh --check    # build, start, send one request per service, stop
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin="${EDGE_STACK_DIR:-$root/target/stack}"
mkdir -p "$bin"

cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin edgec
edgec="$root/target/release/edgec"
for layer in pods gateway l4; do
    echo "building $layer"
    "$edgec" build "$here/$layer.edge" -o "$bin/$layer"
done

pids=()
stop() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT

# Starts a layer and waits for its start-up lines on stdout.
start() {
    local name=$1 lines=$2
    shift 2
    local log="$bin/$name.log"
    env "$@" "$bin/${name%%-*}" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        [ "$(grep -c '^listening ' "$log" || true)" -ge "$lines" ] && return 0
        sleep 0.1
    done
    echo "stack: $name did not start"; cat "$log"; exit 1
}

start pods 6
start gateway-a 1
start gateway-b 1 EDGE_BIND_API=127.0.0.1:9412
start l4 1
echo "stack up: try curl http://127.0.0.1:9400/users/42"

if [ "${1:-}" = "--check" ]; then
    for path in users/1 orders/2 payments/3; do
        curl -fsS "http://127.0.0.1:9400/$path"
    done
    exit 0
fi
wait
