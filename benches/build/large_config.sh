#!/usr/bin/env bash
# Writes, on stdout, the 1,000-route config the build figures are taken on: the shape of the
# compiler bench's (benches/benches/compiler.rs), routes over hosts, prefixes, exact paths and
# methods, ten pools.
set -euo pipefail
printf 'listener api {\n    bind 127.0.0.1:8080\n}\n\n'
for pool in $(seq 0 9); do
    printf 'pool service_%d {\n    server 10.0.%d.1:8080\n    server 10.0.%d.2:8080\n}\n\n' "$pool" "$pool" "$pool"
done
for route in $(seq 0 999); do
    printf 'route r%d {\n    on api\n' "$route"
    case $((route % 4)) in
        0) printf '    host "svc%d.example.com"\n' "$route" ;;
        1) printf '    path /api/v%d/resource%d\n' $((route % 3)) "$route" ;;
        2) printf '    path = /exact/%d\n    methods GET HEAD\n' "$route" ;;
        *) printf '    path /items%d\n    methods POST\n' "$route" ;;
    esac
    printf '    forward service_%d\n}\n\n' $((route % 10))
done
