#!/usr/bin/env bash
# Starts the npm stand-ins for users without Docker: Azurite (blob) and the
# local Cosmos DB server (patched, see tests/emulators/cosmos_server.js), on
# loopback, installed into .emulators/. Prints the settings to use and waits;
# Ctrl-C stops both. There is no Event Hubs stand-in: leave EVENTHUB_CONNECTION
# empty and the OMS publishes order events to the local JSON-lines sink.
#
#   infra/local/start-standins.sh            # Azurite on 10000, Cosmos on 8081
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
BLOB_PORT="${BLOB_PORT:-10000}"
COSMOS_PORT="${COSMOS_PORT:-8081}"
command -v node >/dev/null && command -v npm >/dev/null || { echo "start-standins: node 20 and npm are needed" >&2; exit 2; }
"$PY" -c 'from tests.emulators.launcher import install; install()'
modules="$PWD/.emulators/node_modules"
node "$modules/azurite/dist/src/blob/main.js" --blobHost 127.0.0.1 --blobPort "$BLOB_PORT" \
  --skipApiVersionCheck --disableTelemetry --inMemoryPersistence --silent &
azurite=$!
node tests/emulators/cosmos_server.js "$modules" 127.0.0.1 "$COSMOS_PORT" &
cosmos=$!
trap 'kill "$azurite" "$cosmos" 2>/dev/null || true; wait' EXIT INT TERM
cat <<SETTINGS
Stand-ins running (Ctrl-C stops them). Settings:
  AzureWebJobsStorage=UseDevelopmentStorage=true
  OMS_STORE=cosmos
  COSMOS_CONNECTION=AccountEndpoint=https://localhost:${COSMOS_PORT}/;AccountKey=C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==;
  COSMOS_DATABASE=oms
The local Cosmos server has no change feed: publish the outbox with the embedded
dispatcher, or use the official emulator (docker-compose.yml) for the trigger.
SETTINGS
wait
