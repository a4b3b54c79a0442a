using System.Net;
using System.Net.Sockets;

namespace EventIngest.Tests.Infrastructure;

/// <summary>A loopback port every connection to is refused, for the whole test run. The socket stays
/// bound without listening: a port only looked up and let go could be taken by the next server a
/// parallel test starts, and a storage call would then get that server's answer instead of a refusal.</summary>
internal static class DeadPort
{
    private static readonly Socket Holder = Bind();

    public static int Port { get; } = ((IPEndPoint)Holder.LocalEndPoint!).Port;

    public static string Endpoint => $"http://127.0.0.1:{Port}/devstoreaccount1";

    private static Socket Bind()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }
}
