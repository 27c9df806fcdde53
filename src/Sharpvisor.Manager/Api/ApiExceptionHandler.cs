using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// Turns what the store and the supervisor throw into ProblemDetails: not found 404, conflicts (name, version, state)
/// 409, validation 400 with <c>errors</c> naming each field, a body that is not JSON 400, anything else 500 with a
/// one-line detail (the stack trace goes to the daemon's log only).
/// </summary>
internal sealed partial class ApiExceptionHandler(ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (httpContext.Response.HasStarted)
        {
            return false;
        }

        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client went away: nobody reads an answer, and it is not the manager's failure to log.
            return true;
        }

        var (status, title, detail, errors) = exception switch
        {
            VmValidationException v => (400, "Invalid VM definition", v.Message, ValidationProblem.ToErrors(v.Problems)),
            ApiValidationException v => (400, "Invalid request", v.Message, v.Errors),
            BadHttpRequestException { InnerException: JsonException json } when JsonFieldErrors.From(json) is var (field, message) =>
                (400, "Invalid request", $"{field}: {message}", new Dictionary<string, string[]>(StringComparer.Ordinal) { [field] = [message] }),
            BadHttpRequestException b when IsJson(b) => (400, "Invalid JSON", OneLine(JsonDetail(b)), null),
            BadHttpRequestException b => (b.StatusCode, "Bad request", OneLine(b.Message), null),
            VmNotFoundException or UnknownVmException or UnknownSnapshotException or UnknownStorageException => (404, "Not found", exception.Message, null),
            ImageTooLargeException => (413, "Content too large", exception.Message, null),
            VmConflictException => (409, "Conflict", exception.Message, (IDictionary<string, string[]>?)null),
            Supervisor.MigrationFailedException => (502, "Migration failed", exception.Message, null),
            _ => (500, "Internal error", OneLine($"{exception.GetType().Name}: {exception.Message}"), null),
        };
        if (status == 500)
        {
            LogFailure(logger, httpContext.Request.Method, httpContext.Request.Path, exception);
        }

        await ApiProblems.WriteAsync(httpContext, status, title, detail, errors).ConfigureAwait(false);
        return true;
    }

    private static bool IsJson(BadHttpRequestException e) => e.InnerException is JsonException || e.Message.Contains("JSON", StringComparison.Ordinal);

    private static string JsonDetail(BadHttpRequestException e) =>
        e.InnerException is JsonException json ? $"the body is not valid JSON for this request: {json.Message}" : e.Message;

    private static string OneLine(string text)
    {
        var line = text.ReplaceLineEndings(" ");
        return line.Length <= 400 ? line : line[..400] + "...";
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed")]
    private static partial void LogFailure(ILogger logger, string method, string path, Exception exception);
}

/// <summary>A request parameter that is not a VM definition field was wrong (a query parameter, say): 400 naming it.</summary>
public sealed class ApiValidationException(string field, string message)
    : Exception($"{field}: {message}")
{
    public IDictionary<string, string[]> Errors { get; } = new Dictionary<string, string[]>(StringComparer.Ordinal) { [field] = [message] };
}

/// <summary>The VM has no snapshot of this name (the API's 404).</summary>
public sealed class UnknownSnapshotException(string vm, string name)
    : VmStoreException($"VM '{vm}' has no snapshot named '{name}'");

/// <summary>No VM has this id or name (the API's 404; the store's own <see cref="VmNotFoundException"/> takes ids only).</summary>
public sealed class UnknownVmException(string vm)
    : VmStoreException($"no VM with id or name '{vm}'");
