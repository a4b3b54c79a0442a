using System.ComponentModel.DataAnnotations;
using Azure.Core;
using Azure.Identity;

namespace EventIngest.Storage;

/// <summary>Where the service keeps its state. Either a connection string (Azurite, local runs)
/// or service URIs reached with a token credential (Azure, managed identity).</summary>
public sealed class StorageOptions
{
    public const string Section = "EventIngest:Storage";

    /// <summary>A storage connection string; when set, the service URIs are ignored.</summary>
    public string? ConnectionString { get; set; }

    public Uri? TableServiceUri { get; set; }
    public Uri? QueueServiceUri { get; set; }
    public Uri? BlobServiceUri { get; set; }

    /// <summary>Client id of a user-assigned managed identity; empty for the default credential chain.</summary>
    public string? ClientId { get; set; }

    /// <summary>Prefix of every table, queue and container name the service creates, so several
    /// deployments (or test runs) can share one account.</summary>
    [RegularExpression("^[a-z][a-z0-9]{0,15}$", ErrorMessage = "EventIngest:Storage:Prefix must be lower-case letters and digits, starting with a letter, at most 16 characters.")]
    public string Prefix { get; set; } = "ei";

    /// <summary>Upper bound on one storage call (including the SDK's own retries) before the
    /// request is answered 503.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Further storage accounts for the queues of routes that name them (a route's <c>Account</c>), by
    /// name: a high-volume route's sends then count against that account's request target, not the one holding
    /// the records and claims (docs/scale.md).</summary>
    public Dictionary<string, QueueAccountOptions> QueueAccounts { get; set; } = new(StringComparer.Ordinal);

    /// <summary>What a host is told when the settings name no account.</summary>
    public const string NoAccountMessage =
        "Set EventIngest:Storage:ConnectionString, or all of EventIngest:Storage:TableServiceUri, QueueServiceUri and BlobServiceUri.";

    /// <summary>A connection string, or all three service URIs.</summary>
    public bool NamesAnAccount =>
        !string.IsNullOrWhiteSpace(ConnectionString) || (TableServiceUri is not null && QueueServiceUri is not null && BlobServiceUri is not null);

    /// <summary>The identity the service URIs are reached with, by storage and Key Vault alike: the user-assigned
    /// managed identity <see cref="ClientId"/>, or the default credential chain.</summary>
    public TokenCredential CreateCredential() =>
        string.IsNullOrWhiteSpace(ClientId)
            ? new DefaultAzureCredential()
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(ClientId));
}

/// <summary>A storage account holding queues only: a connection string, or the queue service URI, reached with
/// the same identity as the main account (<see cref="StorageOptions.ClientId"/>).</summary>
public sealed class QueueAccountOptions
{
    public string? ConnectionString { get; set; }
    public Uri? QueueServiceUri { get; set; }
}
