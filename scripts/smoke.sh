#!/usr/bin/env bash
# Smoke test a running deployment from outside, through the same door users take:
#   scripts/smoke.sh https://staging.cryptodash.example.com
# Checks that the API answers through the gateway (our error shape and X-Request-ID), that no
# listed route answers 5xx, that the web app is served (SMOKE_FRONTEND=1) and, for https URLs,
# that plain http is redirected. Exits non-zero with the reason on the first failure.
set -euo pipefail

base="${1:?usage: smoke.sh <base-url>}"
base="${base%/}"
paths="${SMOKE_PATHS:-/api/market/coins /api/sentiment/bitcoin /api/analytics/bitcoin/indicators}"
curl_opts=(--silent --show-error --max-time 10 --retry 5 --retry-delay 2 --retry-all-errors)

fail() { echo "smoke: FAIL $*" >&2; exit 1; }

# The gateway answers: its OpenAPI document, with a request id on the response.
headers="$(mktemp)"
trap 'rm -f "$headers"' EXIT
status="$(curl "${curl_opts[@]}" -o /dev/null -D "$headers" -w '%{http_code}' "$base/api/openapi.json")"
[ "$status" = 200 ] || fail "GET /api/openapi.json answered $status"
grep -qi '^x-request-id:' "$headers" || fail "GET /api/openapi.json has no X-Request-ID header"
echo "smoke: ok /api/openapi.json"

# An unknown API path gets our error body, not a proxy's page.
body="$(curl "${curl_opts[@]}" "$base/api/smoke-test-no-such-route")"
case "$body" in
  *'"error"'*'"request_id"'*) echo "smoke: ok error shape" ;;
  *) fail "unknown API path did not answer our error body: ${body:0:200}" ;;
esac

for path in $paths; do
  status="$(curl "${curl_opts[@]}" -o /dev/null -w '%{http_code}' "$base$path")"
  [ "$status" -lt 500 ] || fail "GET $path answered $status"
  echo "smoke: ok $path ($status)"
done

if [ "${SMOKE_FRONTEND:-0}" = 1 ]; then
  status="$(curl "${curl_opts[@]}" -o /dev/null -w '%{http_code}' "$base/")"
  [ "$status" = 200 ] || fail "GET / (web app) answered $status"
  echo "smoke: ok / (web app)"
fi

case "$base" in
  https://*)
    plain="http://${base#https://}"
    status="$(curl "${curl_opts[@]}" -o /dev/null -w '%{http_code}' "$plain/")"
    case "$status" in
      301 | 302 | 307 | 308) echo "smoke: ok http redirects to https ($status)" ;;
      *) fail "plain http answered $status instead of redirecting to https" ;;
    esac
    ;;
esac
echo "smoke: passed $base"
