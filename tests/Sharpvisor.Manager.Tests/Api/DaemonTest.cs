namespace Sharpvisor.Manager.Tests.Api;

/// <summary>A test class whose every test gets a daemon of its own on SQLite (<see cref="D"/>), stopped after it.</summary>
public abstract class DaemonTest : IAsyncLifetime
{
    private TestDaemon? _daemon;

    protected TestDaemon D => _daemon ?? throw new InvalidOperationException("not initialized");

    public async Task InitializeAsync() => _daemon = await TestDaemon.StartAsync(null);

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }
    }
}
