using System.Collections.Concurrent;
using Azure.Core;

namespace EventIngest.Tests.Encryption;

/// <summary>Issues opaque tokens <c>fake-token.{tenant}.{n}</c> for whatever tenant is asked (or its home tenant).</summary>
internal sealed class FakeTokenCredential(string homeTenant = "home-tenant") : TokenCredential
{
    private int _issued;

    public ConcurrentQueue<TokenRequestContext> Requests { get; } = new();

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        Requests.Enqueue(requestContext);
        var tenant = requestContext.TenantId ?? homeTenant;
        return new AccessToken($"fake-token.{tenant}.{Interlocked.Increment(ref _issued)}", DateTimeOffset.UtcNow.AddHours(1));
    }

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        new(GetToken(requestContext, cancellationToken));
}
