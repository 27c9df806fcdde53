using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;

namespace Sharpvisor.Manager.Api;

/// <summary>Writes ProblemDetails (RFC 9457) answers outside handlers: the token check, the exception handler.</summary>
internal static class ApiProblems
{
    public static async Task WriteAsync(HttpContext context, int status, string title, string detail, IDictionary<string, string[]>? errors = null)
    {
        context.Response.StatusCode = status;
        ProblemDetails problem = errors is null
            ? new ProblemDetails()
            : new HttpValidationProblemDetails(errors);
        problem.Status = status;
        problem.Title = title;
        problem.Detail = detail;
        problem.Type = TypeFor(status);
        var service = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        if (!await service.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem }).ConfigureAwait(false))
        {
            // The client accepts no JSON (an EventSource asks for text/event-stream only): an error is still a
            // ProblemDetails, which it may ignore, rather than the 500 with no body the service's refusal would give.
            await (problem is HttpValidationProblemDetails validation
                ? context.Response.WriteAsJsonAsync(validation, ProblemJsonContext.Default.HttpValidationProblemDetails, "application/problem+json")
                : context.Response.WriteAsJsonAsync(problem, ProblemJsonContext.Default.ProblemDetails, "application/problem+json")).ConfigureAwait(false);
        }
    }

    /// <summary>The RFC section of the status, as ASP.NET Core's own ProblemDetails name it.</summary>
    public static string TypeFor(int status) => status switch
    {
        400 => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        401 => "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        404 => "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        409 => "https://tools.ietf.org/html/rfc9110#section-15.5.10",
        413 => "https://tools.ietf.org/html/rfc9110#section-15.5.14",
        _ => "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    };
}

/// <summary>Source-generated JSON for ASP.NET Core's problem types (the daemon is trimming-clean; clients read <see cref="Sharpvisor.Api.ApiProblem"/>).</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ProblemDetails))]
[System.Text.Json.Serialization.JsonSerializable(typeof(HttpValidationProblemDetails))]
internal sealed partial class ProblemJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
