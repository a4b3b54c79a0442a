namespace EventIngest.StorageFaults;

/// <summary>Works out a request's <see cref="StorageOperation"/> from its method, target and tunnelling header.</summary>
internal static class RequestClassifier
{
    public static StorageOperation Classify(StorageService service, string method, string target, string? tunnelledMethod, string accountName)
    {
        var question = target.IndexOf('?', StringComparison.Ordinal);
        var path = question < 0 ? target : target[..question];
        var query = question < 0 ? "" : target[(question + 1)..];
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToList();
        if (segments.Count > 0 && segments[0] == accountName) segments.RemoveAt(0);
        var parameters = ParseQuery(query);
        return service switch
        {
            StorageService.Table => Table(method, tunnelledMethod, segments, parameters),
            StorageService.Queue => Queue(method, segments, parameters),
            _ => Blob(method, segments, parameters),
        };
    }

    private static StorageOperation Table(string method, string? tunnelled, List<string> segments, Dictionary<string, string> query)
    {
        if (segments.Count != 1 || query.ContainsKey("comp")) return StorageOperation.TableOther;
        var resource = segments[0];
        if (resource.Equals("$batch", StringComparison.Ordinal)) return StorageOperation.TableBatch;
        if (resource.Equals("Tables", StringComparison.OrdinalIgnoreCase) || resource.StartsWith("Tables(", StringComparison.OrdinalIgnoreCase))
        {
            return StorageOperation.TableOther;
        }
        var effective = method == "POST" && !string.IsNullOrEmpty(tunnelled) ? tunnelled.ToUpperInvariant() : method;
        var paren = resource.IndexOf('(', StringComparison.Ordinal);
        var isEntity = paren > 0 && !resource.EndsWith("()", StringComparison.Ordinal);
        return effective switch
        {
            "GET" => StorageOperation.TableRead,
            "POST" when !isEntity => StorageOperation.TableInsert,
            "PUT" or "MERGE" or "PATCH" when isEntity => StorageOperation.TableUpdate,
            "DELETE" when isEntity => StorageOperation.TableDelete,
            _ => StorageOperation.TableOther,
        };
    }

    private static StorageOperation Queue(string method, List<string> segments, Dictionary<string, string> query)
    {
        if (segments.Count < 2 || !segments[1].Equals("messages", StringComparison.Ordinal)) return StorageOperation.QueueOther;
        if (segments.Count == 2)
        {
            return method switch
            {
                "POST" => StorageOperation.QueueSend,
                "GET" when query.TryGetValue("peekonly", out var peek) && peek.Equals("true", StringComparison.OrdinalIgnoreCase) => StorageOperation.QueuePeek,
                "GET" => StorageOperation.QueueReceive,
                _ => StorageOperation.QueueOther, // DELETE: clear the queue
            };
        }
        if (segments.Count != 3) return StorageOperation.QueueOther;
        return method switch
        {
            "DELETE" => StorageOperation.QueueDeleteMessage,
            "PUT" => StorageOperation.QueueUpdateMessage,
            _ => StorageOperation.QueueOther,
        };
    }

    private static StorageOperation Blob(string method, List<string> segments, Dictionary<string, string> query)
    {
        if (segments.Count < 2) return StorageOperation.BlobOther; // the service or a container
        query.TryGetValue("comp", out var comp);
        return method switch
        {
            "PUT" when comp is null or "block" or "blocklist" or "appendblock" or "page" => StorageOperation.BlobWrite,
            "GET" or "HEAD" when comp is null => StorageOperation.BlobRead,
            _ => StorageOperation.BlobOther,
        };
    }

    private static Dictionary<string, string> ParseQuery(string query)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            result[key] = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
        }
        return result;
    }
}
