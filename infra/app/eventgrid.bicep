// Event Grid system topic on the storage account. Flex Consumption runs only the
// event-based Blob trigger (source EventGrid), so the drops in project-master/,
// item-catalog/, stock-snapshots/ and reorder-policy/ reach the functions through this topic.
// The subscriptions themselves (infra/hooks/blob-subscriptions.bicep) need the
// app's `blobs_extension` key, which exists only once the code is deployed: the
// azd postdeploy hook creates them.
param name string
param location string
param tags object = {}
param storageAccountName string
@description('Container where Event Grid writes events it could not deliver (after all retries).')
param deadLetterContainerName string

// Storage Blob Data Contributor: the topic's own identity writes dead letters
// (shared keys are off, so a key-based dead-letter destination is impossible).
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobs 'blobServices' existing = {
    name: 'default'

    resource deadLetters 'containers' existing = {
      name: deadLetterContainerName
    }
  }
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// Scoped to the dead-letter container only: the topic reads no data.
resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobs::deadLetters.id, topic.id, storageBlobDataContributor)
  scope: storage::blobs::deadLetters
  properties: {
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

output name string = topic.name
output principalId string = topic.identity.principalId
