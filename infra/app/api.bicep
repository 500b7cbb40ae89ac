// The function app: Flex Consumption, Python 3.11, identity-based connections only.
param name string
param planName string
param location string
param tags object = {}
param identityId string
param identityClientId string
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainerName string
param applicationInsightsConnectionString string
param cosmosEndpoint string
param cosmosDatabaseName string
param eventHubsNamespace string
@description('Blob container for Event Hub batches the store could not take (OMS_DEADLETTER_CONTAINER).')
param deadLetterContainerName string = 'dead-letters'
param maximumInstanceCount int = 100
param instanceMemoryMB int = 2048

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: { name: 'python', version: '3.11' }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: {
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
      AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
      AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      OMS_STORE: 'cosmos'
      COSMOS_CONNECTION__accountEndpoint: cosmosEndpoint
      COSMOS_CONNECTION__credential: 'managedidentity'
      COSMOS_CONNECTION__clientId: identityClientId
      COSMOS_DATABASE: cosmosDatabaseName
      EVENTHUB_CONNECTION__fullyQualifiedNamespace: eventHubsNamespace
      EVENTHUB_CONNECTION__credential: 'managedidentity'
      EVENTHUB_CONNECTION__clientId: identityClientId
      // NCRONTAB schedules: a timer trigger's %SETTING% must resolve, or the
      // host cannot index that function.
      OMS_ALLOCATION_SCHEDULE: '0 */15 * * * *'
      OMS_SLA_SCHEDULE: '0 0 * * * *'
      OMS_OUTBOX_REPUBLISH_SCHEDULE: '0 */5 * * * *'
      // Outbox events the change feed has not published this many minutes after
      // they were written are republished by the timer above.
      OMS_OUTBOX_GRACE_MINUTES: '15'
      // Retention, as Cosmos DB TTL (containers.json turns TTL on per container).
      // Markers must outlive the Event Hub retention (7 days, app/eventhubs.bicep)
      // plus the window in which a dead-lettered batch may still be replayed.
      OMS_MARKER_TTL_DAYS: '30'
      OMS_OUTBOX_TTL_DAYS: '7'
      OMS_JOB_TTL_DAYS: '90'
      OMS_QUARANTINE_TTL_DAYS: '90'
      // A master-data file stops after this many seconds and the next attempt
      // resumes it: below host.json's functionTimeout (10 minutes).
      OMS_INGEST_TIME_BUDGET_SECONDS: '480'
      OMS_DEADLETTER_CONTAINER: deadLetterContainerName
    }
  }
}

output name string = app.name
output uri string = 'https://${app.properties.defaultHostName}'
