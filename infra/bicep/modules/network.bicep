@description('Name of the virtual network.')
param name string

@description('Azure region of the virtual network and the private endpoints.')
param location string

@description('Tags applied to every resource of the module.')
param tags object

@description('Address space of the virtual network (at least a /23): the first /24 holds the function app\'s outbound traffic, the second the private endpoints.')
param addressPrefix string

@description('Storage account reached through private endpoints for blob, queue and table.')
param storageAccountName string

@description('Storage accounts holding only queues, each reached through a private endpoint for queue.')
param queueAccountNames string[] = []

@description('Key vault reached through a private endpoint.')
param keyVaultName string

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

var appSubnetName = 'app'
var endpointSubnetName = 'private-endpoints'

// Subnets are declared inside the network so a redeployment never races two subnet updates.
resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        // Flex Consumption integrates through a subnet delegated to Microsoft.App/environments; every
        // instance takes an address from it, so it is sized for the largest scale-out.
        name: appSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 0)
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: endpointSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 1)
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }

  resource appSubnet 'subnets' existing = {
    name: appSubnetName
  }

  resource endpointSubnet 'subnets' existing = {
    name: endpointSubnetName
  }
}

// One endpoint per sub-resource the app uses, each with the zone that makes the resource's usual host
// name (account.blob.core.windows.net, vault.vault.azure.net) resolve to the endpoint inside the VNet.
var endpoints = [
  {
    groupId: 'blob'
    serviceName: storageAccount.name
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    groupId: 'queue'
    serviceName: storageAccount.name
    zone: 'privatelink.queue.${environment().suffixes.storage}'
  }
  {
    groupId: 'table'
    serviceName: storageAccount.name
    zone: 'privatelink.table.${environment().suffixes.storage}'
  }
  {
    groupId: 'vault'
    serviceName: vault.name
    // Key Vault's private zone is "vaultcore" beside the vault's DNS suffix (privatelink.vaultcore.azure.net).
    zone: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'
  }
]

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for endpoint in endpoints: {
    name: endpoint.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (endpoint, i) in endpoints: {
    parent: zones[i]
    name: vnet.name
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for endpoint in endpoints: {
    name: 'pe-${endpoint.serviceName}-${endpoint.groupId}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: vnet::endpointSubnet.id
      }
      privateLinkServiceConnections: [
        {
          name: endpoint.groupId
          properties: {
            privateLinkServiceId: endpoint.groupId == 'vault' ? vault.id : storageAccount.id
            groupIds: [
              endpoint.groupId
            ]
          }
        }
      ]
    }
  }
]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (endpoint, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: replace(endpoint.zone, '.', '-')
          properties: {
            privateDnsZoneId: zones[i].id
          }
        }
      ]
    }
  }
]

output vnetName string = vnet.name
// Whatever uses this waits for the whole module, endpoints and DNS records included: the app's first
// start already resolves storage and the vault to private addresses.
output appSubnetId string = vnet::appSubnet.id

// The queue accounts: an endpoint each, in the same private zone as the main account's queue endpoint.
var queueZoneIndex = 1

resource queueAccountEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for accountName in queueAccountNames: {
    name: 'pe-${accountName}-queue'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: vnet::endpointSubnet.id
      }
      privateLinkServiceConnections: [
        {
          name: 'queue'
          properties: {
            privateLinkServiceId: resourceId('Microsoft.Storage/storageAccounts', accountName)
            groupIds: [
              'queue'
            ]
          }
        }
      ]
    }
  }
]

resource queueAccountZoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (accountName, i) in queueAccountNames: {
    parent: queueAccountEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: replace(endpoints[queueZoneIndex].zone, '.', '-')
          properties: {
            privateDnsZoneId: zones[queueZoneIndex].id
          }
        }
      ]
    }
  }
]
