// Cosmos DB for NoSQL (serverless), local (key) auth off. Containers and
// partition keys as DESIGN.md section 4; `leases` holds the change feed's leases.
param name string
param location string
param tags object = {}
param databaseName string = 'oms'

var containers = [
  { name: 'orders', partitionKey: '/project_id' }
  { name: 'inventory', partitionKey: '/warehouse_id' }
  { name: 'projects', partitionKey: '/project_id' }
  { name: 'catalog', partitionKey: '/sku' }
  { name: 'jobs', partitionKey: '/job_id' }
  { name: 'quarantine', partitionKey: '/id' }
  { name: 'leases', partitionKey: '/id' }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    locations: [
      { locationName: location, failoverPriority: 0, isZoneRedundant: false }
    ]
    capabilities: [ { name: 'EnableServerless' } ]
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: { tier: 'Continuous7Days' }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: { id: databaseName }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for c in containers: {
  parent: database
  name: c.name
  properties: {
    resource: {
      id: c.name
      partitionKey: { paths: [ c.partitionKey ], kind: 'Hash', version: 2 }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [ { path: '/*' } ]
        excludedPaths: [ { path: '/"_etag"/?' }, { path: '/body/*' }, { path: '/event/data/*' } ]
      }
    }
  }
}]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
