using 'main.bicep'

// An example production environment. azd sets AZURE_ENV_NAME; key hashes come from environment
// variables (`azd env set ...` or `export ...`) so they never sit in the repository.
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'eventingest-prod')

param maximumInstanceCount = 100
param instanceMemoryMB = 2048
param storageSkuName = 'Standard_ZRS'
// Storage and Key Vault only through private endpoints in the app's own virtual network. For a quick
// trial without a network: azd env set EVENTINGEST_NETWORK_ISOLATION false
param networkIsolation = bool(readEnvironmentVariable('EVENTINGEST_NETWORK_ISOLATION', 'true'))
param storagePrefix = 'ei'
param keySize = 3072
param keyRotationInterval = 'P1Y'
param keyVersionLifetime = 'P2Y'

// Events no route matches go to the default queue. Add a route per queue a consumer reads, e.g.
//   { pattern: 'billing/invoice.paid', queue: 'billing' }   one event name
//   { pattern: 'app/account.*', queue: 'accounts' }         every name with that prefix
//   { pattern: 'app/click.*', queue: 'clicks', shards: 8 }  over clicks-0 ... clicks-7 (docs/consuming-events.md)
//   { pattern: 'app/page.*', queue: 'pages', shards: 4, packed: true }  a request's events in shared messages (docs/consuming-events.md)
param defaultQueue = 'events'
param defaultQueueShards = 1
param routes = []

param eventKeys = [
  {
    hash: readEnvironmentVariable('EVENTINGEST_EVENT_KEY_HASH')
    environment: readEnvironmentVariable('EVENTINGEST_EVENT_KEY_ENVIRONMENT', 'production')
  }
]

var signingKeyHash = readEnvironmentVariable('EVENTINGEST_SIGNING_KEY_HASH', '')
param signingKeys = empty(signingKeyHash)
  ? []
  : [
      {
        hash: signingKeyHash
        environment: readEnvironmentVariable('EVENTINGEST_SIGNING_KEY_ENVIRONMENT', 'production')
        scopes: readEnvironmentVariable('EVENTINGEST_SIGNING_KEY_SCOPES', 'read')
      }
    ]
