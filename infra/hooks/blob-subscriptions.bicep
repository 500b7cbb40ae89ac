// Event Grid subscriptions that fire the event-based Blob triggers: one per
// container, BlobCreated only, delivered to the app's blob extension webhook.
// Deployed by the azd postdeploy hook (postdeploy.sh / postdeploy.ps1), not by
// `azd provision`: the `blobs_extension` system key in the webhook URL is created
// by the Functions host only once the code with the blob triggers runs, and Event
// Grid validates the webhook when the subscription is made.
// The key is read here with listKeys, so it never passes through a shell.
targetScope = 'resourceGroup'

param functionAppName string
param systemTopicName string
param storageAccountName string
param deadLetterContainerName string

@description('Container -> function name (@bp.function_name in functions/master_data.py).')
param triggers array = [
  { container: 'project-master', function: 'project_master_blob' }
  { container: 'item-catalog', function: 'item_catalog_blob' }
  { container: 'stock-snapshots', function: 'stock_snapshots_blob' }
  { container: 'reorder-policy', function: 'reorder_policy_blob' }
]

@description('Event Grid retries a failed delivery with backoff up to this many times, for at most eventTimeToLiveInMinutes; then the event goes to the dead-letter container.')
param maxDeliveryAttempts int = 30
param eventTimeToLiveInMinutes int = 1440

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName

  resource host 'host' existing = {
    name: 'default'
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

// The platform's host name (new apps may get a unique default host name, not <app>.azurewebsites.net).
var webhookBase = 'https://${app.properties.defaultHostName}/runtime/webhooks/blobs'

resource subscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = [for trigger in triggers: {
  parent: topic
  name: '${trigger.container}-blob-created'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${webhookBase}?functionName=Host.Functions.${trigger.function}&code=${app::host.listKeys().systemKeys.blobs_extension}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: ['Microsoft.Storage.BlobCreated']
      // The trailing slash keeps `item-catalog` from also matching a container `item-catalog-old`.
      subjectBeginsWith: '/blobServices/default/containers/${trigger.container}/'
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    // Nothing a drop announces is lost: undeliverable events are kept, written
    // with the topic's identity (app/eventgrid.bicep grants it this container).
    deadLetterWithResourceIdentity: {
      identity: { type: 'SystemAssigned' }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}]

output subscriptionNames array = [for (trigger, i) in triggers: subscriptions[i].name]
