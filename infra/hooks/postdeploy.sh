#!/bin/sh
# azd postdeploy hook (azure.yaml): subscribes the event-based Blob triggers
# (functions/master_data.py) to the storage account's Event Grid system topic.
# It runs after the code is deployed because the webhook URL needs the app's
# `blobs_extension` system key, which the Functions host creates only when it
# starts with those triggers. The subscriptions are a Bicep deployment
# (blob-subscriptions.bicep) so the key stays inside ARM and re-running is safe.
# Needs the Azure CLI signed in to the same tenant as azd (`az login`).
# POSIX sh: azd runs posix hooks with `sh`, which is dash on Debian/Ubuntu.
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
attempts=${BLOBS_KEY_ATTEMPTS:-20}
pause=${BLOBS_KEY_PAUSE_SECONDS:-15}

fail() {
  echo "postdeploy: $*" >&2
  exit 1
}

command -v az >/dev/null 2>&1 || fail "the Azure CLI (az) is needed to create the Event Grid subscriptions; install it, run 'az login', then 'azd deploy'"

# azd passes its environment's values (main.bicep outputs) to hooks.
require() {
  eval "value=\${$1:-}"
  [ -n "$value" ] || fail "$1 is not set: run this through azd ('azd up' or 'azd deploy') after 'azd provision'"
}
for name in AZURE_RESOURCE_GROUP AZURE_FUNCTION_NAME AZURE_FUNCTION_URI AZURE_STORAGE_ACCOUNT_NAME \
            EVENTGRID_SYSTEM_TOPIC_NAME EVENTGRID_DEADLETTER_CONTAINER; do
  require "$name"
done

key_present() {
  # Prints only true/false: the key itself is not read here.
  present=$(az functionapp keys list --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_NAME" \
            --query "systemKeys.blobs_extension != null" --output tsv 2>/dev/null || true)
  [ "$present" = "true" ]
}

echo "postdeploy: waiting for the blob extension key of $AZURE_FUNCTION_NAME"
tries=0
until key_present; do
  tries=$((tries + 1))
  [ "$tries" -lt "$attempts" ] || fail "no 'blobs_extension' key on $AZURE_FUNCTION_NAME after $attempts checks; check that the app started (Application Insights), then run 'azd deploy' again"
  # Any request starts an instance on Flex Consumption; its host creates the key
  # when the blob extension starts. The answer (401 without a key) does not matter.
  if command -v curl >/dev/null 2>&1; then
    curl --silent --output /dev/null --max-time 30 "$AZURE_FUNCTION_URI/api/health" || true
  fi
  sleep "$pause"
done

# Event Grid validates the webhook while the subscription is created; a host
# that is still warming up can fail that once, so the deployment is retried.
tries=0
until az deployment group create \
        --resource-group "$AZURE_RESOURCE_GROUP" \
        --name blob-subscriptions \
        --template-file "$here/blob-subscriptions.bicep" \
        --parameters functionAppName="$AZURE_FUNCTION_NAME" \
                     systemTopicName="$EVENTGRID_SYSTEM_TOPIC_NAME" \
                     storageAccountName="$AZURE_STORAGE_ACCOUNT_NAME" \
                     deadLetterContainerName="$EVENTGRID_DEADLETTER_CONTAINER" \
        --only-show-errors --output none; do
  tries=$((tries + 1))
  [ "$tries" -lt 3 ] || fail "creating the Event Grid subscriptions failed 3 times; see the errors above"
  echo "postdeploy: retrying in ${pause}s" >&2
  sleep "$pause"
done

echo "postdeploy: blob triggers subscribed (BlobCreated on project-master, item-catalog, stock-snapshots, reorder-policy)"
