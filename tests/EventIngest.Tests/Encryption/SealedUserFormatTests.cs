using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using EventIngest.Encryption;

namespace EventIngest.Tests.Encryption;

/// <summary>The sealed format on its own, with keys in memory (no storage).</summary>
public sealed class SealedUserFormatTests
{
    private const string InternalId = "01JDQ3ZK7P4V6B8N2M5X9C1R3T";
    private static readonly byte[] User = Encoding.UTF8.GetBytes("""{"external_id":"u-1","email":"ada@example.com"}""");

    private readonly EnvironmentKeys _production = new("production", RandomNumberGenerator.GetBytes(32));
    private readonly DataKey _personKey = new(RandomNumberGenerator.GetBytes(32));

    [Fact]
    public void PersonSealedValueOpensToTheSameBytes()
    {
        var sealedUser = SealForPerson(_production, InternalId);

        var parsed = SealedUserFormat.Parsed.Parse(sealedUser);

        Assert.True(parsed.IsAuthentic(_production, InternalId));
        Assert.Equal(SealedUserFormat.PersonKeyKind, parsed.Kind);
        Assert.Equal(0x0102030405060708UL, parsed.PersonKeyVersion);
        Assert.Equal(User, parsed.Decrypt(_personKey, _production, InternalId));
    }

    [Fact]
    public void EnvironmentSealedValueOpensWithTheKeyOfItsHour()
    {
        Span<byte> header = stackalloc byte[SealedUserFormat.MaxHeaderSize];
        var length = SealedUserFormat.WriteEnvironmentHeader(header, 491_234);
        var sealedUser = SealedUserFormat.Seal(_production, _production.GetPeriodKey(491_234), header[..length], InternalId, User);

        var parsed = SealedUserFormat.Parsed.Parse(sealedUser);

        Assert.Equal(491_234u, parsed.Period);
        Assert.Equal(User, parsed.Decrypt(_production.GetPeriodKey(parsed.Period), _production, InternalId));
        Assert.Throws<UserDataUnreadableException>(() => parsed.Decrypt(_production.GetPeriodKey(491_235), _production, InternalId));
    }

    [Fact]
    public void SealedValueIsBase64UrlWithoutPaddingAndHidesThePlaintext()
    {
        var sealedUser = SealForPerson(_production, InternalId);

        Assert.True(Base64Url.IsValid(sealedUser));
        Assert.DoesNotContain('=', sealedUser);
        Assert.Equal(Base64Url.GetEncodedLength(SealedUserFormat.PersonHeaderSize + User.Length + SealedUserFormat.Overhead), sealedUser.Length);
        var bytes = Base64Url.DecodeFromChars(sealedUser);
        Assert.Equal(-1, bytes.AsSpan().IndexOf("ada@example.com"u8));
        Assert.Equal(-1, bytes.AsSpan().IndexOf("u-1"u8));
    }

    [Fact]
    public void SealingTwiceGivesDifferentValues()
    {
        Assert.NotEqual(SealForPerson(_production, InternalId), SealForPerson(_production, InternalId));
    }

    [Fact]
    public void EveryFlippedByteIsDetected()
    {
        var bytes = Base64Url.DecodeFromChars(SealForPerson(_production, InternalId));

        for (var i = 0; i < bytes.Length; i++)
        {
            var altered = (byte[])bytes.Clone();
            altered[i] ^= 0x01;
            Assert.False(Opens(Base64Url.EncodeToString(altered), _production, InternalId), $"byte {i} flipped went unnoticed");
        }
    }

    [Fact]
    public void ValueMovedToAnotherEventOrEnvironmentDoesNotOpen()
    {
        var sealedUser = SealForPerson(_production, InternalId);
        var staging = new EnvironmentKeys("staging", RandomNumberGenerator.GetBytes(32));

        Assert.False(Opens(sealedUser, _production, "01JDQ3ZK7P4V6B8N2M5X9C1R3V"));
        Assert.False(Opens(sealedUser, staging, InternalId));
    }

    [Fact]
    public void GcmBindsTheEventEvenWithoutTheCheck()
    {
        var parsed = SealedUserFormat.Parsed.Parse(SealForPerson(_production, InternalId));

        Assert.Throws<UserDataUnreadableException>(() => parsed.Decrypt(_personKey, _production, "another-event"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64url!")]
    [InlineData("AQ")]
    [InlineData("AgEBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("eyJleHRlcm5hbF9pZCI6InUtMSJ9")]
    public void GarbageIsUnreadable(string garbage)
    {
        Assert.Throws<UserDataUnreadableException>(() => SealedUserFormat.Parsed.Parse(garbage).Decrypt(_personKey, _production, InternalId));
    }

    [Fact]
    public void TruncatedValueIsUnreadable()
    {
        var sealedUser = SealForPerson(_production, InternalId);

        for (var length = 0; length < sealedUser.Length; length += 7)
        {
            Assert.False(Opens(sealedUser[..length], _production, InternalId), $"truncated to {length} opened");
        }
    }

    private string SealForPerson(EnvironmentKeys keys, string internalId)
    {
        Span<byte> header = stackalloc byte[SealedUserFormat.MaxHeaderSize];
        var length = SealedUserFormat.WritePersonHeader(header, keys.ComputeSubjectId("u-1"u8), 0x0102030405060708UL);
        return SealedUserFormat.Seal(keys, _personKey, header[..length], internalId, User);
    }

    private bool Opens(string sealedUser, EnvironmentKeys keys, string internalId)
    {
        try
        {
            var parsed = SealedUserFormat.Parsed.Parse(sealedUser);
            if (!parsed.IsAuthentic(keys, internalId))
            {
                return false;
            }

            parsed.Decrypt(_personKey, keys, internalId);
            return true;
        }
        catch (UserDataUnreadableException)
        {
            return false;
        }
    }
}
