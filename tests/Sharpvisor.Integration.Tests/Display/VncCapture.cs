using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Debian's gvnccapture (package gvncviewer, libgvnc underneath): a real VNC client that connects, authenticates and
/// saves the screen as a PNG. It reads a password only from a terminal, so it runs under script(1), and the
/// password is typed once it asks.
/// </summary>
internal static class VncCapture
{
    public const string Tool = "/usr/bin/gvnccapture";

    /// <summary>A free loopback TCP port at or above 5900 (gvnccapture names servers by display number, port - 5900).</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>The first of <paramref name="count"/> consecutive free loopback ports (head k of a VM listens on port + k).</summary>
    public static int FreePorts(int count)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var first = FreePort();
            if (first + count <= IPEndPoint.MaxPort && Enumerable.Range(first + 1, count - 1).All(IsFree))
            {
                return first;
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free loopback ports");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Captures the screen at <paramref name="port"/> into <paramref name="file"/>; the client's exit code and output.</summary>
    public static async Task<ProcessResult> CaptureAsync(int port, string file, string? password)
    {
        Assert.True(File.Exists(Tool), $"{Tool} is missing: apt-get install gvncviewer (.ci/run does)");
        Assert.True(port >= 5900, $"port {port} has no VNC display number");
        using var process = ProcessRunner.Start("script", ["-qec", $"{Tool} localhost:{port - 5900} {file}", "/dev/null"]);
        var output = new StringBuilder();
        var buffer = new char[1024];
        using var deadline = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromSeconds(60)));
        var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
        try
        {
            // The client prints its prompt before it turns the terminal's echo off, and turning it off (TCSAFLUSH)
            // discards what was typed meanwhile: there is no telling from outside when it is ready. So the password
            // is typed at the prompt and again whenever the client says nothing for a second after it, until it
            // ends or the deadline passes (a line too many is never read; a loaded machine's client may take many
            // seconds between its prompt and its read).
            var typed = 0;
            var read = process.StandardOutput.ReadAsync(buffer, deadline.Token).AsTask();
            while (true)
            {
                var quiet = Task.Delay(TimeSpan.FromSeconds(1), deadline.Token);
                if (await Task.WhenAny(read, quiet) == quiet)
                {
                    await quiet; // throws once the deadline passed
                    if (password is not null && typed > 0)
                    {
                        typed++;
                        await TypeAsync(process, password);
                    }

                    continue;
                }

                if (await read == 0)
                {
                    break;
                }

                output.Append(buffer, 0, read.Result);
                if (password is not null && typed == 0 && output.ToString().Contains("Password:", StringComparison.Ordinal))
                {
                    typed++;
                    await TypeAsync(process, password);
                }

                read = process.StandardOutput.ReadAsync(buffer, deadline.Token).AsTask();
            }

            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"gvnccapture did not finish; it said:\n{output}");
        }

        return new ProcessResult(process.ExitCode, output.ToString(), await stderr);
    }

    /// <summary>Types the password; a client that has finished meanwhile (its terminal closed: a broken pipe) needs no more.</summary>
    private static async Task TypeAsync(System.Diagnostics.Process process, string password)
    {
        try
        {
            await process.StandardInput.WriteLineAsync(password);
            await process.StandardInput.FlushAsync();
        }
        catch (IOException)
        {
            // Its exit code and output say how it went.
        }
    }
}
