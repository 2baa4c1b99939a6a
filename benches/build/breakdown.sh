#!/usr/bin/env bash
# Where the seconds of a rebuild go after a one-route edit, part by part: edgec's check,
# cargo's own work and the build script (code generation), rustc's front end on the generated
# crate, monomorphisation and LLVM IR of the runtime's generics instantiated there, LLVM's
# optimisation (LTO included) and the link. Prints one markdown table per config on stdout
# (progress on stderr); docs/benchmarks.md keeps the latest.
#
#   benches/build/breakdown.sh                     # api_gateway.edge and 1,000 routes
#   PROFILES="release fast" CONFIGS=large benches/build/breakdown.sh
#
# Each profile is the generated crate's own or a set of cargo overrides of it: `release` (fat
# LTO, one codegen unit), `thin` thin LTO, `fast` no LTO and 16 codegen units,
# `thin-incremental` and `off-incremental` thin or no LTO with incremental compilation, `dev`
# the development profile of `edgec build --dev` (dependencies optimised, the crate
# unoptimised and incremental), `dev-opt1` that profile at opt-level 1. PROFILES defaults to
# "release thin fast dev".
# CONFIGS ("gateway large") picks the configs. LINKERS (default: "default", then "mold" if installed)
# runs each profile with each linker. The split of rustc's time comes from its `-Z
# time-passes` (enabled on a stable toolchain through RUSTC_BOOTSTRAP=1, for this measurement
# only). Every wait is bounded by cargo itself; nothing is served.
set -euo pipefail
cd "$(dirname "$0")/../.."
PROFILES="${PROFILES:-release thin fast dev}"
ROUNDS="${ROUNDS:-3}"
export EDGE_CACHE_DIR="${EDGE_CACHE_DIR:-$PWD/target/edge-build-figures}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log() { echo "breakdown: $*" >&2; }

linkers="${LINKERS:-default$(command -v mold >/dev/null && echo " mold")}"

log "building edgec (release)"
cargo build --release --bin edgec >&2
edgec="$PWD/target/release/edgec"

large="$work/large.edge"
benches/build/large_config.sh >"$large"
gateway="$work/api_gateway.edge"
cp examples/api_gateway.edge "$gateway"
cp -r examples/api_gateway "$work/api_gateway"

# The crate `edgec build` stamps for CONFIG: the newest folder of its name in the cache.
crate_of() {
    local name
    name=$(basename "$1" .edge | tr '_' '-')
    ls -dt "$EDGE_CACHE_DIR"/crates/"$name"-* | head -1
}

# Cargo's settings for a profile name: `--release` or not, and `--config` overrides.
profile_args() {
    case $1 in
        release) echo "--release" ;;
        thin) echo "--release --config 'profile.release.lto=\"thin\"' --config profile.release.codegen-units=16" ;;
        fast) echo "--release --config 'profile.release.lto=\"off\"' --config profile.release.codegen-units=16" ;;
        thin-incremental) echo "--release --config 'profile.release.lto=\"thin\"' --config profile.release.incremental=true" ;;
        off-incremental) echo "--release --config 'profile.release.lto=\"off\"' --config profile.release.incremental=true" ;;
        dev) echo "" ;;
        dev-opt1) echo "--config profile.dev.opt-level=1" ;;
        *) log "unknown profile $1"; exit 2 ;;
    esac
}

# Edits one route of CONFIG, as a person would: the answer's text of the first route that
# answers by itself, else the first exact path.
edit() {
    python3 - "$1" "$2" <<'EOF'
import re, sys
path, round_ = sys.argv[1], sys.argv[2]
text = open(path).read()
edited, count = re.subn(r'respond 200 "([a-z ]*?)[0-9]*\\n"', rf'respond 200 "\g<1>{round_}\\n"', text, count=1)
if count != 1:
    edited, count = re.subn(r'path = /exact/([0-9]+)(-[0-9]+)?\n', rf'path = /exact/\g<1>-{round_}\n', text, count=1)
if count != 1:
    sys.exit(f"no route to edit in {path}")
open(path, "w").write(edited)
EOF
}

# One build of CRATE's binary with PROFILE and LINKER, rustc's passes timed for the generated
# crate alone; prints "wall total front mono llvm lto link" in seconds.
timed_build() {
    local crate=$1 profile=$2 linker=$3 args=() flags=()
    eval "args=($(profile_args "$profile"))"
    [ "$linker" = mold ] && flags+=(-C link-arg=-fuse-ld=mold)
    local start end
    start=$(date +%s.%N)
    RUSTC_BOOTSTRAP=1 cargo rustc -q "${args[@]}" \
        --manifest-path "$crate/Cargo.toml" --target-dir "$EDGE_CACHE_DIR/target" \
        -- -Z time-passes "${flags[@]}" 2>"$work/passes" || { cat "$work/passes" >&2; exit 1; }
    end=$(date +%s.%N)
    python3 - "$work/passes" "$start" "$end" <<'EOF'
import re, sys
passes, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
seen = {}
for line in open(passes):
    m = re.match(r"time:\s+([0-9.]+);.*\s(\S+)$", line.rstrip())
    if m:
        seen[m.group(2)] = seen.get(m.group(2), 0.0) + float(m.group(1))
# codegen_crate holds the monomorphisation collector and the LLVM IR written; the LLVM
# passes and LTO run inside finish_ongoing_codegen.
total = seen.get("total", 0.0)
link = seen.get("link", 0.0)
mono = seen.get("codegen_crate", 0.0)
llvm = seen.get("finish_ongoing_codegen", 0.0)
lto = sum(t for name, t in seen.items() if "lto" in name.lower())
front = max(total - link - llvm - mono, 0.0)
print(f"{end - start:.2f} {total:.2f} {front:.2f} {mono:.2f} {llvm:.2f} {lto:.2f} {link:.2f}")
EOF
}

echo "commit $(git rev-parse --short HEAD), $(rustc --version), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for which in ${CONFIGS:-gateway large}; do
    case $which in
        gateway) config=$gateway ;;
        large) config=$large ;;
        *) log "unknown config $which"; exit 2 ;;
    esac
    log "edgec build $config (stamps the crate, warms the dependencies)"
    stamp=()
    [ "$PROFILES" = dev ] && stamp=(--dev)
    # With the measured builds' RUSTC_BOOTSTRAP: cargo rebuilds every dependency when it
    # changes.
    RUSTC_BOOTSTRAP=1 "$edgec" build "${stamp[@]}" "$config" -o "$work/proxy" >&2
    crate=$(crate_of "$config")
    start=$(date +%s.%N)
    "$edgec" check "$config" >/dev/null
    check=$(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')")
    echo
    echo "### $(basename "$config"), one route edited (median of $ROUNDS; s)"
    echo
    echo "| profile | linker | whole rebuild | cargo + build script | rustc front end | monomorphisation + LLVM IR | LLVM optimisation | of which LTO | link |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for profile in $PROFILES; do
        for linker in $linkers; do
            log "$profile, $linker: a first build (dependencies for this profile)"
            timed_build "$crate" "$profile" "$linker" >/dev/null
            rows=()
            for round in $(seq 1 "$ROUNDS"); do
                edit "$config" "$round$RANDOM"
                # What edgec does when the config's content changed, for cargo to rerun the
                # crate's build script (it watches this file, not the config).
                echo "$round$RANDOM" >"$crate/edge.digest"
                rows+=("$(timed_build "$crate" "$profile" "$linker")")
                log "$profile, $linker, round $round: ${rows[-1]}"
            done
            printf '%s\n' "${rows[@]}" | python3 -c "
import sys, statistics
rows = [list(map(float, line.split())) for line in sys.stdin if line.strip()]
wall, total, front, mono, llvm, lto, link = (statistics.median(c) for c in zip(*rows))
print(f'| $profile | $linker | {wall:.1f} | {wall - total:.1f} | {front:.1f} | {mono:.1f} | {llvm:.1f} | {lto:.1f} | {link:.1f} |')
"
        done
    done
    echo
    echo "\`edgec check\` before it: $check s."
done
