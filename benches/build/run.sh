#!/usr/bin/env bash
# Build-side figures: how long `edgec check` takes on a 1,000-route config, how long a rebuilt
# proxy takes after one route is edited (incremental), how large the binary is, and how soon a
# started proxy answers its first request. Prints one markdown table on stdout (progress on
# stderr); docs/benchmarks.md keeps the latest.
#
#   benches/build/run.sh                 # ROUNDS=5
#   ROUNDS=3 benches/build/run.sh
#
# Needs a Rust toolchain; hyperfine and curl are installed from Debian's packages if missing.
# Every wait is bounded: a proxy that does not answer within 10 s is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-5}"
export EDGE_CACHE_DIR="${EDGE_CACHE_DIR:-$PWD/target/edge-build-figures}"
work="$(mktemp -d)"
trap 'kill "${proxy_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
log() { echo "build-figures: $*" >&2; }

need=()
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
command -v curl >/dev/null 2>&1 || need+=(curl)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update -q >&2 && apt-get install -y -q "${need[@]}" >&2
fi

log "building edgec (release)"
cargo build --release --bin edgec >&2
edgec="$PWD/target/release/edgec"

large="$work/large.edge"
benches/build/large_config.sh >"$large"

log "edgec check on 1,000 routes"
hyperfine --warmup 2 --runs $((ROUNDS * 4)) --export-json "$work/check.json" \
    "$edgec check $large" >&2
check_ms=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f\"{r['median']*1000:.1f}\")" "$work/check.json")

# A copy of the gateway example to edit: a build of the original first, so the shared target
# directory is warm (the first build of a cache compiles every dependency once).
config="$work/gateway.edge"
cp examples/gateway.edge "$config"
cp -r examples/certs "$work/certs" 2>/dev/null || true
log "first build of $config (dependencies, not measured)"
"$edgec" build "$config" -o "$work/proxy" >&2

# Each round edits one route (the answer of `health`) and rebuilds; the time is the whole
# `edgec build`: check, code generation, and cargo rebuilding the generated crate.
rebuilds=()
for round in $(seq 1 "$ROUNDS"); do
    sed -i "s|^    respond 200 \"ok[0-9]*\\\\n\"$|    respond 200 \"ok$round\\\\n\"|" "$config"
    grep -q "respond 200 \"ok$round" "$config" || { log "the edit did not apply"; exit 1; }
    start=$(date +%s.%N)
    "$edgec" build "$config" -o "$work/proxy" >&2
    end=$(date +%s.%N)
    rebuilds+=("$(python3 -c "print(f'{$end - $start:.1f}')")")
    log "rebuild $round: ${rebuilds[-1]} s"
done
rebuild_s=$(printf '%s\n' "${rebuilds[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")

size=$(stat -c %s "$work/proxy")
cp "$work/proxy" "$work/proxy.stripped"
strip "$work/proxy.stripped"
stripped=$(stat -c %s "$work/proxy.stripped")

# Start-up: from exec to the first answered request, polling every millisecond (bounded).
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
starts=()
for round in $(seq 1 "$ROUNDS"); do
    ms=$(python3 - "$work/proxy" "$port" <<'EOF'
import http.client, os, subprocess, sys, time
binary, port = sys.argv[1], int(sys.argv[2])
env = dict(os.environ, EDGE_BIND_API=f"127.0.0.1:{port}", RUST_LOG="warn")
start = time.monotonic()
proxy = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while time.monotonic() - start < 10:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz", headers={"Host": "localhost"})
            conn.getresponse().read()
            print(f"{(time.monotonic() - start) * 1000:.1f}")
            break
        except OSError:
            time.sleep(0.001)
    else:
        sys.exit("the proxy did not answer within 10 s")
finally:
    proxy.terminate()
    proxy.wait(timeout=10)
EOF
)
    starts+=("$ms")
    log "start-up $round: $ms ms"
done
start_ms=$(printf '%s\n' "${starts[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")

echo "commit $(git rev-parse --short HEAD), $(rustc --version), $(hyperfine --version), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| figure | median | runs |"
echo "|---|---|---|"
echo "| \`edgec check\`, 1,000 routes | $check_ms ms | $((ROUNDS * 4)) |"
echo "| rebuild after editing one route (\`edgec build\`, release) | $rebuild_s s | ${rebuilds[*]} |"
echo "| binary size (examples/gateway.edge) | $((size / 1024)) KiB ($((stripped / 1024)) KiB stripped) | |"
echo "| start-up to first answered request | $start_ms ms | ${starts[*]} |"
