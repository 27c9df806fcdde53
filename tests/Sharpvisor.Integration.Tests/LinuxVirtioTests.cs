using Sharpvisor.Integration.Tests.Networking;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Our kernel on virtio-pci devices through `sharpvisor run --disk ... --net tap=...`: an ext4 root disk
/// (guests/linux/build-rootfs.sh) and a NIC on a TAP in a throw-away network namespace, where dnsmasq answers
/// DHCP. One boot checks both, to keep CI time down: the kernel configures eth0 by DHCP (<c>ip=dhcp</c>, a late
/// initcall) and then mounts the root disk, so by "VFS: Mounted root" both have happened.
/// The whole path (image, namespace, dnsmasq, kernel config) was checked with QEMU 7.2 q35 on a PVM host:
/// "IP-Config: Got DHCP answer from 10.0.2.1, my address is 10.0.2.15" and
/// "VFS: Mounted root (ext4 filesystem) on device 254:0." about 8.5 minutes after exec on a loaded 2-core machine.
/// </summary>
[Trait("Category", "Slow")]
[Collection(nameof(LinuxBootTests))]
public sealed class LinuxVirtioTests
{
    private const string CommandLine = "console=ttyS0 earlyprintk=ttyS0 panic=-1 root=/dev/vda rw rootfstype=ext4 ip=dhcp";
    private const string RootMounted = "VFS: Mounted root (ext4 filesystem)";
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(15);

    [KvmNetworkFact]
    public async Task OurKernelMountsTheVirtioRootDiskAndConfiguresTheVirtioNicByDhcp()
    {
        var kernel = Path.Combine(await LinuxImages.KernelDirectoryAsync(), "vmlinux");
        var scratch = Directory.CreateTempSubdirectory("sv-virtio-");
        try
        {
            var disk = await LinuxImages.RootfsCopyAsync(scratch.FullName);
            using var ns = await NetworkNamespace.CreateAsync();
            using var dhcp = await DhcpServer.StartAsync(ns);

            var result = await ns.RunUntilAsync(
                SharpvisorProcess.ExecutablePath,
                ["run", "--kernel", kernel, "--cpus", "1", "--memory", "256M", "--cmdline", CommandLine,
                 "--disk", disk, "--net", $"tap={ns.TapName}"],
                output => output.Contains(RootMounted, StringComparison.Ordinal),
                BootTimeout);

            var context = $"{result}\n{dhcp}";
            Assert.True(result.Stdout.Contains(RootMounted, StringComparison.Ordinal), $"'{RootMounted}' never appeared:\n{context}");
            Assert.Contains("virtio_blk virtio", result.Stdout, StringComparison.Ordinal);
            Assert.Contains("[vda] 65536 512-byte logical blocks", result.Stdout, StringComparison.Ordinal);
            Assert.True(
                result.Stdout.Contains($"IP-Config: Got DHCP answer from {NetworkNamespace.HostAddress}, my address is {NetworkNamespace.GuestAddress}", StringComparison.Ordinal),
                $"no DHCP answer in the kernel log:\n{context}");
            Assert.True(
                dhcp.ReadLog().Contains($"DHCPACK({ns.TapName}) {NetworkNamespace.GuestAddress}", StringComparison.Ordinal),
                $"dnsmasq sent no DHCPACK:\n{context}");
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }
}
