using System.Net;
using System.Net.WebSockets;
using System.Text;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>The console WebSocket over a real VMM's console socket (the test guest's serial-echo scenario).</summary>
public sealed class ConsoleApiTests : DaemonTest
{
    private Task<ClientWebSocket> ConnectAsync(string vm) => ConnectAsync(D, vm);

    /// <summary>The console WebSocket of <paramref name="vm"/> on <paramref name="daemon"/>.</summary>
    internal static async Task<ClientWebSocket> ConnectAsync(TestDaemon daemon, string vm)
    {
        var socket = new ClientWebSocket();
        var url = new Uri(daemon.Daemon.Url, $"api/v1/vms/{vm}/console?access_token={daemon.Daemon.Token.Value}");
        await socket.ConnectAsync(new UriBuilder(url) { Scheme = "ws" }.Uri, CancellationToken.None);
        return socket;
    }

    /// <summary>Receives until the text seen so far contains <paramref name="expected"/>; returns it all.</summary>
    internal static Task<string> ReceiveUntilAsync(ClientWebSocket socket, StringBuilder seen, string expected) =>
        ReceiveUntilAsync(socket, seen, text => text.Contains(expected, StringComparison.Ordinal), $"'{expected}'", TimeSpan.FromSeconds(20));

    /// <summary>
    /// Receives until <paramref name="done"/> holds for the text seen so far, within <paramref name="onAQuietMachine"/>
    /// (scaled); returns it all. <paramref name="what"/> names the wait in a failure.
    /// </summary>
    internal static async Task<string> ReceiveUntilAsync(ClientWebSocket socket, StringBuilder seen, Func<string, bool> done, string what, TimeSpan onAQuietMachine)
    {
        using var timeout = new CancellationTokenSource(TestTime.Ceiling(onAQuietMachine));
        var buffer = new byte[4096];
        while (!done(seen.ToString()))
        {
            var received = await socket.ReceiveAsync(buffer, timeout.Token);
            Assert.True(received.MessageType != WebSocketMessageType.Close, $"closed before {what}; saw: {seen}");
            Assert.Equal(WebSocketMessageType.Binary, received.MessageType);
            seen.Append(Encoding.UTF8.GetString(buffer, 0, received.Count));
        }

        return seen.ToString();
    }

    [KvmFact]
    public async Task Output_is_replayed_input_reaches_the_guest_and_the_socket_closes_when_the_VM_stops()
    {
        await D.CreateAsync("echo", "serial-echo");
        await D.ActOkAsync("echo", "start");

        using var first = await ConnectAsync("echo");
        var firstSeen = new StringBuilder();
        await ReceiveUntilAsync(first, firstSeen, "serial-echo: ready");

        await first.SendAsync("hello from the api\n"u8.ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None);
        await ReceiveUntilAsync(first, firstSeen, "hello from the api");

        // A second client gets the history, and sees what the first one typed (text messages are input too).
        using var second = await ConnectAsync("echo");
        var secondSeen = new StringBuilder();
        await ReceiveUntilAsync(second, secondSeen, "hello from the api");
        await second.SendAsync("second\n"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        await ReceiveUntilAsync(first, firstSeen, "second");

        // Ctrl-D ends the guest: the VMM exits and both sockets close normally.
        await first.SendAsync(new byte[] { 0x04 }, WebSocketMessageType.Binary, true, CancellationToken.None);
        foreach (var socket in new[] { first, second })
        {
            using var timeout = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromSeconds(20)));
            var buffer = new byte[4096];
            WebSocketReceiveResult received;
            do
            {
                received = await socket.ReceiveAsync(buffer, timeout.Token);
            }
            while (received.MessageType != WebSocketMessageType.Close);
            Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        }

        // The VMM closes its console just before it exits; the supervisor records the exit a moment later.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string state;
        while ((state = (await D.GetAsync("echo")).State) != "stopped" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal("stopped", state);
    }

    [Fact]
    public async Task A_console_of_a_VM_that_does_not_run_is_409_before_the_upgrade()
    {
        await D.CreateAsync("off");
        using var socket = new ClientWebSocket();
        var url = new UriBuilder(new Uri(D.Daemon.Url, $"api/v1/vms/off/console?access_token={D.Daemon.Token.Value}")) { Scheme = "ws" }.Uri;
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(url, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Conflict, socket.HttpStatusCode);

        using var wrong = new ClientWebSocket();
        wrong.Options.CollectHttpResponseDetails = true;
        var wrongUrl = new UriBuilder(new Uri(D.Daemon.Url, "api/v1/vms/off/console?access_token=nope")) { Scheme = "ws" }.Uri;
        await Assert.ThrowsAsync<WebSocketException>(() => wrong.ConnectAsync(wrongUrl, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.HttpStatusCode);
    }
}
