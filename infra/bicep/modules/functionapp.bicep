import { eventKeyHash, signingKeyHash } from '../types.bicep'

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the function app.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the plan and the app.')
param tags object

@description('Service name azd deploys to this app (the azd-service-name tag).')
param azdServiceName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Blob container URL the deployment package is uploaded to.')
param deploymentContainerUrl string

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Subnet (delegated to Microsoft.App/environments) the app sends its outbound traffic through; empty for none.')
param virtualNetworkSubnetId string

@description('App settings, name to value, except the key hashes.')
param appSettings object

@description('Event keys, which become EventIngest:Auth:EventKeys.')
param eventKeys eventKeyHash[]

@description('Signing keys, which become EventIngest:Auth:SigningKeys.')
param signingKeys signingKeyHash[]

func eventKeySettings(keys eventKeyHash[]) object =>
  reduce(range(0, length(keys)), {}, (settings, i) =>
    union(settings, {
      'EventIngest__Auth__EventKeys__${i}__Hash': keys[i].hash
      'EventIngest__Auth__EventKeys__${i}__Environment': keys[i].environment
      'EventIngest__Auth__EventKeys__${i}__BranchEnvironments': string(keys[i].?branchEnvironments ?? false)
      'EventIngest__Auth__EventKeys__${i}__BranchPrefix': keys[i].?branchPrefix ?? ''
    }))

func signingKeySettings(keys signingKeyHash[]) object =>
  reduce(range(0, length(keys)), {}, (settings, i) =>
    union(settings, {
      'EventIngest__Auth__SigningKeys__${i}__Hash': keys[i].hash
      'EventIngest__Auth__SigningKeys__${i}__Environment': keys[i].environment
      'EventIngest__Auth__SigningKeys__${i}__Scopes': keys[i].?scopes ?? 'read'
    }))

var allSettings = union(appSettings, eventKeySettings(eventKeys), signingKeySettings(signingKeys))

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Inbound stays public: senders reach POST /e/{key} from anywhere. Outbound goes through the VNet when set.
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(allSettings): { name: setting.key, value: setting.value }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
  }

  // Deployments authenticate with Entra ID; publishing passwords stay off.
  resource ftpCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
