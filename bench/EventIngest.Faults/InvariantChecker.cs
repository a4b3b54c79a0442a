using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using EventIngest.Ingest;

namespace EventIngest.Faults;

/// <summary>One broken guarantee: which (G1–G4), for which internal id, and what was seen.</summary>
internal sealed record Violation(string Guarantee, string InternalId, string Detail);

/// <summary>Everything the checker found; serialized as result.json.</summary>
internal sealed class ChaosFindings
{
    public List<Violation> Violations { get; } = [];
    public Dictionary<string, int> ViolationsByGuarantee => Violations.GroupBy(v => v.Guarantee).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());
    public int AcknowledgedIds { get; set; }
    public int ExpectedDeliveries { get; set; }
    public int Delivered { get; set; }
    public int CancelledIds { get; set; }
    public int CancelUncertainUndelivered { get; set; }
    public int Messages { get; set; }
    public int Duplicates { get; set; }
    public int MostMessagesForOneQueueAndId { get; set; }
    public double DuplicatesPerKill { get; set; }
    public Dictionary<int, int> DuplicatesAfterKill { get; set; } = [];
    /// <summary>Extra messages of events (not scheduled) whose request was in flight at a kill: sent
    /// before the first attempt, answered after the kill. What a kill can be expected to cost.</summary>
    public int DuplicatesOfRequestsInFlightAtAKill { get; set; }
    /// <summary>Acknowledged events (not scheduled) whose request was in flight at a kill.</summary>
    public int EventsInFlightAtAKill { get; set; }
    /// <summary>Extra messages of events (not scheduled) whose request was in flight at no kill:
    /// answered before any kill reached it (the repair sent a finished request again), or made by a storage fault.</summary>
    public int DuplicatesOfRequestsInFlightAtNoKill { get; set; }
    public double LatencyP50Ms { get; set; }
    public double LatencyP99Ms { get; set; }
    public double LatencyMaxMs { get; set; }
    public double LateThresholdMs { get; set; }
    public List<string> Late { get; } = [];
    public int MessagesForUnacknowledgedIds { get; set; }
    public int UnacknowledgedFromUnansweredRequests { get; set; }
    public int UnacknowledgedOwnIdsOfDuplicates { get; set; }
    public int UnacknowledgedUnknown { get; set; }
    public List<string> UnacknowledgedSamples { get; } = [];
    public int CancelsAnswered200 { get; set; }
    public int ReschedulesAnswered200 { get; set; }
    public int MessagesBetweenChangeStartAndAnswer { get; set; }
    public int ChangedAfterAMessageWasReceived { get; set; }
    public Dictionary<string, int> ApiStates { get; set; } = [];
    public Dictionary<string, int> RecordStates { get; set; } = [];
    public int ApiLookupsFailed { get; set; }
    public int ConsumerErrors { get; set; }
}

/// <summary>
/// Reads what the run recorded (answers, schedule changes, messages a consumer received straight
/// from Azurite) plus the raw event records and the host's own view, and checks four guarantees:
/// <list type="bullet">
/// <item>G1 every acknowledged id reached each queue its name routes to, unless cancelled with a 200 before due;</item>
/// <item>G2 an internal id names one event: every message for it carries the name, id and data the client sent;</item>
/// <item>G3 a cancel or reschedule answered 200 holds: nothing after a cancel, nothing before the new time;</item>
/// <item>G4 an event the API calls <c>delivered</c> was received by the consumer.</item>
/// </list>
/// </summary>
internal sealed class InvariantChecker(
    IReadOnlyList<Ack> acks,
    IReadOnlyList<SentEvent> sent,
    IReadOnlyCollection<int> unansweredRequests,
    IReadOnlyList<ScheduleChangeAttempt> changes,
    IReadOnlyList<ReceivedMessage> messages,
    IReadOnlyList<DateTimeOffset> kills,
    Func<string, IReadOnlyList<string>> queuesFor,
    TimeSpan lateAfter)
{
    private const long EarlyToleranceMs = 1_000;
    private const long OldPlacementToleranceMs = 1_500;

    private readonly ChaosFindings _f = new();

    public async Task<ChaosFindings> CheckAsync(Uri host, string azurite, string prefix = "ei")
    {
        var acked = acks.GroupBy(a => a.InternalId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.OrderBy(a => a.AnsweredAt).ToList(), StringComparer.Ordinal);
        var received = messages.Where(m => !m.Replay).GroupBy(m => m.InternalId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(m => m.ReceivedAt).ToList(), StringComparer.Ordinal);
        var changed = changes.GroupBy(c => c.InternalId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.OrderBy(c => c.Started).ToList(), StringComparer.Ordinal);
        _f.AcknowledgedIds = acked.Count;
        _f.Messages = messages.Count;
        _f.LateThresholdMs = lateAfter.TotalMilliseconds;
        _f.CancelsAnswered200 = changes.Count(c => c.Kind == "cancel" && c.Status == 200);
        _f.ReschedulesAnswered200 = changes.Count(c => c.Kind == "reschedule" && c.Status == 200);

        var latencies = new List<double>();
        foreach (var (id, answers) in acked)
        {
            var got = received.GetValueOrDefault(id) ?? [];
            var history = changed.GetValueOrDefault(id) ?? [];
            CheckContent(id, answers, got, history);
            CheckChanges(id, answers, got, history);
            CheckDelivered(id, answers, got, history, latencies);
        }
        latencies.Sort();
        if (latencies.Count > 0)
        {
            _f.LatencyP50Ms = latencies[latencies.Count / 2];
            _f.LatencyP99Ms = latencies[Math.Min(latencies.Count - 1, (int)(latencies.Count * 0.99))];
            _f.LatencyMaxMs = latencies[^1];
        }

        CountDuplicates(acked);
        ClassifyUnacknowledged(acked, received);
        await CheckApiAsync(host, acked, received);
        _f.RecordStates = await RecordStatesAsync(azurite, prefix);
        return _f;
    }

    /// <summary>G1: each expected queue got the event; time from answer (or due) to first arrival.</summary>
    private void CheckDelivered(string id, List<Ack> answers, List<ReceivedMessage> got, List<ScheduleChangeAttempt> history, List<double> latencies)
    {
        if (history.Any(c => c.Kind == "cancel" && c.Status == 200))
        {
            _f.CancelledIds++;
            return;
        }
        var cancelMayHaveLanded = history.Any(c => c.Kind == "cancel" && (c.Status is 0 or >= 500 || (c.Status == 409 && c.Body.Contains("was cancelled", StringComparison.Ordinal))));
        var expected = queuesFor(answers[0].Event.Name);
        var missing = expected.Where(q => !got.Any(m => m.Queue == q)).ToList();
        if (missing.Count > 0 && cancelMayHaveLanded)
        {
            _f.CancelUncertainUndelivered++;
            return;
        }
        _f.ExpectedDeliveries += expected.Count;
        foreach (var queue in missing)
        {
            _f.Violations.Add(new Violation("G1", id, $"never reached queue {queue} ({Describe(answers)})"));
        }

        // Latency: from the answer, or from when it was due (the last time a reschedule gave it).
        var answered = answers[0].AnsweredAt;
        var uncertain = history.Any(c => c.Kind == "reschedule" && c.Status is 0 or >= 500);
        var lastMove = history.LastOrDefault(c => c.Kind == "reschedule" && c.Status == 200);
        var due = lastMove?.NewTs ?? answers.Select(a => a.Due ?? a.Event.Ts ?? 0).Max();
        var from = due > answered.ToUnixTimeMilliseconds() ? DateTimeOffset.FromUnixTimeMilliseconds(due) : answered;
        if (lastMove is not null && lastMove.Ended > from) from = lastMove.Ended;
        foreach (var queue in expected.Except(missing))
        {
            _f.Delivered++;
            var first = got.First(m => m.Queue == queue).ReceivedAt;
            var latency = Math.Max(0, (first - from).TotalMilliseconds);
            latencies.Add(latency);
            if (!uncertain && latency > lateAfter.TotalMilliseconds)
            {
                _f.Late.Add(string.Create(CultureInfo.InvariantCulture, $"{id} on {queue}: {latency / 1000:0.0} s after {(from == answered ? "the answer" : "due")} ({Describe(answers)})"));
            }
        }
    }

    /// <summary>G2: one id, one event — the one the client sent.</summary>
    private void CheckContent(string id, List<Ack> answers, List<ReceivedMessage> got, List<ScheduleChangeAttempt> history)
    {
        var reference = answers[0].Event;
        foreach (var other in answers.Skip(1).Select(a => a.Event).Where(e => !SameEvent(e, reference)).Take(1))
        {
            _f.Violations.Add(new Violation("G2", id, $"answered for two different events: {Short(reference)} and {Short(other)}"));
        }
        var moved = history.Any(c => c.Kind == "reschedule");
        long? ts = !moved && answers.All(a => a.Event.Ts == reference.Ts) ? reference.Ts : null;
        foreach (var m in got)
        {
            var problems = new List<string>();
            if (m.Name != reference.Name) problems.Add($"name {m.Name} ≠ {reference.Name}");
            if (m.Id != reference.Id) problems.Add($"id {m.Id ?? "null"} ≠ {reference.Id ?? "null"}");
            if (m.Data is null || !JsonEquals(m.Data, reference.Data)) problems.Add($"data {Cut(m.Data)} ≠ {Cut(reference.Data)}");
            if (ts is not null && m.Ts != ts) problems.Add($"ts {m.Ts} ≠ sent {ts}");
            if (problems.Count > 0) _f.Violations.Add(new Violation("G2", id, $"message on {m.Queue} received {m.ReceivedAt:HH:mm:ss.fff}: {string.Join("; ", problems)}"));
        }
        if (!moved)
        {
            var distinctTs = got.Select(m => m.Ts).Distinct().ToList();
            if (distinctTs.Count > 1) _f.Violations.Add(new Violation("G2", id, $"messages carry different ts: {string.Join(", ", distinctTs)}"));
        }
    }

    /// <summary>G3: a 200 to a cancel or reschedule is kept; and nothing scheduled arrives before it is due.</summary>
    private void CheckChanges(string id, List<Ack> answers, List<ReceivedMessage> got, List<ScheduleChangeAttempt> history)
    {
        var placements = new List<long>();
        var original = answers.Select(a => a.Due).FirstOrDefault(d => d is not null);
        if (original is { } due)
        {
            placements.Add(due);
            // Before any change was attempted, nothing may arrive before the original due.
            var firstChange = history.FirstOrDefault()?.Started ?? DateTimeOffset.MaxValue;
            foreach (var m in got.Where(m => m.ReceivedAt < firstChange && m.ReceivedAt.ToUnixTimeMilliseconds() < due - EarlyToleranceMs))
            {
                _f.Violations.Add(new Violation("G3", id, $"received on {m.Queue} {(due - m.ReceivedAt.ToUnixTimeMilliseconds()) / 1000.0:0.0} s before it was due"));
            }
        }

        for (var i = 0; i < history.Count; i++)
        {
            var change = history[i];
            if (change.Status != 200)
            {
                if (change.Kind == "reschedule" && change.NewTs is { } maybe) placements.Add(maybe); // may have landed
                continue;
            }
            var windowEnd = i + 1 < history.Count ? history[i + 1].Started : DateTimeOffset.MaxValue;
            _f.MessagesBetweenChangeStartAndAnswer += got.Count(m => m.ReceivedAt >= change.Started && m.ReceivedAt <= change.Ended);
            if (got.Any(m => m.ReceivedAt < change.Started)) _f.ChangedAfterAMessageWasReceived++;

            if (change.Kind == "cancel")
            {
                foreach (var m in got.Where(m => m.ReceivedAt > change.Ended))
                {
                    _f.Violations.Add(new Violation("G3", id, $"cancel answered 200 at {change.Ended:HH:mm:ss.fff}, yet received on {m.Queue} at {m.ReceivedAt:HH:mm:ss.fff}"));
                }
                continue;
            }

            var ts = change.NewTs!.Value;
            var after = got.Where(m => m.ReceivedAt > change.Ended && m.ReceivedAt < windowEnd).ToList();
            foreach (var m in after)
            {
                var at = m.ReceivedAt.ToUnixTimeMilliseconds();
                if (at < ts - EarlyToleranceMs)
                {
                    _f.Violations.Add(new Violation("G3", id, $"rescheduled to {Time(ts)} (answered {change.Ended:HH:mm:ss.fff}), yet received on {m.Queue} at {m.ReceivedAt:HH:mm:ss.fff}, {(ts - at) / 1000.0:0.0} s early{(placements.Any(p => Math.Abs(at - p) <= OldPlacementToleranceMs) ? ", at an earlier placement's time" : "")}"));
                }
                // The envelope's ts names the placement that released it (a reschedule rewrites both in one update).
                else if (m.Ts != ts && at > ts + OldPlacementToleranceMs && placements.Any(p => Math.Abs(at - p) <= OldPlacementToleranceMs))
                {
                    _f.Violations.Add(new Violation("G3", id, $"rescheduled to {Time(ts)}, yet received on {m.Queue} at {m.ReceivedAt:HH:mm:ss.fff} with ts {m.Ts}, at an earlier placement's time"));
                }
            }
            var final = i == history.Count - 1;
            if (final && got.Count > 0 && !got.Any(m => m.ReceivedAt > change.Ended && m.ReceivedAt.ToUnixTimeMilliseconds() >= ts - EarlyToleranceMs))
            {
                _f.Violations.Add(new Violation("G3", id, $"rescheduled to {Time(ts)} (answered {change.Ended:HH:mm:ss.fff}) but never received at the new time; received at {string.Join(", ", got.Select(m => $"{m.Queue} {m.ReceivedAt:HH:mm:ss.fff}"))}"));
            }
            placements.Add(ts);
        }
    }

    /// <summary>G4 and the API's view: an event called <c>delivered</c> must have been received.</summary>
    private async Task CheckApiAsync(Uri host, Dictionary<string, List<Ack>> acked, Dictionary<string, List<ReceivedMessage>> received)
    {
        using var client = new HttpClient { BaseAddress = host, Timeout = TimeSpan.FromSeconds(30) };
        var states = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var violations = new ConcurrentQueue<Violation>();
        var failed = 0;
        await Parallel.ForEachAsync(acked.Keys, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, ct) =>
        {
            for (var attempt = 0; attempt < 5; attempt++)
            {
                try
                {
                    using var response = await client.GetAsync($"v1/events/{id}", ct);
                    if ((int)response.StatusCode >= 500)
                    {
                        await Task.Delay(500, ct);
                        continue;
                    }
                    if (!response.IsSuccessStatusCode)
                    {
                        states.AddOrUpdate($"http {(int)response.StatusCode}", 1, (_, n) => n + 1);
                        violations.Enqueue(new Violation("G4", id, $"acknowledged, but GET /v1/events/{id} answers {(int)response.StatusCode}"));
                        return;
                    }
                    using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
                    var state = json.RootElement.GetProperty("data").GetProperty("state").GetString() ?? "null";
                    states.AddOrUpdate(state, 1, (_, n) => n + 1);
                    if (state == "delivered" && !received.ContainsKey(id))
                    {
                        violations.Enqueue(new Violation("G4", id, $"API says delivered, no message was received ({Describe(acked[id])})"));
                    }
                    return;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    await Task.Delay(500, ct);
                }
            }
            Interlocked.Increment(ref failed);
        });
        _f.Violations.AddRange(violations);
        _f.ApiStates = states.OrderBy(s => s.Key).ToDictionary(s => s.Key, s => s.Value);
        _f.ApiLookupsFailed = failed;
    }

    private void CountDuplicates(Dictionary<string, List<Ack>> acked)
    {
        bool InFlightAtAKill(Ack first) => kills.Any(k => first.FirstSent <= k && k <= first.AnsweredAt);
        _f.EventsInFlightAtAKill = acked.Values.Count(a => a[0].Due is null && InFlightAtAKill(a[0]));
        var perQueueAndId = messages.Where(m => !m.Replay).GroupBy(m => (m.Queue, m.InternalId)).ToList();
        _f.Duplicates = perQueueAndId.Sum(g => g.Count() - 1);
        _f.MostMessagesForOneQueueAndId = perQueueAndId.Count == 0 ? 0 : perQueueAndId.Max(g => g.Count());
        _f.DuplicatesPerKill = kills.Count == 0 ? 0 : (double)_f.Duplicates / kills.Count;
        // Attribute each extra message to the last kill before the message was put on the queue.
        var ordered = kills.Order().ToList();
        foreach (var extra in perQueueAndId.SelectMany(g => g.OrderBy(m => m.InsertedOn ?? m.ReceivedAt).Skip(1)))
        {
            var at = extra.InsertedOn ?? extra.ReceivedAt;
            var kill = ordered.FindLastIndex(k => k <= at) + 1; // 0: before the first kill
            _f.DuplicatesAfterKill[kill] = _f.DuplicatesAfterKill.GetValueOrDefault(kill) + 1;
            if (acked.GetValueOrDefault(extra.InternalId) is [var first, ..] && first.Due is null)
            {
                if (InFlightAtAKill(first)) _f.DuplicatesOfRequestsInFlightAtAKill++;
                else _f.DuplicatesOfRequestsInFlightAtNoKill++;
            }
        }
    }

    /// <summary>Messages for ids no answer gave: from requests never answered, or an event's own id after it was answered as a duplicate of another.</summary>
    private void ClassifyUnacknowledged(Dictionary<string, List<Ack>> acked, Dictionary<string, List<ReceivedMessage>> received)
    {
        var bySeedId = sent.GroupBy(e => e.SeedId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var unanswered = unansweredRequests.ToHashSet();
        foreach (var (id, got) in received)
        {
            if (acked.ContainsKey(id)) continue;
            _f.MessagesForUnacknowledgedIds += got.Count;
            string kind;
            if (bySeedId.TryGetValue(id, out var e) && unanswered.Contains(e.Request))
            {
                _f.UnacknowledgedFromUnansweredRequests += got.Count;
                kind = "request never answered";
            }
            else if (e is not null)
            {
                _f.UnacknowledgedOwnIdsOfDuplicates += got.Count;
                kind = $"own id of request {e.Request} event {e.Position} ({Short(e)}), which was answered with another id";
            }
            else
            {
                _f.UnacknowledgedUnknown += got.Count;
                kind = $"unknown id ({got[0].Name})";
            }
            if (_f.UnacknowledgedSamples.Count < 20) _f.UnacknowledgedSamples.Add($"{id}: {got.Count} message(s), {kind}");
        }
    }

    /// <summary>Everything recorded about one id, in time order: for reading a violation.</summary>
    public IEnumerable<string> Trace(string id)
    {
        var lines = new List<(DateTimeOffset At, string Text)>();
        foreach (var e in sent.Where(e => e.SeedId == id)) lines.Add((DateTimeOffset.MinValue, $"sent as request {e.Request} event {e.Position}: {Short(e)} ts={e.Ts}"));
        foreach (var a in acks.Where(a => a.InternalId == id)) lines.Add((a.AnsweredAt, $"answered {a.Outcome}{(a.Due is { } d ? " due " + Time(d) : "")} (first sent {a.FirstSent:HH:mm:ss.fff}) for request {a.Event.Request} event {a.Event.Position}, ts={a.Event.Ts}"));
        foreach (var c in changes.Where(c => c.InternalId == id)) lines.Add((c.Started, $"{c.Kind}{(c.NewTs is { } t ? " to " + Time(t) : "")} {c.Started:HH:mm:ss.fff}..{c.Ended:HH:mm:ss.fff} → {c.Status} {c.Body}"));
        foreach (var m in messages.Where(m => m.InternalId == id)) lines.Add((m.ReceivedAt, $"received on {m.Queue} (inserted {m.InsertedOn:HH:mm:ss.fff}, dequeue {m.DequeueCount}, message {m.MessageId}) ts={m.Ts}{(m.Ts is { } mt ? " " + Time(mt) : "")}{(m.ClaimCheck ? " claim-checked" : "")}"));
        return lines.OrderBy(l => l.At).Select(l => (l.At == DateTimeOffset.MinValue ? "             " : l.At.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)) + "  " + l.Text);
    }

    private static async Task<Dictionary<string, int>> RecordStatesAsync(string azurite, string prefix)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        await foreach (var row in new TableClient(azurite, prefix + "events").QueryAsync<TableEntity>(select: ["State"]))
        {
            var state = row.GetString("State") ?? "null";
            counts[state] = counts.GetValueOrDefault(state) + 1;
        }
        return counts;
    }

    private static bool SameEvent(SentEvent a, SentEvent b) => a.Name == b.Name && a.Id == b.Id && JsonEquals(a.Data, b.Data);

    private static bool JsonEquals(string a, string b)
    {
        if (a == b) return true;
        using var x = JsonDocument.Parse(a);
        using var y = JsonDocument.Parse(b);
        return JsonElement.DeepEquals(x.RootElement, y.RootElement);
    }

    private static string Describe(List<Ack> answers)
    {
        var a = answers[0];
        return string.Create(CultureInfo.InvariantCulture,
            $"{a.Outcome}{(a.Due is { } d ? " due " + Time(d) : "")}, answered {a.AnsweredAt:HH:mm:ss.fff}, request {a.Event.Request} event {a.Event.Position}, {Short(a.Event)}");
    }

    private static string Short(SentEvent e) => $"{e.Name}{(e.Id is null ? "" : " id=" + e.Id)} data={Cut(e.Data)}";

    private static string Cut(string? text) => text is null ? "null" : text.Length > 80 ? text[..80] + "…" : text;

    private static string Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
}
