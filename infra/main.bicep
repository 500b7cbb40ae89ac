// The OMS in Azure (azd Flex Consumption template shape): a Python 3.11 function
// app on Flex Consumption, Storage, Event Hubs, Cosmos DB (NoSQL), Application
// Insights and one user-assigned managed identity. No keys anywhere: storage has
// shared keys off, Cosmos DB and Event Hubs have local auth off; the app reaches
// them with its identity and the data-plane roles of app/rbac.bicep.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to name and tag every resource.')
param environmentName string

@minLength(1)
@description('Primary location for all resources.')
param location string

@description('Id of the user or app to grant data access too (for running locally against Azure). Optional.')
param principalId string = ''

@description('Type of principalId: User when azd runs as a person, ServicePrincipal when it runs in CI as a service principal (a role assignment with the wrong type fails with UnmatchedPrincipalType).')
@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

@description('Cosmos DB database name.')
param cosmosDatabaseName string = 'oms'

@description('E-mail address for the operational alerts (app/alerts.bicep), e.g. a blob the host gave up on. Empty: the alerts show in the portal only.')
param alertEmail string = ''

var abbrs = {
  resourceGroup: 'rg-'
  functionApp: 'func-'
  plan: 'plan-'
  storage: 'st'
  eventHubs: 'evhns-'
  cosmos: 'cosmos-'
  identity: 'id-'
  logs: 'log-'
  insights: 'appi-'
  systemTopic: 'evgt-'
  actionGroup: 'ag-'
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.functionApp}oms-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
// Containers whose new blobs trigger a function (functions/master_data.py); their
// Event Grid subscriptions are made by the postdeploy hook (infra/hooks/).
var blobTriggerContainers = ['project-master', 'item-catalog', 'stock-snapshots', 'reorder-policy']
var deadLetterContainerName = 'eventgrid-deadletter'
// Event Hub batches the store could take neither as data nor as quarantine
// (OMS_DEADLETTER_CONTAINER in app/api.bicep; replayed with `oms deadletters replay`).
var batchDeadLetterContainerName = 'dead-letters'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourceGroup}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.identity}oms-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.logs}${resourceToken}'
    applicationInsightsName: '${abbrs.insights}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storage}${resourceToken}'
    location: location
    tags: tags
    containers: concat([deploymentContainerName], blobTriggerContainers, ['snapshots', 'quarantine', 'allocation-runs', deadLetterContainerName, batchDeadLetterContainerName])
  }
}

module eventHubs 'app/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: {
    name: '${abbrs.eventHubs}${resourceToken}'
    location: location
    tags: tags
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: '${abbrs.cosmos}${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.plan}${resourceToken}'
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmosDatabaseName
    eventHubsNamespace: eventHubs.outputs.fullyQualifiedNamespace
    deadLetterContainerName: batchDeadLetterContainerName
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    actionGroupName: '${abbrs.actionGroup}oms-${resourceToken}'
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertEmail: alertEmail
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: '${abbrs.systemTopic}${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    deadLetterContainerName: deadLetterContainerName
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    eventHubsNamespaceName: eventHubs.outputs.name
    cosmosAccountName: cosmos.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output AZURE_FUNCTION_URI string = api.outputs.uri
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmosDatabaseName
output EVENTHUB_NAMESPACE string = eventHubs.outputs.fullyQualifiedNamespace
output STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
// Read by infra/hooks/postdeploy.{sh,ps1} to subscribe the blob triggers.
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output EVENTGRID_SYSTEM_TOPIC_NAME string = eventGrid.outputs.name
output EVENTGRID_DEADLETTER_CONTAINER string = deadLetterContainerName
