#!/usr/bin/env bash
# Mints an HS256 token signed with the example's demo key (api_gateway/jwks.json), for trying
# the gateway by hand: `TOKEN=$(examples/api_gateway/mint-token.sh alice)`. Needs openssl.
# Optional: EXPIRES_IN seconds (default 3600), AUDIENCE (default photo-api).
set -euo pipefail
sub=${1:-alice}
now=$(date +%s)
exp=$((now + ${EXPIRES_IN:-3600}))
audience=${AUDIENCE:-photo-api}
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT","kid":"demo-2026"}' | b64url)
claims=$(printf '{"sub":"%s","iss":"https://auth.example.com","aud":"%s","iat":%d,"exp":%d}' \
    "$sub" "$audience" "$now" "$exp" | b64url)
secret=demo-secret-for-the-edge-api-gateway-example
signature=$(printf '%s.%s' "$header" "$claims" \
    | openssl dgst -sha256 -mac HMAC -macopt "key:$secret" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$claims" "$signature"
