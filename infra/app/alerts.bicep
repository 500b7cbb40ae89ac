// Alerts that need a person. A dropped master-data file whose function failed
// on every attempt ends in the host storage queue `webjobs-blobtrigger-poison`
// and nothing retries it: the Functions host logs a warning when it moves the
// message there ("Message has reached MaxDequeueCount of 5. Moving message to
// queue 'webjobs-blobtrigger-poison'."), and this log alert fires on it.
// A metric alert cannot do it soundly: Storage's QueueMessageCount is per
// account, with no queue-name dimension, so it would count the host's busy
// internal queues too. docs/azure.md says how to look at and replay the queue.
param location string
param tags object = {}
param actionGroupName string
param applicationInsightsId string
@description('E-mail address the alerts go to; empty: the action group has no receiver (the alert still shows in the portal).')
param alertEmail string = ''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'oms-alerts'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      { name: 'oms-operator', emailAddress: alertEmail, useCommonAlertSchema: true }
    ]
  }
}

// Evaluated every 5 minutes over the last 15 (telemetry can arrive a few minutes
// late); after it fires, its actions are muted for an hour so one poisoned file
// is one e-mail. Every message of the queue is listed by the steps in docs/azure.md.
resource poisonBlobAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'oms-blob-trigger-poison'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'OMS: a dropped file was given up on (webjobs-blobtrigger-poison)'
    description: 'A blob-triggered function (project-master, item-catalog, stock-snapshots, reorder-policy) failed on every attempt and the host moved the blob message to the queue webjobs-blobtrigger-poison. Look at the queue, fix the cause, then re-drop the blob or run `oms ingest` (docs/azure.md).'
    severity: 2
    enabled: true
    scopes: [ applicationInsightsId ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    muteActionsDuration: 'PT1H'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: 'traces | where severityLevel >= 2 and message contains "webjobs-blobtrigger-poison"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [ actionGroup.id ] }
  }
}

output actionGroupId string = actionGroup.id
output poisonBlobAlertName string = poisonBlobAlert.name
