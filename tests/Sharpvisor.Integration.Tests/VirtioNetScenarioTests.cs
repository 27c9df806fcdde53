using System.Diagnostics;
using Sharpvisor.Integration.Tests.Networking;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The test guest's virtio-net driver against our virtio-net on a real TAP, inside a network namespace the test
/// makes and removes: a frame the guest sends is read on the host side, and one the host sends reaches the guest.
/// </summary>
public sealed class VirtioNetScenarioTests
{
    private const int GuestPassed = 1;

    /// <summary>Waits for the VMM to exit by itself: "PASS" is printed just before the exit, and a stop then would change the status.</summary>
    private static readonly Func<string, bool> RunToTheEnd = _ => false;

    [KvmNetworkFact]
    public Task PingFromTheGuestReachesTheTapAndThePongComesBack() => PingPong(runts: false);

    /// <summary>A real TAP refuses frames shorter than an Ethernet header (EINVAL): that once killed the NIC for good.</summary>
    [KvmNetworkFact]
    public Task RuntFramesAreDroppedAndThePingStillGetsItsPong() => PingPong(runts: true);

    private static async Task PingPong(bool runts)
    {
        using var ns = await NetworkNamespace.CreateAsync();
        var script = Path.Combine(AppContext.BaseDirectory, "Networking", "pong.py");
        using var responder = Process.Start(ns.StartInfo("python3", [script, ns.TapName]))!;
        try
        {
            Assert.Equal("ready", await responder.StandardOutput.ReadLineAsync());
            var result = await ns.RunUntilAsync(
                SharpvisorProcess.ExecutablePath,
                ["run", "--net", $"tap={ns.TapName},mac=02:00:00:00:00:42", "--cmdline", runts ? "virtio-net runt=1" : "virtio-net"],
                RunToTheEnd,
                TestTime.Ceiling(TimeSpan.FromMinutes(2)));

            Assert.True(result.ExitCode == GuestPassed, result.ToString());
            Assert.Contains("virtio-net: mac 02:00:00:00:00:42", result.Stdout, StringComparison.Ordinal);
            Assert.Contains("virtio-net: got pong 'sharpvisor-pong from host'", result.Stdout, StringComparison.Ordinal);
            if (runts)
            {
                Assert.Contains("virtio-net: sent 13 runt frames", result.Stdout, StringComparison.Ordinal);
            }

            Assert.Equal("ping from 02:00:00:00:00:42", await responder.StandardOutput.ReadLineAsync());
        }
        finally
        {
            if (!responder.HasExited)
            {
                responder.Kill();
            }
        }
    }

    [KvmNetworkFact]
    public async Task ATapThatDoesNotExistIsCreatedForTheVmAndGoesWithIt()
    {
        using var ns = await NetworkNamespace.CreateAsync();
        var result = await ns.RunUntilAsync(
            SharpvisorProcess.ExecutablePath,
            ["run", "--net", "tap=svnew0", "--cmdline", "virtio-net-bench count=50"],
            RunToTheEnd,
            TestTime.Ceiling(TimeSpan.FromMinutes(2)));

        Assert.True(result.ExitCode == GuestPassed, result.ToString());
        Assert.Contains("BENCH-END 50", result.Stdout, StringComparison.Ordinal);
        var links = await ns.RunAsync("ip", "-o", "link", "show");
        Assert.DoesNotContain("svnew0", links.Stdout, StringComparison.Ordinal);
    }
}
