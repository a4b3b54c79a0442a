using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace EventIngest.StorageFaults;

/// <summary>
/// An HTTP/1.1 proxy in front of Azurite's three endpoints that fails requests by rule: slow, throttled, erroring,
/// hanging, or dropping the connection before or after the request reached storage. It exists so tests and fault runs
/// can produce the failures real Azure Storage produces (above all "the write landed but the answer was lost", which a
/// TCP-level cut cannot target) with the real SDK clients and the real emulator, reproducibly.
/// </summary>
/// <remarks>
/// Each client connection gets its own upstream connection; requests and responses are forwarded byte for byte, so
/// SharedKey signatures stay valid. Faults affect only the connection of the request they hit.
/// </remarks>
public sealed class StorageFaultProxy : IAsyncDisposable
{
    private static readonly byte[] ContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();

    private readonly List<Listener> listeners = [];
    private readonly List<FaultRule> rules = [];
    private readonly ConcurrentDictionary<Connection, byte> live = new();
    private readonly long[] injected = new long[Enum.GetValues<FaultKind>().Length];
    private readonly CancellationTokenSource stopping = new();
    private readonly Random random;
    private readonly string accountName;
    private volatile bool cut;
    private long forwarded;
    private int disposed;

    private StorageFaultProxy(string azuriteConnectionString, int seed)
    {
        random = new Random(seed);
        var parts = azuriteConnectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        accountName = parts.Select(p => p.Split('=', 2)).FirstOrDefault(p => p[0].Equals("AccountName", StringComparison.OrdinalIgnoreCase))?[1] ?? "devstoreaccount1";
        for (var i = 0; i < parts.Count; i++)
        {
            var eq = parts[i].IndexOf('=', StringComparison.Ordinal);
            if (eq < 0) continue;
            StorageService? service = parts[i][..eq].ToUpperInvariant() switch
            {
                "BLOBENDPOINT" => StorageService.Blob,
                "QUEUEENDPOINT" => StorageService.Queue,
                "TABLEENDPOINT" => StorageService.Table,
                _ => null,
            };
            if (service is null) continue;
            var target = new Uri(parts[i][(eq + 1)..]);
            if (target.Scheme != Uri.UriSchemeHttp) throw new ArgumentException($"only http endpoints can be proxied: {target}", nameof(azuriteConnectionString));
            var listener = new Listener(service.Value, new DnsEndPoint(target.Host, target.Port));
            listeners.Add(listener);
            parts[i] = $"{parts[i][..eq]}=http://127.0.0.1:{listener.Port}{target.AbsolutePath.TrimEnd('/')}";
        }
        if (listeners.Count == 0)
        {
            throw new ArgumentException("the connection string names no BlobEndpoint, QueueEndpoint or TableEndpoint", nameof(azuriteConnectionString));
        }
        ConnectionString = string.Join(';', parts) + ";";
    }

    /// <summary>The same account and key as the Azurite connection string, with every endpoint pointing at the proxy.</summary>
    public string ConnectionString { get; }

    /// <summary>
    /// Storage gone: setting it resets every live connection at once and resets new ones as they arrive, until it is
    /// set back to <see langword="false"/>.
    /// </summary>
    public bool IsCut
    {
        get => cut;
        set
        {
            cut = value;
            if (value) foreach (var connection in live.Keys) connection.Reset();
        }
    }

    /// <summary>Requests forwarded to Azurite (including those whose answer was then dropped).</summary>
    public long Forwarded => Interlocked.Read(ref forwarded);

    /// <summary>Faults applied so far, by kind (every kind present, zero if never applied).</summary>
    public IReadOnlyDictionary<FaultKind, long> Injected =>
        Enum.GetValues<FaultKind>().ToDictionary(kind => kind, kind => Interlocked.Read(ref injected[(int)kind]));

    /// <summary>Raised for every request, before the rules are applied, so a test can wait for a request to arrive.</summary>
    public event Action<ProxiedRequest>? RequestSeen;

    /// <summary>Starts listening on free loopback ports, one per endpoint in <paramref name="azuriteConnectionString"/>.</summary>
    /// <param name="azuriteConnectionString">Connection string with explicit <c>BlobEndpoint=</c>, <c>QueueEndpoint=</c>, <c>TableEndpoint=</c>.</param>
    /// <param name="seed">Seed of the random source behind <see cref="FaultRule.Probability"/> and <see cref="FaultRule.LongTail"/>.</param>
    public static Task<StorageFaultProxy> StartAsync(string azuriteConnectionString, int seed = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(azuriteConnectionString);
        var proxy = new StorageFaultProxy(azuriteConnectionString, seed);
        foreach (var listener in proxy.listeners) listener.Accepting = proxy.AcceptAsync(listener);
        return Task.FromResult(proxy);
    }

    /// <summary>Adds a rule after the existing ones and returns it (to read <see cref="FaultRule.Applied"/> later).</summary>
    public FaultRule Add(FaultRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        lock (rules) rules.Add(rule);
        return rule;
    }

    /// <summary>Removes a rule; requests already past the rules are not affected.</summary>
    public void Remove(FaultRule rule)
    {
        lock (rules) rules.Remove(rule);
    }

    /// <summary>Removes every rule.</summary>
    public void Clear()
    {
        lock (rules) rules.Clear();
    }

    /// <summary>Stops listening, resets every connection (ending held requests) and waits for all work to finish.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        await stopping.CancelAsync();
        foreach (var listener in listeners) listener.Socket.Dispose();
        foreach (var listener in listeners)
        {
            if (listener.Accepting is { } accepting) await accepting;
        }
        foreach (var connection in live.Keys) connection.Reset();
        await Task.WhenAll(live.Keys.Select(c => c.Serving ?? Task.CompletedTask));
        stopping.Dispose();
    }

    private async Task AcceptAsync(Listener listener)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.Socket.AcceptAsync(stopping.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            client.NoDelay = true;
            var connection = new Connection(client, stopping.Token);
            if (cut)
            {
                connection.Reset();
                connection.Close();
                continue;
            }
            live[connection] = 0;
            connection.Serving = Task.Run(() => ServeAsync(listener, connection));
        }
    }

    private async Task ServeAsync(Listener listener, Connection connection)
    {
        var token = connection.Aborted;
        try
        {
            using var clientStream = new NetworkStream(connection.Client, ownsSocket: false);
            var reader = new HttpReader(clientStream);
            while (!token.IsCancellationRequested)
            {
                var raw = await reader.ReadHeadAsync(token);
                if (raw is null) return;
                var head = HttpHead.Parse(raw);
                var startLine = head.StartLine.Split(' ');
                if (startLine.Length < 3) throw new InvalidDataException($"malformed request line: {head.StartLine}");
                var (method, target) = (startLine[0], startLine[1]);
                if (head.HasToken("Expect", "100-continue"))
                {
                    // Answer it here: the body is read whole before anything is forwarded.
                    await clientStream.WriteAsync(ContinueResponse, token);
                    head = head.Without("Expect");
                }
                using var body = new MemoryStream();
                await reader.ReadBodyAsync(head, untilClose: false, body, token);

                var request = new ProxiedRequest(
                    listener.Service,
                    RequestClassifier.Classify(listener.Service, method, target, head.Get("X-HTTP-Method"), accountName),
                    method,
                    target) { Body = body.GetBuffer().AsMemory(0, (int)body.Length) };
                RequestSeen?.Invoke(request);
                if (cut)
                {
                    connection.Reset();
                    return;
                }

                var rule = Pick(request);
                if (rule is not null) Interlocked.Increment(ref injected[(int)rule.Kind]);
                switch (rule?.Kind)
                {
                    case FaultKind.Latency:
                        await Task.Delay(DelayOf(rule), token);
                        break;
                    case FaultKind.ServerBusy:
                        await clientStream.WriteAsync(StorageErrors.Response(listener.Service, 503, "ServerBusy", method == "HEAD"), token);
                        continue;
                    case FaultKind.InternalError:
                        await clientStream.WriteAsync(StorageErrors.Response(listener.Service, 500, "InternalError", method == "HEAD"), token);
                        continue;
                    case FaultKind.Timeout:
                        await reader.DrainUntilClosedAsync(token);
                        return;
                    case FaultKind.ResetBeforeForward:
                        connection.Reset();
                        return;
                }

                var (response, upstreamCloses) = await ForwardAsync(listener, connection, head, body, method, token);
                Interlocked.Increment(ref forwarded);
                if (rule?.Kind == FaultKind.ResetAfterForward || cut)
                {
                    connection.Reset();
                    return;
                }
                await clientStream.WriteAsync(response, token);
                if (upstreamCloses || head.HasToken("Connection", "close")) return;
            }
        }
        catch (Exception)
        {
            // The connection broke, was reset on purpose, the proxy is stopping, or the request was not HTTP the
            // proxy understands: the client sees its connection end, and nothing else is affected.
        }
        finally
        {
            connection.Close();
            live.TryRemove(connection, out _);
        }
    }

    /// <summary>Sends the request upstream on the connection's own Azurite connection and reads the whole response.</summary>
    private static async Task<(byte[] Response, bool Closes)> ForwardAsync(
        Listener listener, Connection connection, HttpHead head, MemoryStream body, string method, CancellationToken token)
    {
        for (var attempt = 0; ; attempt++)
        {
            var upstream = connection.Upstream;
            if (upstream is null || upstream.IsClosedByPeer())
            {
                upstream?.Dispose();
                upstream = connection.Upstream = await Upstream.ConnectAsync(listener.Target, token);
            }
            var reused = upstream.Used;
            upstream.Used = true;
            byte[]? responseHead = null;
            try
            {
                await upstream.Stream.WriteAsync(head.Raw, token);
                if (body.Length > 0) await upstream.Stream.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length), token);
                while (true)
                {
                    responseHead = await upstream.Reader.ReadHeadAsync(token);
                    if (responseHead is null) throw new EndOfStreamException("Azurite closed the connection without answering");
                    var parsed = HttpHead.Parse(responseHead);
                    var status = int.Parse(parsed.StartLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                    if (status is >= 100 and < 200) continue; // interim (100 Continue); the client got its own
                    var response = new MemoryStream();
                    response.Write(responseHead);
                    var noBody = method == "HEAD" || status is 204 or 304;
                    var untilClose = !noBody && !parsed.IsChunked && parsed.ContentLength is null;
                    if (!noBody) await upstream.Reader.ReadBodyAsync(parsed, untilClose, response, token);
                    var closes = untilClose || parsed.HasToken("Connection", "close");
                    if (closes)
                    {
                        upstream.Dispose();
                        connection.Upstream = null;
                    }
                    return (response.ToArray(), closes);
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException && reused && attempt == 0 && responseHead is null)
            {
                // A kept-alive upstream connection that Azurite closed as idle just as the request went out: nothing
                // was processed, so send it again on a fresh connection (as HttpClient does for pooled connections).
                upstream.Dispose();
                connection.Upstream = null;
            }
        }
    }

    private FaultRule? Pick(ProxiedRequest request)
    {
        FaultRule[] snapshot;
        lock (rules) snapshot = [.. rules];
        foreach (var rule in snapshot)
        {
            if (!rule.Matches(request)) continue;
            if (rule.Probability < 1.0)
            {
                double draw;
                lock (random) draw = random.NextDouble();
                if (draw >= rule.Probability) continue;
            }
            if (rule.TryClaim()) return rule;
        }
        return null;
    }

    private TimeSpan DelayOf(FaultRule rule)
    {
        var delay = rule.Delay;
        if (rule.LongTail > TimeSpan.Zero)
        {
            double u;
            lock (random) u = random.NextDouble();
            delay += rule.LongTail * -Math.Log(1.0 - u);
        }
        return delay;
    }

    private sealed class Listener
    {
        public Listener(StorageService service, DnsEndPoint target)
        {
            Service = service;
            Target = target;
            Socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            Socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Socket.Listen(512);
        }

        public StorageService Service { get; }

        public DnsEndPoint Target { get; }

        public Socket Socket { get; }

        public int Port => ((IPEndPoint)Socket.LocalEndPoint!).Port;

        public Task? Accepting { get; set; }
    }

    /// <summary>One client connection and the Azurite connection paired with it.</summary>
    private sealed class Connection(Socket client, CancellationToken stopping)
    {
        private readonly CancellationTokenSource aborted = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        private int closed;

        public Socket Client { get; } = client;

        /// <summary>Cancelled when the connection is reset or the proxy stops: a delayed request must not land after that.</summary>
        public CancellationToken Aborted => aborted.Token;

        public Upstream? Upstream { get; set; }

        public Task? Serving { get; set; }

        /// <summary>Aborts the client connection with a TCP RST (not a FIN), as a dropped connection looks.</summary>
        public void Reset()
        {
            if (Interlocked.Exchange(ref closed, 1) == 0)
            {
                try
                {
                    Client.LingerState = new LingerOption(true, 0);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                }
                Client.Dispose();
            }
            try
            {
                aborted.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
            Upstream?.Dispose();
        }

        /// <summary>Ends the connection gracefully (if not reset already); called once, when serving it ends.</summary>
        public void Close()
        {
            if (Interlocked.Exchange(ref closed, 1) == 0)
            {
                try
                {
                    Client.Shutdown(SocketShutdown.Both);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                }
                Client.Dispose();
            }
            Upstream?.Dispose();
            aborted.Dispose();
        }
    }

    private sealed class Upstream : IDisposable
    {
        private Upstream(Socket socket)
        {
            Socket = socket;
            Stream = new NetworkStream(socket, ownsSocket: true);
            Reader = new HttpReader(Stream);
        }

        public Socket Socket { get; }

        public NetworkStream Stream { get; }

        public HttpReader Reader { get; }

        public bool Used { get; set; }

        public static async Task<Upstream> ConnectAsync(DnsEndPoint target, CancellationToken token)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(target, token);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            return new Upstream(socket);
        }

        /// <summary>An idle connection that is readable with nothing to read has been closed by Azurite.</summary>
        public bool IsClosedByPeer()
        {
            try
            {
                return Socket.Poll(0, SelectMode.SelectRead) && Socket.Available == 0;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return true;
            }
        }

        public void Dispose() => Stream.Dispose();
    }
}
