using System.Runtime.CompilerServices;
using System.Text;

namespace Sharpvisor.Cli.Remote;

/// <summary>Reads a text/event-stream (the HTML standard's server-sent events) and yields each event's data.</summary>
internal static class ServerSentEvents
{
    /// <summary>
    /// The data of each event, its "data:" lines joined with "\n", as the blank line that ends it arrives. Comments
    /// (": keep-alive") and the other fields (id, event, retry) are skipped: the data holds the id and kind too.
    /// </summary>
    public static async IAsyncEnumerable<string> ReadDataAsync(TextReader reader, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var data = new StringBuilder();
        var hasData = false;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                if (hasData)
                {
                    yield return data.ToString();
                }

                data.Clear();
                hasData = false;
            }
            else if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                var value = line.AsSpan(5);
                if (value.StartsWith(" "))
                {
                    value = value[1..];
                }

                if (hasData)
                {
                    data.Append('\n');
                }

                data.Append(value);
                hasData = true;
            }
        }
    }
}
