@description('User-assigned managed identity that receives the roles.')
param identityName string

@description('Storage account the storage roles are scoped to.')
param storageAccountName string

@description('Role definition ids (GUIDs) granted on the storage account.')
param storageRoleIds string[]

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
