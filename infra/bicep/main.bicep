targetScope = 'resourceGroup'

import { eventKeyHash, signingKeyHash, route } from 'types.bicep'

metadata description = 'EventIngest on Azure Functions Flex Consumption: storage, Key Vault key, managed identity, monitoring, and (networkIsolation) a virtual network with private endpoints.'

@description('Name of the environment (the azd environment name). Part of the resource token and of every resource\'s tags.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region of every resource. Flex Consumption is available in a subset of regions.')
param location string = resourceGroup().location

@description('Extra tags applied to every resource.')
param tags object = {}

@description('Most instances the function app scales out to (Flex Consumption: 40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each function app instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Replication of the storage account. Standard_ZRS (three zones) survives the loss of a zone; use Standard_LRS only in a region without availability zones.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param storageSkuName string = 'Standard_ZRS'

@description('True (the default) for a private deployment: the app reaches storage and Key Vault through private endpoints in its own virtual network, and neither accepts public traffic. False for a quick trial without a network.')
param networkIsolation bool = true

@description('Address space of the virtual network when networkIsolation is on (at least a /23; it must not overlap a network you peer it with).')
param vnetAddressPrefix string = '10.20.0.0/16'

@description('Prefix of the tables, queues and containers the app uses (EventIngest:Storage:Prefix): lower-case letters and digits, starting with a letter.')
@minLength(1)
@maxLength(16)
param storagePrefix string = 'ei'

@description('Queue of events no route matches (EventIngest:Routing:DefaultQueue).')
@minLength(3)
@maxLength(63)
param defaultQueue string = 'events'

@description('Shards of the default queue (EventIngest:Routing:DefaultShards): events spread over defaultQueue-0 ... defaultQueue-(n-1) by a hash of their id. 1 keeps the plain name, which consumers from before shards read.')
@minValue(1)
@maxValue(32)
param defaultQueueShards int = 1

@description('Packs the default queue (EventIngest:Routing:DefaultPacked): the events of one request in as few messages as fit. Its consumers must read with EventReader.ReadAllAsync.')
param defaultQueuePacked bool = false

@description('Further storage accounts that hold only the queues of the routes naming them (route.account), 1-8 lower-case letters and digits each: a high-volume stream\'s queue operations then count against their own account\'s 20,000 requests/s, not the one holding records and claims (docs/scale.md).')
param queueAccounts string[] = []

@description('The account of the default queue (EventIngest:Routing:DefaultAccount): one of queueAccounts, or empty for the main account.')
param defaultQueueAccount string = ''

@description('Routes from event-name patterns to queues (EventIngest:Routing:Routes). Every queue named here is created.')
param routes route[] = []

@description('SHA-256 hashes (hex) of the event keys the ingest route accepts, each with the environment its events belong to. At least one. The hashes are secure values.')
@minLength(1)
param eventKeys eventKeyHash[]

@description('SHA-256 hashes (hex) of the signing keys of the REST API, each with its environment and scopes (read unless given). The hashes are secure values.')
param signingKeys signingKeyHash[] = []

@description('Name of the Key Vault key that wraps the data keys protecting event `user` data.')
@minLength(1)
@maxLength(127)
param keyName string = 'event-user-kek'

@description('RSA modulus size of the key-encryption key.')
@allowed([
  2048
  3072
])
param keySize int = 3072

@description('ISO 8601 duration after which Key Vault rotates the key (creates a new version).')
param keyRotationInterval string = 'P1Y'

@description('ISO 8601 lifetime of each key version; must exceed the rotation interval by at least 7 days. Expired versions still unwrap.')
param keyVersionLifetime string = 'P2Y'

@description('Days a deleted key vault or key can be recovered (7-90). Purge protection holds deleted vaults for this long.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Days Log Analytics keeps logs and telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Resource id of the action group the alert rules notify (e-mail, SMS, webhook...); empty: the alerts show in the portal only.')
param alertActionGroupId string = ''

@description('Percentage of event-route requests answered 5xx, over 15 minutes, above which the server-errors alert fires.')
@minValue(1)
@maxValue(100)
param serverErrorAlertPercent int = 5

@description('Seconds from a scheduled event\'s due time to its release above which the release-lag alert fires.')
@minValue(10)
param releaseLagAlertSeconds int = 300

@description('Traces a second the Functions app records (the Azure Monitor exporter\'s rate-limited sampler). Metrics are never sampled.')
@minValue(0)
param tracesPerSecond int = 5

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })

var queueAccountNames = map(queueAccounts, account => 'sq${account}${resourceToken}')

var names = {
  identity: 'id-${resourceToken}'
  storage: 'st${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
  vnet: 'vnet-${resourceToken}'
}

// Everything the app creates or expects in storage; keep in step with the app's naming.
var deploymentContainer = 'app-package'
var storageLayout = {
  tables: [
    '${storagePrefix}events'
    '${storagePrefix}idempotency'
    '${storagePrefix}outbox'
    '${storagePrefix}keys'
    '${storagePrefix}schedule'
  ]
  // The consumers' queues (every shard) that no queue account holds, and the service's own queue of due markers.
  queues: union(
    queuesInAccount('', routes, defaultQueue, defaultQueueShards, defaultQueueAccount),
    ['${storagePrefix}due']
  )
  containers: [
    '${storagePrefix}-large'
    deploymentContainer
  ]
}

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Read the key and wrap/unwrap with it; cannot create, delete, encrypt, sign or export.
  keyVaultCryptoServiceEncryptionUser: 'e147488a-f6f5-4113-8e2d-b22465e65bf6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: names.identity
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: allTags
    retentionInDays: logRetentionInDays
  }
}

module observability 'modules/observability.bicep' = {
  name: 'observability'
  params: {
    applicationInsightsName: names.applicationInsights
    location: location
    tags: allTags
    actionGroupId: alertActionGroupId
    serverErrorPercent: serverErrorAlertPercent
    releaseLagSeconds: releaseLagAlertSeconds
  }
  dependsOn: [
    monitoring
  ]
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: allTags
    skuName: storageSkuName
    privateNetworkOnly: networkIsolation
    tableNames: storageLayout.tables
    queueNames: storageLayout.queues
    containerNames: storageLayout.containers
  }
}

// One account per entry of queueAccounts, holding only the queues of the routes that name it.
module queueStorage 'modules/storage.bicep' = [
  for (account, i) in queueAccounts: {
    name: 'queue-storage-${account}'
    params: {
      name: queueAccountNames[i]
      location: location
      tags: allTags
      skuName: storageSkuName
      privateNetworkOnly: networkIsolation
      tableNames: []
      queueNames: queuesInAccount(account, routes, defaultQueue, defaultQueueShards, defaultQueueAccount)
      containerNames: []
    }
  }
]

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: names.keyVault
    location: location
    tags: allTags
    keyName: keyName
    keySize: keySize
    keyRotationInterval: keyRotationInterval
    keyVersionLifetime: keyVersionLifetime
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    privateNetworkOnly: networkIsolation
  }
}

module network 'modules/network.bicep' = if (networkIsolation) {
  name: 'network'
  params: {
    name: names.vnet
    location: location
    tags: allTags
    addressPrefix: vnetAddressPrefix
    storageAccountName: names.storage
    queueAccountNames: queueAccountNames
    keyVaultName: names.keyVault
  }
  dependsOn: [
    storage
    queueStorage
    keyVault
  ]
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    identityName: names.identity
    storageAccountName: names.storage
    queueAccountNames: queueAccountNames
    storageRoleIds: [
      roles.storageBlobDataOwner
      roles.storageQueueDataContributor
      roles.storageTableDataContributor
    ]
    keyVaultName: names.keyVault
    keyName: keyName
    keyRoleIds: [
      roles.keyVaultCryptoServiceEncryptionUser
    ]
    applicationInsightsName: names.applicationInsights
    monitoringRoleIds: [
      roles.monitoringMetricsPublisher
    ]
  }
  dependsOn: [
    identity
    storage
    keyVault
    monitoring
  ]
}

// As EventIngest names shards (Ingest/QueueShards.cs): one shard keeps the plain name.
func shardQueues(queue string, shards int) string[] =>
  shards == 1 ? [queue] : map(range(0, shards), i => '${queue}-${i}')

// Every shard of the queues placed in one account ('' for the main one).
func queuesInAccount(account string, routes route[], defaultQueue string, defaultShards int, defaultAccount string) string[] =>
  union(
    defaultAccount == account ? shardQueues(defaultQueue, defaultShards) : [],
    flatten(map(filter(routes, r => (r.?account ?? '') == account), r => shardQueues(r.queue, r.?shards ?? 1)))
  )

func routeSettings(routes route[]) object =>
  reduce(range(0, length(routes)), {}, (settings, i) =>
    union(settings, {
      'EventIngest__Routing__Routes__${i}__Pattern': routes[i].pattern
      'EventIngest__Routing__Routes__${i}__Queue': routes[i].queue
      'EventIngest__Routing__Routes__${i}__Shards': string(routes[i].?shards ?? 1)
      'EventIngest__Routing__Routes__${i}__Packed': (routes[i].?packed ?? false) ? 'true' : 'false'
      'EventIngest__Routing__Routes__${i}__Account': routes[i].?account ?? ''
    }))

// Every app setting but the key hashes (the functionapp module adds those from eventKeys and
// signingKeys, so they stay secure values). Identity-based: no connection string carries a credential.
var appSettings = union(
  {
    AzureWebJobsStorage__accountName: storage.outputs.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.outputs.clientId
    EventIngestStorage__queueServiceUri: storage.outputs.queueEndpoint
    EventIngestStorage__credential: 'managedidentity'
    EventIngestStorage__clientId: identity.outputs.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.applicationInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
    OTEL_TRACES_SAMPLER: 'microsoft.rate_limited'
    OTEL_TRACES_SAMPLER_ARG: string(tracesPerSecond)
    EventIngest__Storage__TableServiceUri: storage.outputs.tableEndpoint
    EventIngest__Storage__QueueServiceUri: storage.outputs.queueEndpoint
    EventIngest__Storage__BlobServiceUri: storage.outputs.blobEndpoint
    EventIngest__Storage__ClientId: identity.outputs.clientId
    EventIngest__Storage__Prefix: storagePrefix
    EventIngest__Auth__RequireEventKeys: 'true'
    EventIngest__Auth__RequireSigningKeys: 'true'
    EventIngest__Routing__DefaultQueue: defaultQueue
    EventIngest__Routing__DefaultShards: string(defaultQueueShards)
    EventIngest__Routing__DefaultPacked: defaultQueuePacked ? 'true' : 'false'
    EventIngest__Routing__DefaultAccount: defaultQueueAccount
    EventIngest__Encryption__KeyProvider: 'KeyVault'
    EventIngest__Encryption__KeyVaultKeyId: keyVault.outputs.keyUri
  },
  routeSettings(routes),
  // The queue accounts' endpoints, named as the storage module's output would give them.
  reduce(queueAccountNames, {}, (settings, accountName, i) =>
    union(settings, {
      'EventIngest__Storage__QueueAccounts__${queueAccounts[i]}__QueueServiceUri': 'https://${accountName}.queue.${environment().suffixes.storage}/'
    }))
)

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    planName: names.plan
    name: names.functionApp
    location: location
    tags: allTags
    azdServiceName: 'ingest'
    identityId: identity.outputs.id
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${deploymentContainer}'
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    virtualNetworkSubnetId: network.?outputs.appSubnetId ?? ''
    appSettings: appSettings
    eventKeys: eventKeys
    signingKeys: signingKeys
  }
  // The host reaches storage, the vault and telemetry as soon as it starts: grant first.
  dependsOn: [
    rbac
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_KEY_ID string = keyVault.outputs.keyUri
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_APPLICATION_INSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
// Consumers of the queues join this network to reach the account and the vault; empty without networkIsolation.
output AZURE_VIRTUAL_NETWORK_NAME string = network.?outputs.vnetName ?? ''
