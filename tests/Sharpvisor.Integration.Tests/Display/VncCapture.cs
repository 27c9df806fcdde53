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
            // Typed at every prompt: a client that asks again after a refusal must not wait for ever.
            var prompts = 0;
            while (true)
            {
                var read = await process.StandardOutput.ReadAsync(buffer, deadline.Token);
                if (read == 0)
                {
                    break;
                }

                output.Append(buffer, 0, read);
                var asked = output.ToString().Split("Password:").Length - 1;
                for (; password is not null && prompts < asked; prompts++)
                {
                    await process.StandardInput.WriteLineAsync(prompts < 3 ? password : "");
                    await process.StandardInput.FlushAsync();
                }
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
}
