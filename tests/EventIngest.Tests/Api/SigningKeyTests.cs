using System.Text.Json;
using EventIngest.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static EventIngest.Tests.Infrastructure.KeyHashes;
using EventIngest.Ingest;
using EventIngest.Auth;

namespace EventIngest.Tests.Api;

public sealed class SigningKeyTests
{
    private static SigningKeys Keys(bool require = true, params (string Key, string Environment)[] keys) => new(Options.Create(new AuthOptions
    {
        RequireSigningKeys = require,
        SigningKeys = keys.Select(k => new SigningKeyHash { Hash = Hash(k.Key), Environment = k.Environment }).ToList(),
    }));

    [Theory]
    [InlineData(null, nameof(SigningKeyCheck.Missing))]
    [InlineData("", nameof(SigningKeyCheck.Missing))]
    [InlineData("Bearer ", nameof(SigningKeyCheck.Missing))]
    [InlineData("Basic a2V5OmtleQ==", nameof(SigningKeyCheck.Missing))]
    [InlineData("prod-key", nameof(SigningKeyCheck.Missing))]
    [InlineData("Bearer wrong", nameof(SigningKeyCheck.Unknown))]
    [InlineData("Bearer prod-key-", nameof(SigningKeyCheck.Unknown))]
    [InlineData("Bearer prod-key", nameof(SigningKeyCheck.Ok))]
    [InlineData("bearer  prod-key ", nameof(SigningKeyCheck.Ok))]
    // The expected result by name: SigningKeyCheck is internal, and a public test method cannot take it.
    public void OnlyABearerKeyMatchingAConfiguredHashIsAccepted(string? authorization, string expectedName)
    {
        var expected = Enum.Parse<SigningKeyCheck>(expectedName);
        var keys = Keys(true, ("prod-key", "production"), ("stage-key", "staging"));
        Assert.Equal(expected, keys.Check(authorization, null, out var environment));
        Assert.Equal(expected == SigningKeyCheck.Ok ? "production" : "", environment);
    }

    [Fact]
    public void EachKeyReadsItsOwnEnvironmentOnly()
    {
        var keys = Keys(true, ("prod-key", "production"), ("stage-key", "staging"));
        Assert.Equal(SigningKeyCheck.Ok, keys.Check("Bearer stage-key", null, out var environment));
        Assert.Equal("staging", environment);
        Assert.Equal(SigningKeyCheck.Ok, keys.Check("Bearer stage-key", "staging", out _));
        Assert.Equal(SigningKeyCheck.OtherEnvironment, keys.Check("Bearer stage-key", "production", out environment));
        Assert.Equal("", environment);
        Assert.Equal(SigningKeyCheck.InvalidEnvironment, keys.Check("Bearer stage-key", "no spaces", out _));
    }

    [Fact]
    public void WithoutKeysTheApiIsClosedUnlessTheHostOpensIt()
    {
        Assert.Equal(SigningKeyCheck.NoneConfigured, Keys(require: true).Check("Bearer anything", null, out _));

        var open = Keys(require: false);
        Assert.Equal(SigningKeyCheck.Ok, open.Check(null, null, out var environment));
        Assert.Equal("dev", environment);
        Assert.Equal(SigningKeyCheck.Ok, open.Check(null, "feature-1", out environment));
        Assert.Equal("feature-1", environment);
    }

    [Fact]
    public void ConfiguredKeysAreRequiredEvenWhereTheHostWouldBeOpen()
    {
        var keys = Keys(false, ("prod-key", "production"));
        Assert.Equal(SigningKeyCheck.Missing, keys.Check(null, null, out _));
        Assert.Equal(SigningKeyCheck.Ok, keys.Check("Bearer prod-key", null, out _));
    }

    [Theory]
    [InlineData(null, 401, true)]
    [InlineData("Bearer wrong", 401, true)]
    [InlineData("Bearer prod-key", 200, false)]
    public async Task GateAnswersProblemDetailsWithABearerChallenge(string? authorization, int status, bool challenged)
    {
        var gate = new ApiGate(Keys(true, ("prod-key", "production")), Options.Create(new IngestOptions()), NullLogger<ApiGate>.Instance);
        var context = Context(authorization);
        string? seen = null;

        var result = await gate.RunAsync(context.Request, ApiScopes.Read, (environment, _) =>
        {
            seen = environment;
            return Task.FromResult<IResult>(TypedResults.Ok());
        }, CancellationToken.None);
        await result.ExecuteAsync(context);

        Assert.Equal(status, context.Response.StatusCode);
        Assert.Equal(challenged, context.Response.Headers.WWWAuthenticate == "Bearer");
        Assert.Equal(challenged ? null : "production", seen);
        if (challenged)
        {
            Assert.Equal("application/problem+json", context.Response.ContentType);
            Assert.Equal(401, Body(context).GetProperty("status").GetInt32());
        }
    }

    [Fact]
    public async Task GateTurnsStorageOutagesInto503WithRetryAfter()
    {
        var gate = new ApiGate(Keys(false), Options.Create(new IngestOptions { RetryAfterSeconds = 7 }), NullLogger<ApiGate>.Instance);
        var context = Context(null);

        var result = await gate.RunAsync(context.Request, ApiScopes.Read, (_, _) => throw new HttpRequestException("connection refused"), CancellationToken.None);
        await result.ExecuteAsync(context);

        Assert.Equal(503, context.Response.StatusCode);
        Assert.Equal("7", context.Response.Headers.RetryAfter);
        Assert.Equal("Storage is unavailable; retry later", Body(context).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task GateWithoutConfiguredKeysNamesTheMissingSetting()
    {
        var gate = new ApiGate(Keys(true), Options.Create(new IngestOptions()), NullLogger<ApiGate>.Instance);
        var context = Context("Bearer anything");
        var result = await gate.RunAsync(context.Request, ApiScopes.Read, (_, _) => throw new InvalidOperationException("not reached"), CancellationToken.None);
        await result.ExecuteAsync(context);

        Assert.Equal(503, context.Response.StatusCode);
        Assert.Contains("EventIngest:Auth:SigningKeys", Body(context).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static DefaultHttpContext Context(string? authorization)
    {
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        if (authorization is not null) context.Request.Headers.Authorization = authorization;
        context.Response.Body = new MemoryStream();
        return context;
    }

    private static JsonElement Body(DefaultHttpContext context)
    {
        context.Response.Body.Position = 0;
        return JsonDocument.Parse(context.Response.Body).RootElement;
    }
}
