namespace Sharpvisor.Integration.Tests.Networking;

/// <summary>The test network itself (namespace, TAP, dnsmasq), without a VM.</summary>
public sealed class NetworkHarnessTests
{
    [NetworkFact]
    public async Task NamespaceExistsUntilDisposed()
    {
        string name;
        using (var ns = await NetworkNamespace.CreateAsync())
        {
            name = ns.Name;
            Assert.Matches("^sv-[0-9a-f]{8}$", name);
            Assert.True(await NetworkNamespace.ExistsAsync(name), $"{name} is not in `ip netns list`");
        }

        Assert.False(await NetworkNamespace.ExistsAsync(name), $"{name} is still in `ip netns list` after Dispose");
    }

    [NetworkFact]
    public async Task TapIsUpWithTheHostAddressInsideTheNamespaceOnly()
    {
        using var ns = await NetworkNamespace.CreateAsync();

        var inside = await ns.RunAsync("ip", "-4", "-o", "addr", "show", "dev", ns.TapName);
        Assert.True(inside.ExitCode == 0, inside.ToString());
        Assert.Contains($"inet {NetworkNamespace.HostAddress}/{NetworkNamespace.PrefixLength}", inside.Stdout, StringComparison.Ordinal);

        var details = await ns.RunAsync("ip", "-d", "link", "show", "dev", ns.TapName);
        Assert.Contains("tun type tap", details.Stdout, StringComparison.Ordinal);
        Assert.Contains("UP", details.Stdout.Split('>')[0], StringComparison.Ordinal);

        var outside = await ProcessRunner.RunAsync("ip", ["link", "show", "dev", ns.TapName]);
        Assert.NotEqual(0, outside.ExitCode);
    }

    [NetworkFact]
    public async Task DhcpServerListensOnUdp67InsideTheNamespaceUntilDisposed()
    {
        using var ns = await NetworkNamespace.CreateAsync();
        var dhcp = await DhcpServer.StartAsync(ns);
        try
        {
            var ss = await ns.RunAsync("ss", "-H", "-lun", "sport", "= :67");
            Assert.Contains($"%{ns.TapName}:67", ss.Stdout, StringComparison.Ordinal);
            Assert.Contains($"sockets bound exclusively to interface {ns.TapName}", dhcp.ReadLog(), StringComparison.Ordinal);
            Assert.Contains($"DHCP, IP range {NetworkNamespace.GuestAddress} -- {NetworkNamespace.GuestAddress}", dhcp.ReadLog(), StringComparison.Ordinal);
        }
        finally
        {
            dhcp.Dispose();
        }

        Assert.False(await dhcp.IsListeningAsync(), "something still listens on UDP 67 in the namespace after Dispose");
        Assert.False(File.Exists(dhcp.LogPath), "the dnsmasq directory is still there after Dispose");
    }

    [NetworkFact]
    public async Task StartInfoRunsTheCommandInsideTheNamespace()
    {
        using var ns = await NetworkNamespace.CreateAsync();

        var result = await ns.RunUntilAsync("ip", ["-o", "link"], _ => false, TestTime.Ceiling(TimeSpan.FromSeconds(30)));

        Assert.Equal(0, result.ExitCode);
        var links = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, links.Length); // lo and the TAP: nothing of the host's
        Assert.Contains(links, line => line.Contains($": {ns.TapName}:", StringComparison.Ordinal));
    }
}
