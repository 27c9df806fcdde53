using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// /api/v1/events: the event log as server-sent events. It reads the store after the last id it sent, woken at once by
/// this daemon's own writes (<see cref="EventSignal"/>) and polling anyway, since other hosts may write to a shared
/// PostgreSQL. Without <c>after</c> or <c>Last-Event-ID</c> it starts with new events only.
/// </summary>
public static class EventsApi
{
    private const int BatchSize = 500;

    public static IEndpointRouteBuilder MapEventsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/v1/events", StreamEvents).WithName("StreamEvents").WithTags("Events")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream");
        return endpoints;
    }

    public static async Task StreamEvents(
        HttpContext context,
        [FromQuery] string? vm,
        [FromQuery] long? after,
        [FromServices] VmOperations vms,
        [FromServices] EventSignal signal,
        [FromServices] ManagerOptions options,
        [FromServices] IHostApplicationLifetime lifetime)
    {
        Guid? vmId = vm is null ? null : (await vms.ResolveAsync(vm, context.RequestAborted).ConfigureAwait(false)).Id;
        var last = after ?? LastEventId(context.Request);
        if (last is < 0)
        {
            throw new ApiValidationException("after", "must not be negative");
        }

        last ??= (await vms.Store.ListLatestEventsAsync(1, cancellationToken: context.RequestAborted).ConfigureAwait(false)).LastOrDefault()?.Id ?? 0;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var cancellationToken = stop.Token;
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        // Tells a reverse proxy (nginx) not to buffer the stream.
        response.Headers["X-Accel-Buffering"] = "no";
        var lastId = last.Value;
        try
        {
            await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
            var keepAliveDue = DateTime.UtcNow + options.KeepAliveInterval;
            while (!cancellationToken.IsCancellationRequested)
            {
                // Taken before the read: a write after the read still wakes this loop.
                var wake = signal.Next;
                var events = await vms.Store.ListEventsAsync(lastId, BatchSize, vmId, cancellationToken).ConfigureAwait(false);
                foreach (var e in events)
                {
                    await response.Body.WriteAsync(Frame(VmMapping.ToResource(e)), cancellationToken).ConfigureAwait(false);
                    lastId = e.Id;
                }

                if (events.Count > 0)
                {
                    await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                    keepAliveDue = DateTime.UtcNow + options.KeepAliveInterval;
                    if (events.Count == BatchSize)
                    {
                        continue;
                    }
                }

                var untilKeepAlive = keepAliveDue - DateTime.UtcNow;
                var wait = untilKeepAlive < options.EventPollInterval ? untilKeepAlive : options.EventPollInterval;
                if (wait > TimeSpan.Zero)
                {
                    await Task.WhenAny(wake, Task.Delay(wait, cancellationToken)).ConfigureAwait(false);
                }

                if (DateTime.UtcNow >= keepAliveDue)
                {
                    await response.Body.WriteAsync(": keep-alive\n\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                    await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                    keepAliveDue = DateTime.UtcNow + options.KeepAliveInterval;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away, or the daemon stops: the stream just ends.
        }
    }

    /// <summary>One server-sent event: id, event (the kind), data (the event as JSON on one line).</summary>
    public static byte[] Frame(EventResource e)
    {
        var json = JsonSerializer.Serialize(e, ApiJsonContext.Default.EventResource);
        var kind = e.Kind.ReplaceLineEndings(" ");
        return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"id: {e.Id}\nevent: {kind}\ndata: {json}\n\n"));
    }

    private static long? LastEventId(HttpRequest request) =>
        long.TryParse(request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;
}
