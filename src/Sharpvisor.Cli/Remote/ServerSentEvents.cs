using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;

namespace Sharpvisor.Cli.Remote;

/// <summary>The data of each server-sent event in a text/event-stream, parsed by .NET's own SseParser.</summary>
internal static class ServerSentEvents
{
    /// <summary>
    /// Each event's data (its "data:" lines joined with "\n"), as the blank line that ends it arrives. Comments
    /// (": keep-alive") and the other fields (id, event, retry) are left out: the data holds the id and kind too.
    /// </summary>
    public static async IAsyncEnumerable<string> ReadDataAsync(Stream stream, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return item.Data;
        }
    }
}
