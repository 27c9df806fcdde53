using System.Diagnostics;
using System.Text;

namespace Sharpvisor.Integration.Tests.Networking;

/// <summary>
/// dnsmasq as a DHCP-only server inside a <see cref="NetworkNamespace"/>, bound to its TAP alone, handing out
/// <see cref="NetworkNamespace.GuestAddress"/>. DNS is off (<c>--port=0</c>); the pid, lease and log files live in a
/// temporary directory; <c>--log-dhcp</c> writes every DISCOVER/OFFER/REQUEST/ACK to <see cref="LogPath"/>.
/// <see cref="Dispose"/> kills it and deletes the directory.
/// </summary>
internal sealed class DhcpServer : IDisposable
{
    private static readonly TimeSpan StartTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(20));
    private readonly Process process;
    private readonly DirectoryInfo directory;
    private readonly Task<string> stdout;
    private readonly Task<string> stderr;
    private int disposed;

    private DhcpServer(NetworkNamespace ns, DirectoryInfo directory)
    {
        Namespace = ns;
        this.directory = directory;
        LogPath = Path.Combine(directory.FullName, "dnsmasq.log");
        var info = ns.StartInfo("dnsmasq",
        [
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--user=root",
            "--port=0",
            "--no-resolv",
            "--no-hosts",
            $"--interface={ns.TapName}",
            "--except-interface=lo",
            "--bind-interfaces",
            $"--dhcp-range={NetworkNamespace.GuestAddress},{NetworkNamespace.GuestAddress},255.255.255.0,1h",
            $"--dhcp-option=option:router,{NetworkNamespace.HostAddress}",
            "--dhcp-authoritative",
            "--no-ping",
            $"--pid-file={Path.Combine(directory.FullName, "dnsmasq.pid")}",
            $"--dhcp-leasefile={Path.Combine(directory.FullName, "dnsmasq.leases")}",
            "--log-dhcp",
            $"--log-facility={LogPath}",
        ]);
        process = Process.Start(info)!;
        process.StandardInput.Close();
        stdout = process.StandardOutput.ReadToEndAsync();
        stderr = process.StandardError.ReadToEndAsync();
    }

    public NetworkNamespace Namespace { get; }

    /// <summary>dnsmasq's log (<c>--log-facility</c>): with <c>--log-dhcp</c>, lines such as <c>DHCPACK(TAP) 10.0.2.15 MAC</c>.</summary>
    public string LogPath { get; }

    /// <summary>Starts dnsmasq in <paramref name="ns"/> and waits until it listens on UDP port 67 there.</summary>
    public static async Task<DhcpServer> StartAsync(NetworkNamespace ns)
    {
        var server = new DhcpServer(ns, Directory.CreateTempSubdirectory("sv-dnsmasq-"));
        try
        {
            await server.WaitUntilListeningAsync();
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>The log so far (empty before dnsmasq wrote any).</summary>
    public string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return "";
        }
    }

    /// <summary>Whether <c>ss -lun</c> inside the namespace shows a socket on port 67.</summary>
    public async Task<bool> IsListeningAsync()
    {
        var ss = await Namespace.RunAsync("ss", "-H", "-lun", "sport", "= :67");
        return ss.ExitCode == 0 && ss.Stdout.Contains(":67", StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.WaitForExit();
        }
        finally
        {
            process.Dispose();
            directory.Delete(recursive: true);
        }
    }

    public override string ToString() => $"dnsmasq in {Namespace}, log {LogPath}:\n{ReadLog()}";

    private async Task WaitUntilListeningAsync()
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (!await IsListeningAsync())
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync();
                throw new InvalidOperationException(
                    $"dnsmasq exited with {process.ExitCode}:\n{await stdout}\n{await stderr}\n{ReadLog()}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"dnsmasq did not listen on UDP 67 within {StartTimeout}:\n{ReadLog()}");
            }

            await Task.Delay(100);
        }
    }
}
