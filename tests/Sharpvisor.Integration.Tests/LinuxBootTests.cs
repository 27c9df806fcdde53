using System.Globalization;
using System.Text.RegularExpressions;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Real Linux kernels booted through `sharpvisor run`. Slow on hosts whose KVM emulates instructions (each
/// boot takes minutes there): skip them while iterating with <c>--filter Category!=Slow</c>; CI runs them.
/// On such hosts no user space can run, so our kernel's success line is the kernel's own
/// "Run /init as init process"; Debian's generic kernel stops on SIMD code during its initcalls
/// (ENVIRONMENT.md), so for it the check is that ACPI and SMP bring-up complete.
/// They run alone (no other test class in parallel): on a 2-core host whose KVM emulates every guest
/// instruction, sharing the cores stretches a boot badly enough to starve the guest's own timers.
/// </summary>
[Trait("Category", "Slow")]
[Collection(nameof(LinuxBootTests))]
public sealed partial class LinuxBootTests
{
    private const string Console = "console=ttyS0 earlyprintk=ttyS0 panic=-1";
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(12);

    [KvmFact]
    public async Task OurKernelReachesInitWithTwoCpusAndAcpi()
    {
        var kernel = Path.Combine(await LinuxImages.KernelDirectoryAsync(), "vmlinux");
        var initramfs = await LinuxImages.InitramfsAsync();

        var result = await BootUntilAsync("Run /init as init process", "--kernel", kernel, "--initrd", initramfs, "--cpus", "2", "--memory", "256M");

        Assert.Contains("ACPI: Using ACPI (MADT) for SMP configuration information", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("smp: Brought up 1 node, 2 CPUs", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("Unpacking initramfs", result.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"rtc_cmos 00:0\d: registered as rtc0", result.Stdout); // the DSDT's RTC, with IRQ 8 mapped
        Assert.Contains("found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]", result.Stdout, StringComparison.Ordinal);
        Assert.Equal(256UL << 20, UsableRamSeen(result.Stdout) + ReservedLowMemory);
    }

    [KvmFact]
    public async Task DebianPackagedKernelBringsUpBothCpusThroughAcpi()
    {
        var kernel = Path.Combine(await LinuxImages.DebianKernelDirectoryAsync(), "bzImage");

        var result = await BootUntilAsync("smp: Brought up 1 node, 2 CPUs", "--kernel", kernel, "--cpus", "2", "--memory", "512M");

        Assert.Contains("ACPI: Using ACPI (MADT) for SMP configuration information", result.Stdout, StringComparison.Ordinal);
    }

    [KvmTheory]
    [InlineData("128M", 128UL << 20)]
    [InlineData("4G", 4UL << 30)]
    [InlineData("64G", 64UL << 30)]
    public async Task LinuxSeesAllRamInItsMemoryMap(string memory, ulong bytes)
    {
        var kernel = Path.Combine(await LinuxImages.KernelDirectoryAsync(), "vmlinux");

        // The e820 map and the node's memory range print within the first seconds of boot.
        var result = await BootUntilAsync("Initmem setup node 0", "--kernel", kernel, "--memory", memory);

        Assert.Equal(bytes, UsableRamSeen(result.Stdout) + ReservedLowMemory);
    }

    [KvmFact]
    public async Task LinuxSeesSixteenCpus()
    {
        var kernel = Path.Combine(await LinuxImages.KernelDirectoryAsync(), "vmlinux");

        var result = await BootUntilAsync("smp: Brought up 1 node, 16 CPUs", "--kernel", kernel, "--cpus", "16", "--memory", "256M");

        Assert.Contains("smpboot: Allowing 16 CPUs, 0 hotplug CPUs", result.Stdout, StringComparison.Ordinal);
    }

    /// <summary>Boots with the serial console on and stops the VM once <paramref name="marker"/> was printed, which it asserts.</summary>
    private static async Task<ProcessResult> BootUntilAsync(string marker, params string[] options)
    {
        var result = await SharpvisorProcess.RunUntilAsync(
            ["run", .. options, "--cmdline", Console],
            output => output.Contains(marker, StringComparison.Ordinal),
            BootTimeout);
        Assert.True(result.Stdout.Contains(marker, StringComparison.Ordinal), $"'{marker}' never appeared:\n{result}");
        return result;
    }

    // 0x9FC00-0xFFFFF is reserved (EBDA and BIOS area) in the map the VMM gives, so RAM minus that is usable.
    private const ulong ReservedLowMemory = 0x10_0000 - 0x9_FC00;

    /// <summary>Sums the "usable" ranges of the kernel's "BIOS-e820" lines.</summary>
    private static ulong UsableRamSeen(string output)
    {
        var total = 0UL;
        foreach (Match m in E820Usable().Matches(output))
        {
            var start = ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var end = ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            total += end - start + 1;
        }

        Assert.True(total > 0, "no BIOS-e820 usable lines in the output:\n" + output);
        return total;
    }

    [GeneratedRegex(@"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable")]
    private static partial Regex E820Usable();
}

/// <summary>Keeps the Linux boots away from every other test class (see <see cref="LinuxBootTests"/>).</summary>
[CollectionDefinition(nameof(LinuxBootTests), DisableParallelization = true)]
public sealed class LinuxBootCollection;
