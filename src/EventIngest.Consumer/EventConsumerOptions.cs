using System.Text.Json;

namespace EventIngest.Consumer;

/// <summary>How <see cref="EventReader"/> reads events and where <see cref="EventInbox"/> keeps its state.</summary>
public sealed class EventConsumerOptions
{
    internal static readonly JsonSerializerOptions DefaultSerializerOptions = new(JsonSerializerDefaults.Web);

    /// <summary>How event data is read (default: <see cref="JsonSerializerDefaults.Web"/>, as the .NET client writes it).</summary>
    public JsonSerializerOptions SerializerOptions { get; set; } = DefaultSerializerOptions;

    /// <summary>Open each event's sealed <c>user</c> (default true). Needs access to the key table and the Key Vault
    /// key (<c>EventIngest:Encryption:*</c>); with false, <see cref="ReceivedEvent.User"/> stays null and no key
    /// access is needed.</summary>
    public bool OpenUser { get; set; } = true;

    /// <summary>Table of the inbox (default <c>{EventIngest:Storage:Prefix}inbox</c>, in the service's storage account).</summary>
    public string? InboxTableName { get; set; }

    /// <summary>
    /// How long a delivery being handled holds its event (default 5 minutes). Other deliveries of the event are
    /// dropped meanwhile; after it, one may take over (the holder presumably crashed). Make it longer than the
    /// handler's longest run (the function timeout) and shorter than the time a crashed consumer's message takes to
    /// become visible again (10 minutes for a Functions QueueTrigger).
    /// </summary>
    public TimeSpan InboxLease { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long the inbox remembers a handled event (default 7 days) before
    /// <see cref="EventInbox.PurgeAsync"/> removes it. Repeated deliveries come within minutes.</summary>
    public TimeSpan InboxRetention { get; set; } = TimeSpan.FromDays(7);
}
