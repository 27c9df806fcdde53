using System.Diagnostics;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// A user at a VNC viewer: Debian's TigerVNC viewer (xtigervncviewer) on a virtual X server (Xvfb) of its own,
/// connected to a VM's VNC socket, and xdotool typing into its window as a keyboard would (XTEST key events, which
/// the viewer sends to the server as it would a user's).
/// </summary>
internal sealed class VncViewer : IAsyncDisposable
{
    private const string Xvfb = "/usr/bin/Xvfb";
    private const string Viewer = "/usr/bin/xtigervncviewer";
    private const string Xdotool = "/usr/bin/xdotool";

    private readonly Process _server;
    private readonly Process _viewer;
    private readonly string _display;
    private readonly string _window;

    private VncViewer(Process server, Process viewer, string display, string window) =>
        (_server, _viewer, _display, _window) = (server, viewer, display, window);

    /// <summary>Starts the X server and the viewer on <paramref name="socket"/>; returns once the viewer's window is up.</summary>
    public static async Task<VncViewer> StartAsync(string socket)
    {
        foreach (var (tool, package) in new[] { (Xvfb, "xvfb"), (Viewer, "tigervnc-viewer"), (Xdotool, "xdotool") })
        {
            Assert.True(File.Exists(tool), $"{tool} is missing: apt-get install {package} (.ci/run does)");
        }

        var limit = TestTime.Ceiling(TimeSpan.FromSeconds(60));
        // -displayfd picks a free display number and prints it once the server accepts connections.
        var server = ProcessRunner.Start(Xvfb, ["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"]);
        Process? viewer = null;
        try
        {
            using var deadline = new CancellationTokenSource(limit);
            var number = await server.StandardOutput.ReadLineAsync(deadline.Token);
            Assert.True(int.TryParse(number, out _), $"Xvfb did not say its display: {number}");
            var display = ":" + number;
            TestTrace.Step($"viewer: Xvfb on {display}");
            viewer = ProcessRunner.Start(Viewer, [socket], environment => environment["DISPLAY"] = display);
            var viewerOutput = Task.WhenAll(viewer.StandardOutput.ReadToEndAsync(CancellationToken.None), viewer.StandardError.ReadToEndAsync(CancellationToken.None));
            while (true)
            {
                // The window is named after the desktop ("Sharpvisor VM - TigerVNC"); the viewer's dialogs are not.
                var found = await XdotoolAsync(display, ["search", "--onlyvisible", "--name", "Sharpvisor VM"]);
                var window = found.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
                if (window is not null)
                {
                    TestTrace.Step($"viewer: window {window}");
                    return new VncViewer(server, viewer, display, window);
                }

                if (viewer.HasExited || deadline.IsCancellationRequested)
                {
                    var windows = await XdotoolAsync(display, ["search", "--name", ".", "getwindowname", "%@"]);
                    Stop(viewer);
                    var output = await viewerOutput;
                    throw new TimeoutException(
                        $"no viewer window ({(viewer.HasExited ? "the viewer ended" : "time out")}); windows: {windows.Stdout.ReplaceLineEndings(" ")}\nthe viewer said:\n{output[0]}{output[1]}");
                }

                await Task.Delay(250, CancellationToken.None);
            }
        }
        catch
        {
            Stop(viewer);
            Stop(server);
            throw;
        }
    }

    /// <summary>Types <paramref name="line"/> and Enter into the viewer's window, key by key.</summary>
    public async Task TypeLineAsync(string line)
    {
        Assert.Equal(0, (await XdotoolAsync(_display, ["windowfocus", "--sync", _window])).ExitCode);
        var typed = await XdotoolAsync(_display, ["type", "--delay", "40", "--", line]);
        Assert.True(typed.ExitCode == 0, $"xdotool type failed: {typed}");
        Assert.Equal(0, (await XdotoolAsync(_display, ["key", "Return"])).ExitCode);
    }

    public async ValueTask DisposeAsync()
    {
        Stop(_viewer);
        Stop(_server);
        await Task.WhenAll(_viewer.WaitForExitAsync(), _server.WaitForExitAsync());
        _viewer.Dispose();
        _server.Dispose();
    }

    private static async Task<ProcessResult> XdotoolAsync(string display, string[] args)
    {
        using var process = ProcessRunner.Start(Xdotool, args, environment => environment["DISPLAY"] = display);
        return await ProcessRunner.CollectAsync(process, timeout: TestTime.Ceiling(TimeSpan.FromSeconds(60)));
    }

    private static void Stop(Process? process)
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
        }
    }
}
