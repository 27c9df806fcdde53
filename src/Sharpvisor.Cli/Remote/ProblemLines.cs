using System.Net;
using System.Text.Json;
using Sharpvisor.Api;

namespace Sharpvisor.Cli.Remote;

/// <summary>Turns an error answer (a ProblemDetails body, RFC 9457) into the lines the user reads.</summary>
internal static class ProblemLines
{
    /// <summary>
    /// Each invalid field as "field: message" when the body names fields; else the detail (else the title); a body
    /// that is no ProblemDetails gives the HTTP status line.
    /// </summary>
    public static IReadOnlyList<string> From(HttpStatusCode status, string body)
    {
        ApiProblem? problem = null;
        try
        {
            problem = body.Length == 0 ? null : JsonSerializer.Deserialize(body, ApiJsonContext.Default.ApiProblem);
        }
        catch (JsonException)
        {
            // Not ours (a proxy's HTML page, say): fall back to the status.
        }

        var lines = new List<string>();
        if (problem is not null)
        {
            foreach (var (field, messages) in problem.Errors ?? new Dictionary<string, string[]>())
            {
                lines.AddRange(messages.Select(message => $"{field}: {OneLine(message)}"));
            }

            if (lines.Count == 0 && (problem.Detail ?? problem.Title) is { Length: > 0 } text)
            {
                lines.Add(OneLine(text));
            }
        }

        if (lines.Count == 0)
        {
            lines.Add($"the daemon answered {(int)status} {status}");
        }

        return lines;
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
