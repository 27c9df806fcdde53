using System.Text;
using Sharpvisor.Integration.Tests.Networking;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Linux's user space at work under `sharpvisor run`: our kernel starts busybox's shell as its init (from the
/// initramfs, or from the ext4 root disk on virtio-blk), and the test drives that shell over the serial console as a
/// user would. Hosts whose KVM emulates instructions (PVM) run no guest user space: there these tests are skipped and
/// .ci/run runs them in the nested KVM host.
/// Each command ends by echoing a marker computed by the shell (<c>echo DONE$((40+2))</c> prints DONE42), so the
/// marker in the output is the shell's answer, never the terminal's echo of what was typed.
/// </summary>
[Trait("Category", "Slow")]
[Collection(nameof(LinuxBootTests))]
public sealed class LinuxUserSpaceTests : IDisposable
{
    private const string InitStarted = "Run /bin/sh as init process";
    private static readonly TimeSpan BootTime = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan CommandTime = TimeSpan.FromMinutes(1);

    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("sv-userspace-");

    public void Dispose() => _scratch.Delete(recursive: true);

    [KvmTheory(NeedsGuestUserSpace = true)]
    [InlineData("vmlinux", 1, "initramfs")]
    [InlineData("vmlinux", 4, "initramfs")]
    [InlineData("bzImage", 1, "initramfs")]
    [InlineData("bzImage", 4, "initramfs")]
    [InlineData("vmlinux", 1, "disk")]
    [InlineData("vmlinux", 4, "disk")]
    [InlineData("bzImage", 1, "disk")]
    [InlineData("bzImage", 4, "disk")]
    public async Task BusyboxShellAnswersOnTheSerialConsole(string image, int cpus, string root)
    {
        var kernel = Path.Combine(await LinuxImages.KernelDirectoryAsync(), image);
        string[] rootOptions = root == "disk"
            ? ["--disk", await LinuxImages.RootfsCopyAsync(_scratch.FullName), "--cmdline", DiskCommandLine]
            : ["--initrd", await LinuxImages.InitramfsAsync(), "--cmdline", "console=ttyS0 panic=-1 rdinit=/bin/sh"];
        await using var console = GuestConsole.Start(
            ["run", "--kernel", kernel, "--cpus", cpus.ToString(System.Globalization.CultureInfo.InvariantCulture), "--memory", "256M", .. rootOptions]);

        await console.WaitForAsync(InitStarted, BootTime);
        await console.TypeLineAsync("mount -t proc proc /proc; uname -a; echo CPUS=$(grep -c ^processor /proc/cpuinfo); echo DONE$((40+2))");
        var output = await console.WaitForAsync("DONE42", CommandTime);

        Assert.Matches(@"\nLinux \S+ 6\.1\.\d+ .* x86_64", output);
        Assert.Contains($"CPUS={cpus}\n", output, StringComparison.Ordinal);
        await console.TypeLineAsync("poweroff -f");
        Assert.Equal(0, await console.WaitForExitAsync(CommandTime));
    }

    [KvmFact(NeedsGuestUserSpace = true)]
    public async Task AFileWrittenToTheVirtioDiskIsThereAfterAReboot()
    {
        var kernel = Path.Combine(await LinuxImages.KernelDirectoryAsync(), "vmlinux");
        var disk = await LinuxImages.RootfsCopyAsync(_scratch.FullName);
        await using var console = GuestConsole.Start(
            ["run", "--kernel", kernel, "--cpus", "2", "--memory", "256M", "--disk", disk, "--cmdline", DiskCommandLine, "--on-reboot", "restart"]);

        await console.WaitForAsync(InitStarted, BootTime);
        await console.TypeLineAsync("echo sharpvisor-$((6*7))-persisted > /persist.txt; sync; echo WROTE$((2+2))");
        await console.WaitForAsync("WROTE4", CommandTime);
        await console.TypeLineAsync("reboot -f");
        await console.WaitForAsync(InitStarted, BootTime, times: 2);
        await console.TypeLineAsync("cat /persist.txt; echo READ$((3+3))");
        var output = await console.WaitForAsync("READ6", CommandTime);
        await console.TypeLineAsync("poweroff -f");
        Assert.Equal(0, await console.WaitForExitAsync(CommandTime));

        // Read back by the guest after its reboot, and present in the host's image file.
        var afterReboot = output[output.LastIndexOf(InitStarted, StringComparison.Ordinal)..];
        Assert.Contains("sharpvisor-42-persisted\n", afterReboot, StringComparison.Ordinal);
        Assert.True(Encoding.ASCII.GetString(await File.ReadAllBytesAsync(disk)).Contains("sharpvisor-42-persisted", StringComparison.Ordinal),
            "the file's bytes are not in the disk image");
    }

    [KvmNetworkFact(NeedsGuestUserSpace = true)]
    public async Task PingOverVirtioNetReachesTheHost()
    {
        var kernel = Path.Combine(await LinuxImages.KernelDirectoryAsync(), "bzImage");
        var disk = await LinuxImages.RootfsCopyAsync(_scratch.FullName);
        using var ns = await NetworkNamespace.CreateAsync();
        await using var console = GuestConsole.Start(ns.StartInfo(
            SharpvisorProcess.ExecutablePath,
            ["run", "--kernel", kernel, "--cpus", "2", "--memory", "256M", "--disk", disk, "--cmdline", DiskCommandLine, "--net", $"tap={ns.TapName}"]));

        await console.WaitForAsync(InitStarted, BootTime);
        await console.TypeLineAsync(
            $"ip addr add {NetworkNamespace.GuestAddress}/{NetworkNamespace.PrefixLength} dev eth0; ip link set eth0 up; "
            + $"ping -c 3 -W 10 {NetworkNamespace.HostAddress}; echo PINGED$((5+5))");
        var output = await console.WaitForAsync("PINGED10", CommandTime);

        Assert.Contains($"bytes from {NetworkNamespace.HostAddress}: seq=0", output, StringComparison.Ordinal);
        Assert.Contains("3 packets transmitted, 3 packets received, 0% packet loss", output, StringComparison.Ordinal);
        await console.TypeLineAsync("poweroff -f");
        Assert.Equal(0, await console.WaitForExitAsync(CommandTime));
    }

    private const string DiskCommandLine = "console=ttyS0 panic=-1 root=/dev/vda rw rootfstype=ext4 init=/bin/sh";
}
