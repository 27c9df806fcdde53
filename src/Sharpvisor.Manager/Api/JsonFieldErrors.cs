using System.Text.RegularExpressions;
using System.Text.Json;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// Turns System.Text.Json's error about a request body ("could not be converted to ...VmSpec. Path: $.memoryMiB")
/// into the API's own terms: the field as the client wrote it and what it must be, never .NET type names.
/// </summary>
internal static partial class JsonFieldErrors
{
    /// <summary>What each field of a request body must be, by its last name in the path.</summary>
    private static readonly Dictionary<string, string> Expected = new(StringComparer.Ordinal)
    {
        ["name"] = "must be a string",
        ["vcpus"] = "must be a whole number from 1 to 255 (not a string)",
        ["memoryMiB"] = "must be a whole number of MiB from 16 to 65536 (not a string)",
        ["kernel"] = "must be a string (an absolute path)",
        ["builtInGuest"] = "must be a string (a scenario name)",
        ["initrd"] = "must be a string (an absolute path)",
        ["cmdline"] = "must be a string",
        ["disks"] = "must be an array of {\"path\": ..., \"readOnly\": ...}",
        ["path"] = "must be a string (an absolute path)",
        ["readOnly"] = "must be true or false",
        ["nics"] = "must be an array of {\"tap\": ..., \"mac\": ...}",
        ["tap"] = "must be a string (an interface name)",
        ["mac"] = "must be a string like 02:00:00:00:00:01",
        ["console"] = "must be \"serial\" or \"virtio\"",
        ["version"] = "must be a whole number (the version the VM was read at)",
    };

    /// <summary>The field and its message; null when the error is about the body as a whole (not JSON, say).</summary>
    public static (string Field, string Message)? From(JsonException error)
    {
        if (UnmappedProperty().Match(error.Message) is { Success: true } unmapped)
        {
            // The path ends at the property read last (the unknown one, or the one before it): its object is the parent.
            var path = FieldOf(error.Path);
            var dot = path.LastIndexOf('.');
            var parent = path.EndsWith(']') ? path : dot < 0 ? "" : path[..dot];
            var name = unmapped.Groups[1].Value;
            return (parent.Length == 0 ? name : $"{parent}.{name}", "is not a field of this request");
        }

        var field = FieldOf(error.Path);
        if (field.Length == 0)
        {
            return null;
        }

        var last = LastName().Match(field).Groups[1].Value;
        return (field, Expected.TryGetValue(last, out var message) ? message : "has the wrong type");
    }

    /// <summary>"$.disks[0].path" → "disks[0].path"; "$" → "".</summary>
    private static string FieldOf(string? path) =>
        path is null || path == "$" ? "" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    [GeneratedRegex(@"The JSON property '([^']{1,200})' could not be mapped")]
    private static partial Regex UnmappedProperty();

    [GeneratedRegex(@"([A-Za-z]+)(\[\d+\])?$")]
    private static partial Regex LastName();
}
