using System.Security.Cryptography;
using System.Text;
using EventIngest.Encryption;

namespace EventIngest.Tests.Encryption;

public sealed class ExternalIdReaderTests
{
    private readonly EnvironmentKeys _keys = new("production", RandomNumberGenerator.GetBytes(32));

    [Theory]
    [InlineData("""{"external_id":"42"}""")]
    [InlineData("""{"external_id":42}""")]
    [InlineData("""{"email":"a@b.c","external_id":"\u0034\u0032"}""")]
    [InlineData("""{"external_id":"other","nested":{"external_id":"x"},"external_id":"42"}""")]
    [InlineData(""" { "list": [1, {"external_id": "y"}], "external_id" : "42" } """)]
    public void ExternalIdIsFoundAsItsText(string json)
    {
        Assert.True(ExternalIdReader.TryGetSubjectId(Encoding.UTF8.GetBytes(json), _keys, out var subjectId));
        Assert.Equal(_keys.ComputeSubjectId("42"u8), subjectId);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"external_id":""}""")]
    [InlineData("""{"external_id":null}""")]
    [InlineData("""{"external_id":true}""")]
    [InlineData("""{"external_id":{"id":"42"}}""")]
    [InlineData("""{"External_Id":"42"}""")]
    [InlineData("""{"nested":{"external_id":"42"}}""")]
    public void UserWithoutAnExternalIdNamesNobody(string json)
    {
        Assert.False(ExternalIdReader.TryGetSubjectId(Encoding.UTF8.GetBytes(json), _keys, out _));
    }

    [Fact]
    public void LongEscapedExternalIdIsUnescapedBeforeHashing()
    {
        var id = new string('é', 400);
        var json = "{\"external_id\":\"" + string.Concat(id.Select(c => $"\\u{(int)c:x4}")) + "\"}";

        Assert.True(ExternalIdReader.TryGetSubjectId(Encoding.UTF8.GetBytes(json), _keys, out var subjectId));
        Assert.Equal(_keys.ComputeSubjectId(Encoding.UTF8.GetBytes(id)), subjectId);
    }

    [Fact]
    public void SubjectIdsDifferBetweenEnvironments()
    {
        var staging = new EnvironmentKeys("staging", RandomNumberGenerator.GetBytes(32));

        Assert.NotEqual(_keys.ComputeSubjectId("42"u8), staging.ComputeSubjectId("42"u8));
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("\"user\"")]
    [InlineData("{\"a\":1")]
    [InlineData("{} {}")]
    [InlineData("{\"a\":1} x")]
    public void AnythingButOneJsonObjectIsRefused(string json)
    {
        Assert.Throws<ArgumentException>(() => ExternalIdReader.TryGetSubjectId(Encoding.UTF8.GetBytes(json), _keys, out _));
    }
}
