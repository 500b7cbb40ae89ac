// Cosmos DB for NoSQL (serverless), local (key) auth off. The database's
// containers (names, partition keys, TTL, indexing policy) are not written
// here: they come from common/adapters/cosmos/containers.json, the one
// description that `oms cosmos init` also creates them from, so the Bicep and
// the Python code cannot drift. `leases` holds the change feed's leases.
param name string
param location string
param tags object = {}
param databaseName string = 'oms'

// Each entry: name, partitionKey, and optionally defaultTtl (-1: TTL on, only
// documents with a `ttl` expire) and indexingPolicy (else Cosmos DB's default).
// any(): the entries differ in shape, so their keys are checked below with
// contains() rather than by the type Bicep infers from the file.
var containers = any(loadJsonContent('../../common/adapters/cosmos/containers.json')).containers

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

// Optional keys are added only when the file has them: an absent defaultTtl
// leaves TTL off, an absent indexingPolicy keeps the default (index everything).
resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for c in containers: {
  parent: database
  name: c.name
  properties: {
    // (one line: checkov's Bicep parser reads no multi-line function arguments)
    resource: union({ id: c.name, partitionKey: { paths: [ c.partitionKey ], kind: 'Hash', version: 2 } }, contains(c, 'defaultTtl') ? { defaultTtl: c.defaultTtl } : {}, contains(c, 'indexingPolicy') ? { indexingPolicy: c.indexingPolicy } : {})
  }
}]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
