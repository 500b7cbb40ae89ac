// Log Analytics and Application Insights; ingestion by Entra ID only (local auth off).
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

output connectionString string = insights.properties.ConnectionString
output applicationInsightsName string = insights.name
output applicationInsightsId string = insights.id
