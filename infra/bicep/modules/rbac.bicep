@description('User-assigned managed identity that receives the roles.')
param identityName string

@description('Storage account the storage roles are scoped to.')
param storageAccountName string

@description('Role definition ids (GUIDs) granted on the storage account.')
param storageRoleIds string[]

@description('Storage accounts holding only queues: each gets Storage Queue Data Contributor, nothing else.')
param queueAccountNames string[] = []

@description('Key vault holding the key-encryption key.')
param keyVaultName string

@description('Key the Key Vault roles are scoped to (not the whole vault).')
param keyName string

@description('Role definition ids (GUIDs) granted on the key.')
param keyRoleIds string[]

@description('Application Insights component the monitoring roles are scoped to.')
param applicationInsightsName string

@description('Role definition ids (GUIDs) granted on Application Insights.')
param monitoringRoleIds string[]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' existing = {
  name: identityName
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource queueAccounts 'Microsoft.Storage/storageAccounts@2025-01-01' existing = [
  for accountName in queueAccountNames: {
    name: accountName
  }
]

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName

  resource key 'keys' existing = {
    name: keyName
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoleIds: {
    name: guid(storageAccount.id, identity.id, roleId)
    scope: storageAccount
    properties: {
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]

// Storage Queue Data Contributor: send, and the peeks and counts of the console and health checks.
var queueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'

resource queueRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (accountName, i) in queueAccountNames: {
    name: guid(queueAccounts[i].id, identity.id, queueDataContributor)
    scope: queueAccounts[i]
    properties: {
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
    }
  }
]

resource keyRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in keyRoleIds: {
    name: guid(vault::key.id, identity.id, roleId)
    scope: vault::key
    properties: {
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]

resource monitoringRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in monitoringRoleIds: {
    name: guid(applicationInsights.id, identity.id, roleId)
    scope: applicationInsights
    properties: {
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]
