using System.Net.Sockets;
using System.Text;
using Sharpvisor.Control;
using Sharpvisor.Vmm.Control;

namespace Sharpvisor.Vmm.Tests.Control;

/// <summary>The control socket with a fake machine behind it: framing, hostile clients, concurrency, the socket file.</summary>
public sealed class ControlServerTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private readonly string _dir = Directory.CreateTempSubdirectory("sv-ctl-").FullName;
    private readonly FakeControlTarget _target = new();

    private string SocketPath => Path.Combine(_dir, "vm.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ControlServer StartServer() => ControlServer.Start(SocketPath, new ControlDispatcher(_target));

    private static async Task<ControlResponse> ReadResponseAsync(ControlClient client)
    {
        using var timeout = new CancellationTokenSource(Limit);
        return ControlCodec.DecodeResponse(await client.ReadLineAsync(timeout.Token));
    }

    [Fact]
    public async Task AnswersStatusOnASocketOnlyItsOwnerMayUse()
    {
        using var server = StartServer();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));

        using var client = await ControlClient.ConnectAsync(SocketPath);
        var status = await client.StatusAsync();
        Assert.Equal("running", status.State);
        Assert.Equal(4242, status.Pid);
    }

    [Fact]
    public async Task DisposeRemovesTheSocketFileAndClosesConnections()
    {
        var server = StartServer();
        using var client = await ControlClient.ConnectAsync(SocketPath);
        Assert.True(File.Exists(SocketPath));

        server.Dispose();

        Assert.False(File.Exists(SocketPath));
        using var timeout = new CancellationTokenSource(Limit);
        await Assert.ThrowsAnyAsync<Exception>(() => client.ReadLineAsync(timeout.Token));
    }

    [Fact]
    public async Task AStaleSocketFileIsReplaced()
    {
        // .NET unlinks a socket file it bound when the socket closes; a file renamed away first stays behind, as
        // one does when its process is killed.
        var bound = Path.Combine(_dir, "bound.sock");
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(bound));
            stale.Listen();
            File.Move(bound, SocketPath);
        }

        Assert.True(File.Exists(SocketPath));
        using var server = StartServer();
        using var client = await ControlClient.ConnectAsync(SocketPath);
        Assert.Equal("running", (await client.StatusAsync()).State);
    }

    [Fact]
    public void ASocketSomeoneStillListensOnIsNotStolen()
    {
        using var first = StartServer();
        var e = Assert.Throws<IOException>(StartServer);
        Assert.Contains("another process accepts connections", e.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(SocketPath));
    }

    [Fact]
    public void ADirectoryIsNotReplaced()
    {
        Directory.CreateDirectory(SocketPath);
        Assert.Throws<IOException>(StartServer);
        Assert.True(Directory.Exists(SocketPath));
    }

    [Fact]
    public void ATooLongPathIsRefused() =>
        Assert.Throws<IOException>(() => ControlServer.Start(Path.Combine(_dir, new string('s', 120)), new ControlDispatcher(_target)));

    [Fact]
    public async Task SeveralRequestsInOneWriteAreAnsweredInOrderAndBlankLinesSkipped()
    {
        using var server = StartServer();
        using var client = await ControlClient.ConnectAsync(SocketPath);
        await client.SendLineAsync(Encoding.UTF8.GetBytes(
            "{\"id\":1,\"command\":\"pause\"}\n\n  \r\n{\"id\":2,\"command\":\"status\"}\r\nnot json\n{\"id\":3,\"command\":\"resume\"}\n"));

        var responses = new List<ControlResponse>();
        for (var i = 0; i < 4; i++)
        {
            responses.Add(await ReadResponseAsync(client));
        }

        Assert.Equal(new int?[] { 1, 2, null, 3 }, responses.Select(r => r.Id));
        Assert.Equal(new[] { true, true, false, true }, responses.Select(r => r.Ok));
        Assert.Equal("paused", responses[1].Result!.Value.GetProperty("state").GetString());
    }

    [Fact]
    public async Task ARequestSplitAcrossWritesIsOneRequest()
    {
        using var server = StartServer();
        using var client = await ControlClient.ConnectAsync(SocketPath);
        await client.SendLineAsync("{\"id\": 4, \"comm"u8.ToArray());
        await Task.Delay(50);
        await client.SendLineAsync("and\": \"status\"}\n"u8.ToArray());
        var response = await ReadResponseAsync(client);
        Assert.True(response.Ok);
        Assert.Equal(4, response.Id);
    }

    [Fact]
    public async Task ALineOver64KiBGetsAnErrorAndTheConnectionIsClosed()
    {
        using var server = StartServer();
        using var client = await ControlClient.ConnectAsync(SocketPath);
        var huge = new byte[ControlCodec.MaxLineBytes + 10];
        huge.AsSpan().Fill((byte)'x');
        await client.SendLineAsync(huge);

        var response = await ReadResponseAsync(client);
        Assert.False(response.Ok);
        Assert.Null(response.Id);
        Assert.Contains("longer than 65536 bytes", response.Error, StringComparison.Ordinal);
        using var timeout = new CancellationTokenSource(Limit);
        await Assert.ThrowsAnyAsync<Exception>(() => client.ReadLineAsync(timeout.Token));

        using var next = await ControlClient.ConnectAsync(SocketPath);
        Assert.Equal("running", (await next.StatusAsync()).State);
    }

    [Fact]
    public async Task ALineOfExactly64KiBIsStillParsed()
    {
        using var server = StartServer();
        using var client = await ControlClient.ConnectAsync(SocketPath);
        var prefix = "{\"id\": 8, \"command\": \"status\", \"pad\": \""u8.ToArray();
        var line = new byte[ControlCodec.MaxLineBytes + 1];
        line.AsSpan().Fill((byte)'p');
        prefix.CopyTo(line, 0);
        line[^3] = (byte)'"';
        line[^2] = (byte)'}';
        line[^1] = (byte)'\n';
        await client.SendLineAsync(line);

        var response = await ReadResponseAsync(client);
        Assert.True(response.Ok, response.Error);
        Assert.Equal(8, response.Id);
    }

    [Fact]
    public async Task SilentAndHalfWayClientsDoNotHoldUpOthers()
    {
        using var server = StartServer();
        using var silent = await ControlClient.ConnectAsync(SocketPath);
        using var halfWay = await ControlClient.ConnectAsync(SocketPath);
        await halfWay.SendLineAsync("{\"id\": 1, "u8.ToArray());

        using var client = await ControlClient.ConnectAsync(SocketPath);
        Assert.Equal("running", (await client.StatusAsync()).State);
    }

    [Fact]
    public async Task APauseThatTakesTimeBlocksOnlyItsOwnConnection()
    {
        using var gate = new ManualResetEventSlim();
        _target.PauseGate = gate;
        using var server = StartServer();
        using var pauser = await ControlClient.ConnectAsync(SocketPath);
        var pause = pauser.ChangeStateAsync(ControlCommands.Pause);

        using var other = await ControlClient.ConnectAsync(SocketPath);
        Assert.NotNull(await other.MetricsAsync());
        Assert.False(pause.IsCompleted);

        gate.Set();
        Assert.Equal("paused", await pause.WaitAsync(Limit));
    }

    [Fact]
    public async Task ManyClientsAtOnceEachGetTheirOwnAnswers()
    {
        using var server = StartServer();
        var tasks = Enumerable.Range(0, 8).Select(async _ =>
        {
            using var client = await ControlClient.ConnectAsync(SocketPath);
            for (var i = 0; i < 20; i++)
            {
                var response = await client.SendAsync(i % 2 == 0 ? ControlCommands.Status : ControlCommands.Metrics);
                Assert.True(response.Ok, response.Error);
            }
        });
        await Task.WhenAll(tasks).WaitAsync(Limit);
    }

    [Fact]
    public async Task ClientsBeyondTheLimitAreTurnedAwayWithAnError()
    {
        using var server = StartServer();
        var clients = new List<ControlClient>();
        try
        {
            for (var i = 0; i < ControlServer.MaxConnections; i++)
            {
                var client = await ControlClient.ConnectAsync(SocketPath);
                clients.Add(client);
                Assert.True((await client.SendAsync(ControlCommands.Status)).Ok);
            }

            using var extra = await ControlClient.ConnectAsync(SocketPath);
            var response = await ReadResponseAsync(extra);
            Assert.False(response.Ok);
            Assert.Contains("too many control connections", response.Error, StringComparison.Ordinal);

            clients[0].Dispose();
            clients.RemoveAt(0);
            // The freed slot is taken again once the server has seen the close.
            var deadline = DateTime.UtcNow + Limit;
            while (true)
            {
                using var again = await ControlClient.ConnectAsync(SocketPath);
                ControlResponse? answer = null;
                try
                {
                    answer = await again.SendAsync(ControlCommands.Status);
                }
                catch (Exception e) when (e is SocketException or EndOfStreamException)
                {
                    // Turned away before the request went out.
                }

                if (answer is { Ok: true } || DateTime.UtcNow > deadline)
                {
                    Assert.True(answer?.Ok, answer?.Error);
                    break;
                }

                await Task.Delay(20);
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task StopIsAnsweredBeforeItIsCarriedOut()
    {
        using var server = StartServer();
        using var client = await ControlClient.ConnectAsync(SocketPath);
        Assert.Equal("stopping", await client.ChangeStateAsync(ControlCommands.Stop));
        var deadline = DateTime.UtcNow + Limit;
        while (_target.Stops == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(1, _target.Stops);
    }

    [Fact]
    public async Task AClientThatLeavesMidRequestCostsNothing()
    {
        using var server = StartServer();
        using (var leaver = await ControlClient.ConnectAsync(SocketPath))
        {
            await leaver.SendLineAsync("{\"id\": 1, \"command\": \"metrics\"}\n{\"id\": 2"u8.ToArray());
        }

        using var client = await ControlClient.ConnectAsync(SocketPath);
        Assert.Equal("running", (await client.StatusAsync()).State);
    }
}
