// The service's dashboard (an Azure Monitor workbook) and alert rules, on the metrics and spans the
// app sends to Application Insights (src/EventIngest/Telemetry; docs/operations.md explains each).
// Metrics arrive in customMetrics: counters as sums per export, histograms as sum/count/min/max
// (no buckets), gauges as their last value; attributes in customDimensions. Percentiles come from
// the request span (eventingest.ingest), which arrives in dependencies.

@description('Application Insights component the app sends its telemetry to.')
param applicationInsightsName string

@description('Azure region of the workbook and the alert rules.')
param location string

@description('Tags applied to the workbook and the alert rules.')
param tags object

@description('Resource id of the action group the alerts notify; empty for alerts that only show in the portal.')
param actionGroupId string

@description('Percentage of event-route requests answered 5xx, over 15 minutes, above which an alert fires.')
@minValue(1)
@maxValue(100)
param serverErrorPercent int

@description('Release lag (seconds from a scheduled event\'s due time to its release) above which an alert fires.')
@minValue(10)
param releaseLagSeconds int

var metrics = {
  events: 'eventingest.events'
  refusals: 'eventingest.refusals'
  requestDuration: 'eventingest.request.duration'
  outboxRepaired: 'eventingest.outbox.repaired'
  outboxResent: 'eventingest.outbox.resent'
  outboxOverdue: 'eventingest.outbox.overdue'
  releaseLag: 'eventingest.scheduled.release_lag'
  scheduledWaiting: 'eventingest.scheduled.waiting'
  scheduledParked: 'eventingest.scheduled.parked'
  queueDepth: 'eventingest.queue.depth'
  keyVaultOperations: 'eventingest.keyvault.operations'
  keyVaultFailures: 'eventingest.keyvault.failures'
}
var requestSpan = 'eventingest.ingest'

var queries = {
  ingestRate: 'customMetrics | where name == \'${metrics.events}\' | summarize events = sum(valueSum) by outcome = tostring(customDimensions[\'eventingest.outcome\']), bin(timestamp, 5m) | render timechart'
  duration: 'dependencies | where name == \'${requestSpan}\' | summarize p50 = percentile(duration, 50), p99 = percentile(duration, 99) by bin(timestamp, 5m) | render timechart'
  refusals: 'customMetrics | where name == \'${metrics.refusals}\' | summarize requests = sum(valueSum) by reason = tostring(customDimensions[\'eventingest.refusal.reason\']), bin(timestamp, 5m) | render timechart'
  repairs: 'customMetrics | where name in (\'${metrics.outboxRepaired}\', \'${metrics.outboxResent}\', \'${metrics.outboxOverdue}\') | summarize value = iff(name == \'${metrics.outboxOverdue}\', max(value), sum(valueSum)) by name, bin(timestamp, 5m) | render timechart'
  releaseLag: 'customMetrics | where name == \'${metrics.releaseLag}\' | summarize mean = sum(valueSum) / sum(valueCount), max = max(valueMax) by bin(timestamp, 5m) | render timechart'
  scheduled: 'customMetrics | where name in (\'${metrics.scheduledWaiting}\', \'${metrics.scheduledParked}\') | summarize events = max(value) by name, bin(timestamp, 5m) | render timechart'
  keyVault: 'customMetrics | where name in (\'${metrics.keyVaultOperations}\', \'${metrics.keyVaultFailures}\') | summarize calls = sum(valueSum) by name, error = tostring(customDimensions[\'error.type\']), bin(timestamp, 5m) | render timechart'
  queueDepth: 'customMetrics | where name == \'${metrics.queueDepth}\' | summarize messages = max(value) by queue = tostring(customDimensions[\'messaging.destination.name\']), bin(timestamp, 5m) | render timechart'
}

var panels = [
  { title: 'Events by outcome', query: queries.ingestRate }
  { title: 'Request duration p50 / p99 (ms)', query: queries.duration }
  { title: 'Refusals by reason', query: queries.refusals }
  { title: 'Repair: requests repaired, events re-sent, rows overdue', query: queries.repairs }
  { title: 'Release lag of scheduled events (s)', query: queries.releaseLag }
  { title: 'Scheduled events waiting and parked', query: queries.scheduled }
  { title: 'Key Vault calls and failures', query: queries.keyVault }
  { title: 'Queue depth (consumer, due and poison queues)', query: queries.queueDepth }
]

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsights.id, 'eventingest-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'EventIngest'
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: string({
      version: 'Notebook/1.0'
      items: concat(
        [
          {
            type: 1
            name: 'about'
            content: {
              json: '## EventIngest\nIngest, refusals, repair, scheduling, Key Vault and queues. What each chart means and what to do: docs/operations.md.'
            }
          }
        ],
        map(range(0, length(panels)), i => {
          type: 3
          name: 'panel-${i}'
          content: {
            version: 'KqlItem/1.0'
            title: panels[i].title
            query: panels[i].query
            size: 0
            timeContext: { durationMs: 86400000 }
            queryType: 0
            resourceType: 'microsoft.insights/components'
            visualization: 'timechart'
          }
          customWidth: '50'
        })
      )
      fallbackResourceIds: [
        applicationInsights.id
      ]
    })
  }
}

var alerts = [
  {
    name: 'server-errors'
    description: 'More than ${serverErrorPercent}% of event-route requests answered 5xx (storage or Key Vault unavailable, or a fault). Runbook: docs/operations.md#server-errors'
    severity: 1
    query: 'customMetrics | where name == \'${metrics.requestDuration}\' | extend status = toint(customDimensions[\'http.response.status_code\']) | summarize total = sum(valueCount), failed = sumif(valueCount, status >= 500) | extend percent = iff(total == 0, 0.0, 100.0 * failed / total)'
    measure: 'percent'
    threshold: serverErrorPercent
  }
  {
    name: 'repair-backlog'
    description: 'Outbox rows older than RepairAfter are still there after the repair job ran: acknowledged events are not on their queues yet. Runbook: docs/operations.md#repair-backlog'
    severity: 1
    query: 'customMetrics | where name == \'${metrics.outboxOverdue}\' | summarize overdue = max(value)'
    measure: 'overdue'
    threshold: 0
  }
  {
    name: 'release-lag'
    description: 'A scheduled event was released more than ${releaseLagSeconds} s after its due time. Runbook: docs/operations.md#release-lag'
    severity: 2
    query: 'customMetrics | where name == \'${metrics.releaseLag}\' | summarize lag = max(valueMax)'
    measure: 'lag'
    threshold: releaseLagSeconds
  }
  {
    name: 'key-vault-failures'
    description: 'Calls to the Key Vault key failed: new people\'s events are refused (503) and unknown environments cannot be opened. Runbook: docs/operations.md#key-vault-failures'
    severity: 1
    query: 'customMetrics | where name == \'${metrics.keyVaultFailures}\' | summarize failures = sum(valueSum)'
    measure: 'failures'
    threshold: 0
  }
  {
    name: 'poison-messages'
    description: 'Messages sit on a poison queue: a consumer failed on them five times. Runbook: docs/operations.md#poison-messages'
    severity: 2
    query: 'customMetrics | where name == \'${metrics.queueDepth}\' and tostring(customDimensions[\'eventingest.queue.kind\']) == \'poison\' | summarize poison = max(value)'
    measure: 'poison'
    threshold: 0
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in alerts: {
    name: 'eventingest-${alert.name}-${applicationInsightsName}'
    location: location
    tags: tags
    properties: {
      displayName: 'EventIngest: ${alert.name}'
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        applicationInsights.id
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Maximum'
            metricMeasureColumn: alert.measure
            operator: 'GreaterThan'
            threshold: alert.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: empty(actionGroupId) ? [] : [actionGroupId]
      }
    }
  }
]

output workbookId string = workbook.id
output alertRuleNames string[] = [for (alert, i) in alerts: alertRules[i].name]
