#!/usr/bin/env bash
# Sends a sample CRM webhook to the bridge, signed the way config/mappings.example.yaml expects
# (source "crm": HMAC-SHA256 of the raw body, hex, in X-Signature with a "sha256=" prefix).
#
#   docker/sample-webhook.sh                 # docker/sample-webhook.json, event id demo-0001
#   EVENT_ID=demo-0002 docker/sample-webhook.sh
#   docker/sample-webhook.sh my-event.json
#
# BRIDGE_URL (default http://127.0.0.1:8080) and CRM_WEBHOOK_SECRET (default dev-only-secret, the
# compose default) must match the bridge. The same event id twice is a duplicate: accepted, not
# launched again.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
body_file="${1:-$here/sample-webhook.json}"
url="${BRIDGE_URL:-http://127.0.0.1:8080}/webhooks/crm"
secret="${CRM_WEBHOOK_SECRET:-dev-only-secret}"

body="$(cat "$body_file")"
if [ -n "${EVENT_ID:-}" ]; then
  body="$(printf '%s' "$body" | sed -E "s/\"id\":\"[^\"]*\"/\"id\":\"${EVENT_ID}\"/")"
fi

# The signature covers the exact bytes sent: sign and send the same string, without a newline.
signature="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)"

printf '%s' "$body" | curl --silent --show-error --fail-with-body \
  --request POST "$url" \
  --header 'content-type: application/json' \
  --header "x-signature: $signature" \
  --data-binary @- \
  --write-out '\nHTTP %{http_code}\n'
