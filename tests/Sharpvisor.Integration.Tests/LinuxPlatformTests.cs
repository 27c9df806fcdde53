namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Linux kernels configured unlike ours still find the platform: the PCI bus through the MP table and config
/// mechanism #1 when there is no ACPI, and their virtio interrupts through INTx when there is no MSI (the _PRT with
/// ACPI, the MP table's PCI interrupt entries without). The root disk mounting proves the interrupts: virtio-blk
/// completes its reads only in its interrupt handler. Kernel-only markers, so these hold on every KVM backend.
/// (An x86-64 Linux always probes 0xCF8 unless told <c>pci=conf2</c> or <c>pci=bios</c>, which also turn MMCONFIG off,
/// so no command line gives "ECAM only"; that Linux accepts the window is checked from its log instead.)
/// </summary>
[Trait("Category", "Slow")]
[Collection(nameof(LinuxBootTests))]
public sealed class LinuxPlatformTests
{
    private const string CommandLine = "console=ttyS0 earlyprintk=ttyS0 panic=-1 root=/dev/vda rw rootfstype=ext4";
    private const string RootMounted = "VFS: Mounted root (ext4 filesystem)";
    private const string IntaFromMpTable = "virtio-pci 0000:00:01.0: PCI->APIC IRQ transform: INT A -> IRQ 17";
    private const string EcamAccepted = "PCI: MMCONFIG at [mem 0xe0000000-0xe00fffff] reserved in E820";
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(12);

    /// <summary>
    /// With ACPI the interrupt comes through the _PRT, and Linux also accepts the ECAM window (MCFG, reserved in E820)
    /// for extended config space; without ACPI, through the MP table, with config space through 0xCF8.
    /// </summary>
    [KvmTheory]
    [InlineData("pci=nomsi", "PCI: Using ACPI for IRQ routing", EcamAccepted)]
    [InlineData("acpi=off pci=nomsi", IntaFromMpTable, "PCI: Using configuration type 1 for base access")]
    public async Task OurKernelWithoutMsiMountsTheVirtioRootDiskThroughIntx(string platform, params string[] expected)
    {
        var kernel = Path.Combine(await LinuxImages.KernelDirectoryAsync(), "vmlinux");

        var result = await BootFromVirtioDiskAsync(kernel, platform);

        Assert.All(expected, line => Assert.Contains(line, result.Stdout, StringComparison.Ordinal));
    }

    [KvmFact]
    public async Task AKernelBuiltWithoutAcpiOrMsiFindsThePciBusAndMountsTheVirtioRootDisk()
    {
        var kernel = Path.Combine(await LinuxImages.MinimalKernelDirectoryAsync(), "vmlinux");

        var result = await BootFromVirtioDiskAsync(kernel, "");

        Assert.Contains("MPTABLE: OEM ID: SHARPV", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("PCI: Using configuration type 1 for base access", result.Stdout, StringComparison.Ordinal);
        Assert.Contains(IntaFromMpTable, result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("ACPI: Using ACPI", result.Stdout, StringComparison.Ordinal);
    }

    private static async Task<ProcessResult> BootFromVirtioDiskAsync(string kernel, string platform)
    {
        var scratch = Directory.CreateTempSubdirectory("sv-platform-");
        try
        {
            var disk = await LinuxImages.RootfsCopyAsync(scratch.FullName);
            var result = await SharpvisorProcess.RunUntilAsync(
                ["run", "--kernel", kernel, "--cpus", "1", "--memory", "256M", "--disk", disk, "--cmdline", $"{CommandLine} {platform}"],
                output => output.Contains(RootMounted, StringComparison.Ordinal) || output.Contains("Kernel panic", StringComparison.Ordinal),
                BootTimeout);

            Assert.True(result.Stdout.Contains(RootMounted, StringComparison.Ordinal), $"'{RootMounted}' never appeared:\n{result}");
            Assert.Contains("[vda] 65536 512-byte logical blocks", result.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("PCI: Fatal", result.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("probe of virtio", result.Stdout, StringComparison.Ordinal); // "probe of virtio0 failed"
            return result;
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }
}
