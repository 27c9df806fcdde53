using System.Security.Cryptography;
using System.Text;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// The daemon's bearer token: DATA/token, 32 random bytes as 64 lowercase hex characters, mode 0600, created at the
/// first start and kept after (so a CLI or browser keeps working across restarts).
/// </summary>
public sealed class ApiToken
{
    public const string FileName = DaemonLocations.TokenFileName;
    private const int HexLength = 64;

    private readonly byte[] _bytes;

    private ApiToken(string value, string path)
    {
        Value = value;
        Path = path;
        _bytes = Encoding.ASCII.GetBytes(value);
    }

    public string Value { get; }

    public string Path { get; }

    /// <summary>Reads DATA/token, or creates it when missing; a file that is not 64 hex characters is refused.</summary>
    public static ApiToken LoadOrCreate(string dataDirectory)
    {
        var path = System.IO.Path.Combine(dataDirectory, FileName);
        try
        {
            using var created = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            var value = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(HexLength / 2));
            created.Write(Encoding.ASCII.GetBytes(value + "\n"));
            created.Flush(flushToDisk: true);
            return new ApiToken(value, path);
        }
        catch (IOException) when (File.Exists(path))
        {
            // There already: keep it.
        }

        var text = File.ReadAllText(path).Trim();
        if (text.Length != HexLength || !text.All(char.IsAsciiHexDigit))
        {
            throw new IOException($"{path} does not hold a token of {HexLength} hex characters; remove it to get a new one");
        }

        return new ApiToken(text.ToLowerInvariant(), path);
    }

    /// <summary>Compares in constant time, so the answer's timing tells nothing about how much of a guess was right.</summary>
    public bool Matches(string? candidate)
    {
        if (candidate is null)
        {
            return false;
        }

        var bytes = Encoding.UTF8.GetBytes(candidate);
        return CryptographicOperations.FixedTimeEquals(bytes, _bytes);
    }
}
