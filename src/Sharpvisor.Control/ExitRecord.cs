using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Control;

/// <summary>
/// What <c>run --exit-file PATH</c> writes just before the VMM exits: one JSON line
/// <c>{"kind":"guest-exit|poweroff|reset|crash|signal|start-failure","status":N,"message":"..."}</c>. A supervisor
/// reads it to tell a guest's own exit from a crash, and both from a VM that never ran (start-failure: no usable KVM,
/// a kernel that is no kernel); no file (or an unreadable one) means the VMM died before it could write it (killed,
/// or crashed in the runtime itself).
/// </summary>
public sealed record ExitRecord(string Kind, int Status, string Message)
{
    public const string GuestExit = "guest-exit";
    public const string PowerOff = "poweroff";
    public const string Reset = "reset";
    public const string Crash = "crash";
    public const string Signal = "signal";

    /// <summary>The VMM failed before the guest ran: <see cref="Status"/> is its exit status (2 usage, 1 runtime).</summary>
    public const string StartFailure = "start-failure";

    /// <summary>Writes the line to a temporary file and renames it over <paramref name="path"/>: a reader sees all or nothing.</summary>
    public void WriteTo(string path)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this, ExitRecordJsonContext.Default.ExitRecord) + "\n", new UTF8Encoding(false));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The record in <paramref name="path"/>, or null when it is missing or not a valid record.</summary>
    public static ExitRecord? TryRead(string path)
    {
        try
        {
            var record = JsonSerializer.Deserialize(File.ReadAllText(path), ExitRecordJsonContext.Default.ExitRecord);
            return record is { Kind: GuestExit or PowerOff or Reset or Crash or Signal or StartFailure, Message: not null } ? record : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }
}

/// <summary>Source-generated JSON for <see cref="ExitRecord"/> (the CLI is NativeAOT).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ExitRecord))]
public sealed partial class ExitRecordJsonContext : JsonSerializerContext;
