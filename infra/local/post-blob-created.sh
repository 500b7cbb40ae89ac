#!/usr/bin/env bash
# Drops a file into Azurite and tells the local Functions host about it.
#
# The blob triggers (functions/master_data.py) use source=EventGrid: in Azure,
# Event Grid posts a Microsoft.Storage.BlobCreated event to the host's blob
# extension webhook. Azurite has no Event Grid, so locally nothing would fire.
# This script does both halves: it uploads the file to Azurite (Blob REST API,
# well-known development account) and posts the event, in the Event Grid schema,
# to http://localhost:7071/runtime/webhooks/blobs?functionName=Host.Functions.<function>
# with the header `aeg-event-type: Notification`, as Event Grid would.
# No handshake is needed: the SubscriptionValidation request is only Event Grid
# checking a new subscription. The host answers 202 and queues the blob on the
# host storage queue; the function then runs (watch the `func start` window).
#
#   infra/local/post-blob-created.sh [options] <container> <file> [<blob name>]
#
#   infra/local/post-blob-created.sh stock-snapshots samples/stock-snapshot.parquet
#   infra/local/post-blob-created.sh project-master .oms/drops/project-master.parquet
#
# Options:
#   --dry-run      print the event JSON on stdout; upload nothing, post nothing
#   --skip-upload  the blob is in Azurite already (Storage Explorer, az, azcopy):
#                  read its ETag and size from Azurite, then post the event
# Environment (defaults in brackets):
#   FUNCTIONS_URL     the host [http://localhost:7071]
#   AZURITE_BLOB_URL  Azurite's blob endpoint [http://127.0.0.1:10000/devstoreaccount1]
#   FUNCTION_NAME     the function to trigger [from the container, see below]
#   FUNCTIONS_KEY     the `blobs_extension` system key, sent as ?code= (not needed
#                     with `func start`; needed against a deployed app)
#
# Needs only bash and curl. The upload is authorised with an account SAS of the
# development account (its key is public and fixed); the SAS was computed from
# that key (account devstoreaccount1, services b, resource types co, permissions
# rwlac, start 2024-01-01T00:00:00Z, expiry 2099-12-31T00:00:00Z, protocols
# https,http, version 2021-08-06; tests/infra/test_local_functions.py recomputes
# it). An Azurite started with other accounts (AZURITE_ACCOUNTS) refuses it:
# upload with your own tool, then use --skip-upload.
set -euo pipefail

usage() {
  cat >&2 <<'USAGE'
usage: infra/local/post-blob-created.sh [--dry-run | --skip-upload] <container> <file> [<blob name>]
  container: project-master, item-catalog, stock-snapshots or reorder-policy
  --dry-run      print the event JSON; upload nothing, post nothing
  --skip-upload  the blob is in Azurite already: post its event only
  environment: FUNCTIONS_URL, AZURITE_BLOB_URL, FUNCTION_NAME, FUNCTIONS_KEY (see the script's header)
USAGE
  exit 2
}
fail() {
  echo "post-blob-created: $*" >&2
  exit 1
}

dry_run=false
skip_upload=false
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=true; shift ;;
    --skip-upload) skip_upload=true; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "post-blob-created: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] && [ $# -le 3 ] || usage
container=$1
file=$2
blob=${3:-$(basename -- "$file")}

# Container -> function (@bp.function_name in functions/master_data.py;
# tests/infra checks this table against the code).
case "$container" in
  project-master) default_function=project_master_blob ;;
  item-catalog) default_function=item_catalog_blob ;;
  stock-snapshots) default_function=stock_snapshots_blob ;;
  reorder-policy) default_function=reorder_policy_blob ;;
  *) default_function= ;;
esac
function_name=${FUNCTION_NAME:-$default_function}
[ -n "$function_name" ] || fail "no blob-triggered function reads container '$container' (project-master, item-catalog, stock-snapshots, reorder-policy); set FUNCTION_NAME to post anyway"

# Names used verbatim in a URL and in JSON: keep them to characters that need
# no escaping in either.
[[ "$blob" =~ ^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$ ]] \
  || fail "blob name '$blob' has characters other than letters, digits, '.', '_', '-' and '/'; pass a simpler name as the third argument"
[[ "$container" =~ ^[a-z0-9-]+$ ]] || fail "'$container' is not a container name"

functions_url=${FUNCTIONS_URL:-http://localhost:7071}
blob_base=${AZURITE_BLOB_URL:-http://127.0.0.1:10000/devstoreaccount1}
blob_base=${blob_base%/}
account=${blob_base##*/}
sas='st=2024-01-01T00%3A00%3A00Z&se=2099-12-31T00%3A00%3A00Z&sp=rwlac&spr=https%2Chttp&sv=2021-08-06&ss=b&srt=co&sig=MH/%2B%2BEMPK0boiDmEcBJ8unHxFJzmUJ5F5AcJmOTtyGU%3D'
api_version='2021-08-06'
blob_url="$blob_base/$container/$blob"

uuid() {
  # Random enough for an event id (bash's RANDOM; no uuidgen needed).
  printf '%04x%04x-%04x-4%03x-%04x-%04x%04x%04x' "$RANDOM" "$RANDOM" "$RANDOM" $((RANDOM & 0xfff)) \
    $(((RANDOM & 0x3fff) | 0x8000)) "$RANDOM" "$RANDOM" "$RANDOM"
}
header() {  # header <name> <file with a response's headers>: the last value of that header
  local value
  value=$(tr -d '\r' < "$2" | grep -i "^$1:" | tail -n 1 | cut -d: -f2- | sed 's/^ *//') || true
  printf '%s' "$value"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

etag='"0x0"'
request_id=$(uuid)
if $skip_upload; then
  $dry_run && fail "--dry-run and --skip-upload together: nothing to read or post"
  code=$(curl -sS -o /dev/null -D "$work/head" -w '%{http_code}' -I -H "x-ms-version: $api_version" \
         "$blob_url?$sas") || fail "Azurite does not answer at $blob_base: is it running (docker compose, or infra/local/start-standins.sh)?"
  [ "$code" = 200 ] || fail "HEAD $blob_url answered $code: is the blob in Azurite?"
  etag=$(header etag "$work/head")
  length=$(header content-length "$work/head")
else
  [ -f "$file" ] || fail "no file $file"
  length=$(wc -c < "$file" | tr -d ' ')
  if ! $dry_run; then
    # The container may exist (409): either way it is there afterwards.
    code=$(curl -sS -o "$work/body" -w '%{http_code}' -X PUT -H "x-ms-version: $api_version" -H 'Content-Length: 0' \
           "$blob_base/$container?restype=container&$sas") \
      || fail "Azurite does not answer at $blob_base: is it running (docker compose, or infra/local/start-standins.sh)?"
    case "$code" in 201|409) ;; *) fail "creating container $container answered $code: $(cat "$work/body")" ;; esac
    code=$(curl -sS -o "$work/body" -D "$work/put" -w '%{http_code}' -X PUT \
           -H "x-ms-version: $api_version" -H 'x-ms-blob-type: BlockBlob' -H 'Content-Type: application/octet-stream' \
           --data-binary "@$file" "$blob_url?$sas") || fail "uploading to $blob_url failed"
    [ "$code" = 201 ] || fail "uploading to $blob_url answered $code: $(cat "$work/body")"
    etag=$(header etag "$work/put")
    request_id=$(header x-ms-request-id "$work/put")
    echo "post-blob-created: uploaded $file to $blob_url ($length bytes, ETag $etag)" >&2
  fi
fi
# Event Grid sends the ETag with its quotes (\"0x…\" in the JSON); keep only a well-formed one.
[[ "$etag" =~ ^\"?[A-Za-z0-9_-]+\"?$ ]] || etag='"0x0"'
etag_json="\\\"${etag//\"/}\\\""
[[ "$length" =~ ^[0-9]+$ ]] || length=0
[[ "$request_id" =~ ^[A-Za-z0-9-]+$ ]] || request_id=$(uuid)

event_time=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sequencer=$(printf '%032d' "$(date -u +%s)")
# The Event Grid schema of Microsoft.Storage.BlobCreated, one event per delivery
# as the subscriptions in infra/hooks/blob-subscriptions.bicep send it. The
# host's blob extension reads data.url (container and blob name), data.blobType
# and data.eTag; the rest is there as Event Grid sends it.
event=$(cat <<JSON
[
  {
    "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/$account",
    "subject": "/blobServices/default/containers/$container/blobs/$blob",
    "eventType": "Microsoft.Storage.BlobCreated",
    "id": "$(uuid)",
    "eventTime": "$event_time",
    "data": {
      "api": "PutBlob",
      "clientRequestId": "$(uuid)",
      "requestId": "$request_id",
      "eTag": "$etag_json",
      "contentType": "application/octet-stream",
      "contentLength": $length,
      "blobType": "BlockBlob",
      "url": "$blob_url",
      "sequencer": "$sequencer",
      "storageDiagnostics": { "batchId": "$(uuid)" }
    },
    "dataVersion": "",
    "metadataVersion": "1"
  }
]
JSON
)

webhook="$functions_url/runtime/webhooks/blobs?functionName=Host.Functions.$function_name"
if $dry_run; then
  echo "post-blob-created: dry run; would POST to $webhook (aeg-event-type: Notification):" >&2
  printf '%s\n' "$event"
  exit 0
fi

[ -n "${FUNCTIONS_KEY:-}" ] && webhook="$webhook&code=$FUNCTIONS_KEY"
code=$(printf '%s' "$event" | curl -sS -o "$work/answer" -w '%{http_code}' --max-time 60 -X POST \
       -H 'Content-Type: application/json' -H 'aeg-event-type: Notification' --data-binary @- "$webhook") \
  || fail "the Functions host does not answer at $functions_url: is 'func start' running?"
case "$code" in
  200|202)
    echo "post-blob-created: BlobCreated for $container/$blob posted to $function_name (HTTP $code); the host queues it and runs the function: watch the 'func start' output" >&2 ;;
  404)
    fail "HTTP 404 from $webhook: the host has no blob extension webhook (is it the OMS app, started with 'func start' in the repository root?)" ;;
  401|403)
    fail "HTTP $code: the host wants a key; set FUNCTIONS_KEY to its blobs_extension system key" ;;
  *)
    fail "HTTP $code from $webhook: $(cat "$work/answer")" ;;
esac
