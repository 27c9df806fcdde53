using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace Sharpvisor.Integration.Tests.Networking;

/// <summary>
/// A throw-away network namespace (<c>ip netns add sv-XXXXXXXX</c>) holding one persistent TAP device with
/// <see cref="HostAddress"/>/24, up. Everything it does names the namespace (<c>ip -n</c>), so the machine's own
/// interfaces and addresses are never touched. A VMM run inside it (<see cref="StartInfo"/>) opens the TAP by
/// name; <see cref="Dispose"/> deletes the namespace and with it the TAP.
/// </summary>
internal sealed class NetworkNamespace : IDisposable
{
    /// <summary>The TAP's address, where the DHCP server answers: the guest's gateway.</summary>
    public const string HostAddress = "10.0.2.1";

    /// <summary>The one address the DHCP server hands out (as QEMU's user network does).</summary>
    public const string GuestAddress = "10.0.2.15";

    public const int PrefixLength = 24;

    private static readonly TimeSpan CommandTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(30));
    private int disposed;

    private NetworkNamespace(string name, IReadOnlyList<string> tapNames)
    {
        Name = name;
        TapNames = tapNames;
    }

    /// <summary>The namespace's name, <c>sv-</c> and 8 random hex digits.</summary>
    public string Name { get; }

    /// <summary>The TAP device's name inside the namespace (<c>svtap-</c> and the same digits; at most 15 characters).</summary>
    public string TapName => TapNames[0];

    /// <summary>Every TAP: one, or with <c>CreateAsync(taps: N)</c> N ports of a bridge (<c>svtapI-</c> and the digits after the first).</summary>
    public IReadOnlyList<string> TapNames { get; }

    /// <summary>
    /// Creates the namespace, its loopback and the TAP; on any failure removes what it made and throws. With more than
    /// one TAP (a migration's source and destination) they are ports of a bridge that holds the host's address instead.
    /// </summary>
    public static async Task<NetworkNamespace> CreateAsync(int taps = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(taps, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(taps, 9);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var ns = new NetworkNamespace("sv-" + id, [.. Enumerable.Range(0, taps).Select(i => i == 0 ? "svtap-" + id : $"svtap{i}-{id}")]);
        await Ip("netns", "add", ns.Name);
        try
        {
            await Ip("-n", ns.Name, "link", "set", "lo", "up");
            var addressed = ns.TapName;
            if (taps > 1)
            {
                addressed = "svbr-" + id;
                await Ip("-n", ns.Name, "link", "add", addressed, "type", "bridge");
            }

            foreach (var tap in ns.TapNames)
            {
                await Ip("-n", ns.Name, "tuntap", "add", "dev", tap, "mode", "tap");
                if (taps > 1)
                {
                    await Ip("-n", ns.Name, "link", "set", tap, "master", addressed);
                }

                await Ip("-n", ns.Name, "link", "set", tap, "up");
            }

            await Ip("-n", ns.Name, "addr", "add", $"{HostAddress}/{PrefixLength}", "dev", addressed);
            await Ip("-n", ns.Name, "link", "set", addressed, "up");
            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    /// <summary>Whether <c>ip netns list</c> shows a namespace of that name.</summary>
    public static async Task<bool> ExistsAsync(string name)
    {
        var list = await Ip("netns", "list");
        return list.Stdout.Split('\n').Any(line => line.Split(' ', 2)[0] == name);
    }

    /// <summary>
    /// A start info that runs <paramref name="file"/> inside the namespace: <c>ip netns exec NAME file args...</c>,
    /// with standard streams redirected. <c>ip netns exec</c> execs the command, so the process is the command itself
    /// (signals sent to its id reach it).
    /// </summary>
    public ProcessStartInfo StartInfo(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["netns", "exec", Name, file, .. args])
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    /// <summary>Runs a command inside the namespace to its end.</summary>
    public Task<ProcessResult> RunAsync(string file, params string[] args) =>
        ProcessRunner.RunAsync("ip", ["netns", "exec", Name, file, .. args], timeout: CommandTimeout);

    /// <summary>
    /// Runs a command inside the namespace until <paramref name="done"/> holds for its standard output so far (or it
    /// ends), then sends SIGTERM and waits for the exit; kills it after <paramref name="timeout"/> and throws.
    /// </summary>
    public async Task<ProcessResult> RunUntilAsync(string file, IEnumerable<string> args, Func<string, bool> done, TimeSpan timeout)
    {
        using var process = Process.Start(StartInfo(file, args))!;
        return await ProcessRunner.RunUntilAsync(process, done, timeout);
    }

    /// <summary>Deletes the namespace (and so the TAP). Any process still inside keeps it alive only until it ends.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        using var del = Process.Start(new ProcessStartInfo("ip", ["netns", "delete", Name])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        del.WaitForExit();
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"netns {Name}, tap {TapName} {HostAddress}/{PrefixLength}");

    private static async Task<ProcessResult> Ip(params string[] args)
    {
        var result = await ProcessRunner.RunAsync("ip", args, timeout: CommandTimeout);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed:\n{result}");
        }

        return result;
    }
}
