#!/usr/bin/env bash
# Starts the npm stand-ins for users without Docker, on loopback, installed
# into .emulators/ (git-ignored), in memory (nothing is kept after Ctrl-C):
#   - Azurite: Blob (10000), Queue (10001) and Table (10002). The Functions host
#     needs all of its storage account: blobs for its locks and the drops, the
#     queue behind the event-based Blob triggers (and its poison queue).
#   - the local Cosmos DB server (patched, see tests/emulators/cosmos_server.js)
#     on 8081 (its change feed is the one the Python SDK reads; the host's
#     change-feed trigger is not run against it).
# There is no Event Hubs stand-in. Use local.settings.standins.json: it disables
# the two Event Hub triggers and the change-feed trigger, and leaves
# EVENTHUB_CONNECTION empty, so order events go to the local JSON-lines sink
# (OMS_DATA_DIR/outbox/order-events.jsonl). docs/local-functions.md has the steps.
#
#   infra/local/start-standins.sh     # prints the settings, waits; Ctrl-C stops all
#   BLOB_PORT=… QUEUE_PORT=… TABLE_PORT=… COSMOS_PORT=… infra/local/start-standins.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
BLOB_PORT="${BLOB_PORT:-10000}"
QUEUE_PORT="${QUEUE_PORT:-10001}"
TABLE_PORT="${TABLE_PORT:-10002}"
COSMOS_PORT="${COSMOS_PORT:-8081}"
command -v node >/dev/null && command -v npm >/dev/null || { echo "start-standins: node 20 and npm are needed" >&2; exit 2; }
"$PY" -c 'from tests.emulators.launcher import install; install()'
modules="$PWD/.emulators/node_modules"
azurite="$modules/azurite/dist/src"
common=(--skipApiVersionCheck --disableTelemetry --inMemoryPersistence --silent)

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait' EXIT
trap 'exit 130' INT TERM
# Each service is its own process (its PID is the server's, so Ctrl-C stops it).
node "$azurite/blob/main.js" --blobHost 127.0.0.1 --blobPort "$BLOB_PORT" "${common[@]}" & pids+=($!)
node "$azurite/queue/main.js" --queueHost 127.0.0.1 --queuePort "$QUEUE_PORT" "${common[@]}" & pids+=($!)
node "$azurite/table/main.js" --tableHost 127.0.0.1 --tablePort "$TABLE_PORT" "${common[@]}" & pids+=($!)
node tests/emulators/cosmos_server.js "$modules" 127.0.0.1 "$COSMOS_PORT" & pids+=($!)

# Wait until every port answers (bash's /dev/tcp: no other tool needed).
for port in "$BLOB_PORT" "$QUEUE_PORT" "$TABLE_PORT" "$COSMOS_PORT"; do
  for _ in $(seq 1 60); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.5
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "start-standins: nothing answers on port $port" >&2; exit 1; }
done

key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
if [ "$BLOB_PORT$QUEUE_PORT$TABLE_PORT" = "100001000110002" ]; then
  storage='UseDevelopmentStorage=true'
else
  storage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$BLOB_PORT/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$QUEUE_PORT/devstoreaccount1;TableEndpoint=http://127.0.0.1:$TABLE_PORT/devstoreaccount1;"
fi
cat <<SETTINGS
Stand-ins running (Ctrl-C stops them; their data lives in memory only).
  cp local.settings.standins.json local.settings.json
  .venv/bin/oms cosmos init        # database, containers, leases, indexing
  func start
Settings (local.settings.standins.json has them for the default ports):
  AzureWebJobsStorage=$storage
  OMS_STORE=cosmos
  COSMOS_CONNECTION=AccountEndpoint=https://localhost:${COSMOS_PORT}/;AccountKey=C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==;DisableServerCertificateValidation=True;
  COSMOS_DATABASE=oms
  EVENTHUB_CONNECTION=            (empty: order events go to .oms/outbox/order-events.jsonl)
There is no Event Hubs stand-in and the change-feed trigger needs the real emulator:
the settings disable engineering_events, warehouse_events and outbox_feed; the
outbox republish timer (OMS_OUTBOX_REPUBLISH_SCHEDULE) publishes to the sink.
A dropped blob needs its BlobCreated event: infra/local/post-blob-created.sh.
SETTINGS
wait
