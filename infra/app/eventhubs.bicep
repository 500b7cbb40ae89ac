// Event Hubs: engineering and warehouse events in, order events out; the OMS
// reads with its own consumer group `oms`. Local (SAS) auth off.
param name string
param location string
param tags object = {}
param hubs array = ['engineering-events', 'warehouse-events', 'order-events']
param partitionCount int = 4

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard', capacity: 1 }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: true
    maximumThroughputUnits: 4
  }
}

resource eventHubs 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = [for hub in hubs: {
  parent: namespace
  name: hub
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: 7
  }
}]

resource consumerGroups 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = [for (hub, i) in hubs: {
  parent: eventHubs[i]
  name: 'oms'
}]

output name string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
