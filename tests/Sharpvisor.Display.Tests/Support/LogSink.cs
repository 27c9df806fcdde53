using System.Collections.Concurrent;

namespace Sharpvisor.Display.Tests.Support;

/// <summary>Collects the server's log lines and lets a test wait for one.</summary>
internal sealed class LogSink
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _added = new(0);

    public IReadOnlyCollection<string> Lines => _lines;

    public void Add(string line)
    {
        _lines.Enqueue(line);
        _added.Release();
    }

    public async Task<string> WaitForAsync(string fragment)
    {
        using var deadline = new CancellationTokenSource(Client.RfbTestClient.Ceiling);
        while (true)
        {
            var found = _lines.FirstOrDefault(line => line.Contains(fragment, StringComparison.Ordinal));
            if (found is not null)
            {
                return found;
            }

            try
            {
                await _added.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"no log line with \"{fragment}\"; the log: {string.Join(" | ", _lines)}");
            }
        }
    }
}
