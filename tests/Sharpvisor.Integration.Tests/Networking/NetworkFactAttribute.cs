using System.Diagnostics;

namespace Sharpvisor.Integration.Tests.Networking;

/// <summary>
/// A test that needs a <see cref="NetworkNamespace"/> and a <see cref="DhcpServer"/>: root, <c>ip netns</c>,
/// <c>/dev/net/tun</c> and <c>dnsmasq</c>. Without them it is skipped on a developer's machine, but under CI=true it
/// runs (and fails), as <see cref="KvmFactAttribute"/> does for /dev/kvm.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class NetworkFactAttribute : FactAttribute
{
    public NetworkFactAttribute()
    {
        if (NetworkAvailability.Problem is { } problem && !KvmAvailability.IsCi)
        {
            Skip = $"cannot make a test network ({problem}); set CI=true to make this a failure";
        }
    }
}

/// <summary>A guest boot on /dev/kvm with a test network: the conditions of both <see cref="KvmFactAttribute"/> and <see cref="NetworkFactAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
[Xunit.Sdk.TraitDiscoverer(KvmTraitDiscoverer.TypeName, KvmTraitDiscoverer.AssemblyName)]
public sealed class KvmNetworkFactAttribute : FactAttribute, IKvmRequirement
{
    private bool _needsGuestUserSpace;

    public KvmNetworkFactAttribute()
    {
        Skip = KvmAvailability.SkipReason ?? NetworkSkipReason;
    }

    bool IKvmRequirement.NeedsKvm => true;

    /// <summary>As <see cref="KvmFactAttribute.NeedsGuestUserSpace"/>.</summary>
    public bool NeedsGuestUserSpace
    {
        get => _needsGuestUserSpace;
        set
        {
            _needsGuestUserSpace = value;
            Skip = KvmAvailability.SkipReasonFor(value) ?? NetworkSkipReason;
        }
    }

    private static string? NetworkSkipReason => NetworkAvailability.Problem is { } problem && !KvmAvailability.IsCi
        ? $"cannot make a test network ({problem}); set CI=true to make this a failure"
        : null;
}

internal static class NetworkAvailability
{
    public static string? Problem { get; } = Probe();

    private static string? Probe()
    {
        if (!IsRoot())
        {
            return "not root";
        }

        if (!File.Exists("/dev/net/tun"))
        {
            return "no /dev/net/tun";
        }

        if (Run("ip", "netns", "list") is { } ip)
        {
            return "`ip netns list` failed: " + ip;
        }

        return Run("dnsmasq", "--version") is { } dnsmasq ? "no usable dnsmasq (apt-get install dnsmasq-base): " + dnsmasq : null;
    }

    /// <summary>The effective user id from /proc/self/status ("Uid: real effective saved fs").</summary>
    private static bool IsRoot() =>
        File.ReadLines("/proc/self/status")
            .FirstOrDefault(line => line.StartsWith("Uid:", StringComparison.Ordinal))?
            .Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries) is [_, _, "0", ..];

    /// <summary>Runs a command; null when it exits with 0, else what went wrong.</summary>
    private static string? Run(string file, params string[] args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, args)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(10_000))
            {
                process.Kill(entireProcessTree: true);
                return "timed out";
            }

            return process.ExitCode == 0 ? null : $"exit code {process.ExitCode}: {stderr.Result.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return e.Message;
        }
    }
}
