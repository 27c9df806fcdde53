using System.Text.Json;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>Reads a server-sent event stream (GET /api/v1/events) in the background and keeps every event it parsed.</summary>
public sealed class EventStreamReader : IDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(string? Id, string? Event, EventResource Data)> _events = [];
    private readonly Task _reading;

    private EventStreamReader(HttpResponseMessage response)
    {
        _response = response;
        _reading = Task.Run(ReadAsync);
    }

    public string ContentType => _response.Content.Headers.ContentType?.MediaType ?? "";

    public static async Task<EventStreamReader> OpenAsync(HttpClient http, string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        return new EventStreamReader(response);
    }

    public IReadOnlyList<(string? Id, string? Event, EventResource Data)> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Waits until an event matches; fails the test with what was seen after <paramref name="timeout"/>.</summary>
    public async Task<(string? Id, string? Event, EventResource Data)> WaitForAsync(Func<EventResource, bool> match, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var e in Events)
            {
                if (match(e.Data))
                {
                    return e;
                }
            }

            await Task.Delay(20);
        }

        Assert.Fail($"no event {what} within {timeout.TotalSeconds} s; saw: " + string.Join(" | ", Events.Select(e => $"{e.Event}: {e.Data.Message}")));
        return default;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _response.Dispose();
        try
        {
            _reading.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
    }

    private async Task ReadAsync()
    {
        using var stream = await _response.Content.ReadAsStreamAsync(_stop.Token);
        using var reader = new StreamReader(stream);
        string? id = null, kind = null, data = null;
        while (await reader.ReadLineAsync(_stop.Token) is { } line)
        {
            if (line.Length == 0)
            {
                if (data is not null)
                {
                    var parsed = JsonSerializer.Deserialize(data, ApiJsonContext.Default.EventResource)!;
                    lock (_events)
                    {
                        _events.Add((id, kind, parsed));
                    }
                }

                id = kind = data = null;
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                kind = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
        }
    }
}
