using System.Net.WebSockets;
using Microsoft.Win32.SafeHandles;
using Sharpvisor.Api;
using Sharpvisor.Cli.Remote;
using Sharpvisor.Kvm;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// <c>sharpvisor vm console VM</c>: the VM's serial console over the daemon's WebSocket. With a terminal on stdin it
/// switches to raw mode and Ctrl-A x detaches (the VM keeps running), as <c>run</c>'s console; piped stdin is sent as
/// it is. Exits 0 when the VM stops (the daemon closes with 1000) or on detach.
/// </summary>
internal static class VmConsoleCommand
{
    private const int BufferSize = 16 * 1024;

    public static int Execute(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 1);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            // Asked first so an unknown VM or one that does not run gets the daemon's own words, not a bare status.
            var resource = (await api.SendAsync(HttpMethod.Get, ApiClient.VmPath(vm), ApiJsonContext.Default.VmResource).ConfigureAwait(false)).Value;
            if (resource.State is not ("running" or "paused"))
            {
                throw new ApiException(409, [$"VM {resource.Name} is {resource.State}: start it first (sharpvisor vm start {resource.Name})"]);
            }

            using var socket = await ConnectAsync(api, resource).ConfigureAwait(false);
            return await AttachAsync(api, socket, resource).ConfigureAwait(false);
        });
    }

    private static async Task<ClientWebSocket> ConnectAsync(ApiClient api, VmResource vm)
    {
        var uri = new UriBuilder(new Uri(api.Endpoint.BaseUrl, ApiClient.VmPath(vm.Id.ToString("D"), "console")))
        {
            Scheme = api.Endpoint.BaseUrl.Scheme == "https" ? "wss" : "ws",
        }.Uri;
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.RemoteCertificateValidationCallback = CertificatePin.Validator(api.Endpoint.Fingerprint);
        if (api.Endpoint.Token is { } token)
        {
            socket.Options.SetRequestHeader("Authorization", "Bearer " + token);
        }

        try
        {
            await socket.ConnectAsync(uri, CancellationToken.None).ConfigureAwait(false);
            return socket;
        }
        catch (WebSocketException e)
        {
            var status = socket.HttpStatusCode;
            socket.Dispose();
            throw status == 0
                ? api.Unreachable(e.InnerException?.Message ?? e.Message)
                : new ApiException((int)status, [$"the daemon refused the console of VM {vm.Name}: {(int)status} {status}"]);
        }
    }

    private static async Task<int> AttachAsync(ApiClient api, ClientWebSocket socket, VmResource vm)
    {
        var name = vm.Name;
        var interactive = TerminalRawMode.IsTerminal(0);
        if (interactive)
        {
            Console.Error.WriteLine($"sharpvisor: console of VM {name}; Ctrl-A x detaches (the VM keeps running)");
        }

        using var detached = new CancellationTokenSource();
        // Plain streams over fds 0 and 1, not System.Console's, whose line editing and echo would fight raw mode.
        using var stdout = new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
        var stdin = new FileStream(new SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0);
        WebSocketCloseStatus? closeStatus;
        using (var rawMode = TerminalRawMode.TryEnter(0))
        {
            // A thread, not a task: a blocking read of a terminal cannot be cancelled, and must not hold up the exit.
            var input = new Thread(() => PumpInput(stdin, socket, rawMode is null ? null : new ConsoleEscapeFilter(), detached))
            {
                Name = "console-input",
                IsBackground = true,
            };
            input.Start();
            closeStatus = await PumpOutputAsync(socket, stdout, detached.Token).ConfigureAwait(false);
        }

        if (detached.IsCancellationRequested)
        {
            Console.Error.WriteLine($"sharpvisor: detached from VM {name} (it keeps running)");
            return ExitCodes.Success;
        }

        // The daemon may cut the connection right after its close message, before the client reads it; the VM's
        // state then tells whether it stopped (the normal end) or the connection really broke.
        if (closeStatus == WebSocketCloseStatus.NormalClosure || (closeStatus is null && !await StillRunsAsync(api, vm.Id).ConfigureAwait(false)))
        {
            if (interactive)
            {
                Console.Error.WriteLine($"sharpvisor: VM {name} stopped");
            }

            return ExitCodes.Success;
        }

        return Program.Fail(ExitCodes.RuntimeError, $"the console of VM {name} closed: {closeStatus?.ToString() ?? "connection lost"} {socket.CloseStatusDescription}".TrimEnd());
    }

    private static async Task<bool> StillRunsAsync(ApiClient api, Guid id)
    {
        try
        {
            var now = await api.SendAsync(HttpMethod.Get, ApiClient.VmPath(id.ToString("D")), ApiJsonContext.Default.VmResource).ConfigureAwait(false);
            return now.Value.State is "running" or "paused";
        }
        catch (Exception e) when (e is ApiException or DaemonUnreachableException)
        {
            return true; // cannot tell: report the lost connection
        }
    }

    /// <summary>Daemon to stdout until the daemon closes (returns its close status) or the user detaches (null).</summary>
    private static async Task<WebSocketCloseStatus?> PumpOutputAsync(ClientWebSocket socket, Stream stdout, CancellationToken detached)
    {
        var buffer = new byte[BufferSize];
        try
        {
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer.AsMemory(), detached).ConfigureAwait(false);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await AnswerCloseAsync(socket).ConfigureAwait(false);
                    return socket.CloseStatus;
                }

                await stdout.WriteAsync(buffer.AsMemory(0, received.Count), detached).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (detached.IsCancellationRequested)
        {
            return null;
        }
        catch (WebSocketException)
        {
            return null;
        }
    }

    /// <summary>Completes the closing handshake, as the protocol asks; the daemon may be gone already, which is fine.</summary>
    private static async Task AnswerCloseAsync(ClientWebSocket socket)
    {
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, limit.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Nothing more to say to a daemon that hung up.
        }
    }

    /// <summary>Stdin to the daemon, as binary messages; Ctrl-A x (on a terminal) detaches; end of input stops sending only.</summary>
    private static void PumpInput(Stream stdin, ClientWebSocket socket, ConsoleEscapeFilter? escapes, CancellationTokenSource detached)
    {
        var buffer = new byte[BufferSize];
        try
        {
            while (true)
            {
                var read = stdin.Read(buffer);
                if (read <= 0)
                {
                    return; // piped input ended: keep showing output until the VM stops
                }

                var bytes = buffer.AsSpan(0, read);
                var quit = false;
                if (escapes is not null)
                {
                    bytes = escapes.Filter(bytes, out quit);
                }

                if (bytes.Length > 0)
                {
                    socket.SendAsync(buffer.AsMemory(0, bytes.Length), WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None)
                        .AsTask().GetAwaiter().GetResult();
                }

                if (quit)
                {
                    detached.Cancel();
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or WebSocketException or ObjectDisposedException or InvalidOperationException)
        {
            // The socket closed under us (the VM stopped): the output side reports it.
        }
    }
}
