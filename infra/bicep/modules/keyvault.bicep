@description('Name of the key vault (3-24 letters, digits and hyphens).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the vault.')
param tags object

@description('Name of the key-encryption key that protects event `user` data.')
param keyName string

@description('RSA modulus size of the key-encryption key.')
@allowed([
  2048
  3072
])
param keySize int

@description('ISO 8601 duration after which Key Vault creates a new key version (for example P1Y).')
param keyRotationInterval string

@description('ISO 8601 lifetime of each key version (for example P2Y). Expired versions still unwrap, so old data stays readable.')
param keyVersionLifetime string

@description('Days a deleted vault or key can be recovered (7-90).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

@description('True to refuse every request that does not come through a private endpoint.')
param privateNetworkOnly bool

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    // Private: only the private endpoint reaches the vault. Trusted Azure services keep their bypass, but
    // still need a role on the key, which only the app's identity has.
    publicNetworkAccess: privateNetworkOnly ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetworkOnly ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }

  // ARM creates the key once; later deployments leave an existing key (and its rotation policy) as it is.
  resource key 'keys' = {
    name: keyName
    properties: {
      kty: 'RSA'
      keySize: keySize
      // Envelope encryption only: the key never encrypts data or signs.
      keyOps: [
        'wrapKey'
        'unwrapKey'
      ]
      attributes: {
        enabled: true
        exportable: false
      }
      rotationPolicy: {
        attributes: {
          expiryTime: keyVersionLifetime
        }
        lifetimeActions: [
          {
            trigger: {
              timeAfterCreate: keyRotationInterval
            }
            action: {
              type: 'rotate'
            }
          }
          {
            trigger: {
              timeBeforeExpiry: 'P30D'
            }
            action: {
              type: 'notify'
            }
          }
        ]
      }
    }
  }
}

output name string = vault.name
output vaultUri string = vault.properties.vaultUri
// Versionless: the app wraps with the newest version and records the versioned kid it used.
output keyUri string = vault::key.properties.keyUri
