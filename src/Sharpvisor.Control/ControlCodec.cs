using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Sharpvisor.Control;

/// <summary>Reads request lines and writes response lines. Every line is hostile until parsed.</summary>
public static class ControlCodec
{
    /// <summary>The longest request line accepted, without its newline.</summary>
    public const int MaxLineBytes = 64 * 1024;

    private const int MaxEchoedChars = 64;

    /// <summary>
    /// Parses one request line (no newline). On failure <paramref name="error"/> says why in one line and
    /// <paramref name="id"/> is the request's id when that much could be read, so the error can still be matched.
    /// </summary>
    public static bool TryParseRequest(ReadOnlySpan<byte> line, out int? id, out string? command, out string error) =>
        TryParseRequest(line, out id, out command, out _, out error);

    /// <summary>
    /// As above, with the arguments of the commands that take some (<c>snapshot</c> and <c>migrate</c>: <c>path</c>;
    /// <c>migrate</c>: <c>downtime_ms</c>, <c>max_bandwidth</c>, <c>auto_converge</c>); absent ones are null.
    /// </summary>
    public static bool TryParseRequest(ReadOnlySpan<byte> line, out int? id, out string? command, out ControlArguments arguments, out string error)
    {
        id = null;
        command = null;
        arguments = new ControlArguments();
        string? argumentError = null;
        error = "";
        var idSeen = false;
        string? idError = null;
        string? commandError = null;
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "a request is one JSON object per line";
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    idSeen = true;
                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value))
                    {
                        id = value;
                        idError = null;
                    }
                    else
                    {
                        id = null;
                        idError = "\"id\" must be a 32-bit integer";
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("command"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        command = reader.GetString();
                        commandError = null;
                    }
                    else
                    {
                        command = null;
                        commandError = "\"command\" must be a string";
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("path"u8))
                {
                    reader.Read();
                    var path = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    arguments = arguments with { Path = path };
                    argumentError ??= path is null ? "\"path\" must be a string" : null;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("auto_converge"u8))
                {
                    reader.Read();
                    if (reader.TokenType is JsonTokenType.True or JsonTokenType.False)
                    {
                        arguments = arguments with { AutoConverge = reader.GetBoolean() };
                    }
                    else
                    {
                        argumentError ??= "\"auto_converge\" must be true or false";
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("head"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var head) && head >= 0)
                    {
                        arguments = arguments with { Head = head };
                    }
                    else
                    {
                        argumentError ??= "\"head\" must be a whole number, 0 or more";
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("downtime_ms"u8) || reader.ValueTextEquals("max_bandwidth"u8))
                {
                    var downtime = reader.ValueTextEquals("downtime_ms"u8);
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) && value >= 0)
                    {
                        arguments = downtime ? arguments with { DowntimeMs = value } : arguments with { MaxBandwidth = value };
                    }
                    else
                    {
                        argumentError ??= $"\"{(downtime ? "downtime_ms" : "max_bandwidth")}\" must be a whole number, 0 or more";
                        reader.Skip();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // Anything after the object but whitespace makes this throw (one value per line).
            _ = reader.Read();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            id = null;
            error = $"not a JSON request: {OneLine(e.Message)}";
            return false;
        }

        error = idError ?? (idSeen ? null : "\"id\" (an integer) is missing")
            ?? commandError ?? (command is null ? "\"command\" is missing" : null) ?? argumentError ?? "";
        return error.Length == 0;
    }

    /// <summary>The response as one UTF-8 JSON line, newline included.</summary>
    public static byte[] EncodeResponse(ControlResponse response) => EncodeLine(response, ControlJsonContext.Default.ControlResponse);

    /// <summary>The request as one UTF-8 JSON line, newline included (for clients).</summary>
    public static byte[] EncodeRequest(ControlRequest request) => EncodeLine(request, ControlJsonContext.Default.ControlRequest);

    /// <summary>Parses a response line (for clients); throws <see cref="JsonException"/> on a malformed one.</summary>
    public static ControlResponse DecodeResponse(ReadOnlySpan<byte> line) =>
        JsonSerializer.Deserialize(line, ControlJsonContext.Default.ControlResponse)
        ?? throw new JsonException("the response line is JSON null");

    /// <summary>A successful response's result as <typeparamref name="T"/> (for clients).</summary>
    public static T ResultAs<T>(ControlResponse response, JsonTypeInfo<T> type)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (!response.Ok || response.Result is not { } result)
        {
            throw new ControlException(response.Error ?? "the response has no result");
        }

        return result.Deserialize(type) ?? throw new JsonException("the result is JSON null");
    }

    private static byte[] EncodeLine<T>(T value, JsonTypeInfo<T> type)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        // The relaxed encoder still escapes quotes, backslashes and control characters (so a line stays one line);
        // it only leaves characters like ' and + alone, which matter inside HTML, not here.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            JsonSerializer.Serialize(writer, value, type);
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A piece of a hostile string fit to quote in an error: at most 64 characters, controls replaced.</summary>
    public static string Quote(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var shown = text.Length > MaxEchoedChars ? text[..MaxEchoedChars] + "..." : text;
        return OneLine(shown);
    }

    /// <summary>The text with control characters (newlines included) replaced by spaces.</summary>
    public static string OneLine(string text) => string.Create(text.Length, text, static (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            span[i] = char.IsControl(source[i]) ? ' ' : source[i];
        }
    });
}
