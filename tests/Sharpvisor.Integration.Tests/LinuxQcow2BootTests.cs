using System.Security.Cryptography;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The desktop-pool model on one disk: a Linux kernel mounts its ext4 root from a qcow2 overlay that qemu-img made over
/// a raw template, writes to it (the mount itself writes the superblock and journal), and every write lands in the
/// overlay: the template's bytes stay as they were, and qemu-img finds the overlay sound after the VMM stops.
/// Kernel-only markers, so this holds on every KVM backend.
/// </summary>
[Trait("Category", "Slow")]
[Collection(nameof(LinuxBootTests))]
public sealed class LinuxQcow2BootTests
{
    private const string CommandLine = "console=ttyS0 earlyprintk=ttyS0 panic=-1 root=/dev/vda rw rootfstype=ext4";
    private const string RootMounted = "VFS: Mounted root (ext4 filesystem)";
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(12);

    [KvmFact]
    public async Task OurKernelMountsItsRootFromAQcow2OverlayAndItsWritesLandOnlyThere()
    {
        var kernel = Path.Combine(await LinuxImages.KernelDirectoryAsync(), "vmlinux");
        var scratch = Directory.CreateTempSubdirectory("sv-qcow2-");
        try
        {
            var template = await LinuxImages.RootfsCopyAsync(scratch.FullName);
            var templateHash = await HashAsync(template);
            var overlay = Path.Combine(scratch.FullName, "desktop1.qcow2");
            var created = await ProcessRunner.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", template, overlay]);
            Assert.True(created.ExitCode == 0, $"qemu-img create failed:\n{created}");

            var result = await SharpvisorProcess.RunUntilAsync(
                ["run", "--kernel", kernel, "--cpus", "1", "--memory", "256M", "--disk", $"{overlay},format=qcow2", "--cmdline", CommandLine],
                output => output.Contains(RootMounted, StringComparison.Ordinal) || output.Contains("Kernel panic", StringComparison.Ordinal),
                TestTime.Ceiling(BootTimeout));

            Assert.True(result.Stdout.Contains(RootMounted, StringComparison.Ordinal), $"'{RootMounted}' never appeared:\n{result}");
            Assert.Contains("[vda] 65536 512-byte logical blocks", result.Stdout, StringComparison.Ordinal);
            Assert.Equal(templateHash, await HashAsync(template));

            // Sound (0), or clusters leaked by the stop (3); never corrupt (2). And it holds the guest's writes.
            var check = await ProcessRunner.RunAsync("qemu-img", ["check", "-q", overlay]);
            Assert.True(check.ExitCode is 0 or 3, $"qemu-img check of the overlay:\n{check}");
            var compare = await ProcessRunner.RunAsync("qemu-img", ["compare", "-q", "-f", "raw", "-F", "qcow2", template, overlay]);
            Assert.True(compare.ExitCode == 1, $"the overlay reads the same as its template: the guest's writes went nowhere\n{compare}");
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    private static async Task<string> HashAsync(string path)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(file));
    }
}
