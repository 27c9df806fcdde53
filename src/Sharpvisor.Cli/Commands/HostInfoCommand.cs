using System.Globalization;
using Sharpvisor.Api;
using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Cli.Commands;

/// <summary><c>sharpvisor host-info</c>: what this host's KVM offers, for a person deciding what to run.</summary>
internal static class HostInfoCommand
{
    private static readonly HashSet<string> ValueOptions = ["--kvm"];

    private static readonly KvmCapability[] Shown =
    [
        KvmCapability.Irqchip, KvmCapability.Pit2, KvmCapability.Irqfd, KvmCapability.Ioeventfd,
        KvmCapability.UserMemory, KvmCapability.SignalMsi, KvmCapability.ImmediateExit, KvmCapability.VcpuEvents,
        KvmCapability.X2apicApi, KvmCapability.TscDeadlineTimer, KvmCapability.DirtyLogRing, KvmCapability.ReadonlyMem,
    ];

    public static int Execute(string[] args)
    {
        var options = new ArgumentReader(args, ValueOptions, new HashSet<string>());
        var device = options.Get("--kvm") ?? KvmSystem.DefaultPath;
        var dataDirectory = DaemonLocations.DefaultDataDirectory();
        var storage = HostFacts.StorageRoot(Directory.Exists(dataDirectory) ? dataDirectory : Path.GetDirectoryName(Path.GetFullPath(dataDirectory)) ?? "/");
        // What the host has, whatever its KVM: a user deciding what to run here needs both.
        Print(
        [
            ("CPUs", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)),
            ("memory", $"{HostFacts.MemInfoMiB("MemAvailable")} MiB available of {HostFacts.MemInfoMiB("MemTotal")} MiB"),
            ("storage", string.Create(CultureInfo.InvariantCulture, $"{storage.FreeBytes / (double)(1L << 30):0.0} GiB free of {storage.TotalBytes / (double)(1L << 30):0.0} GiB in {storage.Path}")),
        ]);

        var readiness = KvmReadiness.Probe(device);
        if (!readiness.Usable)
        {
            Print([("KVM", $"not usable: {readiness.Reason}")]);
            return Program.Fail(ExitCodes.RuntimeError, $"VMs cannot start on this host: {readiness.Reason}");
        }

        using var kvm = KvmSystem.Open(device);
        var cpuid = HostLimits.SupportedCpuid(kvm);
        var kind = HostVirtualization.Detect();
        var physBits = HostLimits.PhysicalAddressBits(cpuid);

        var lines = new List<(string, string)>
        {
            ("KVM device", kvm.Path),
            ("API version", kvm.ApiVersion.ToString(CultureInfo.InvariantCulture)),
            ("virtualization", HostVirtualization.Describe(kind)),
            ("max vCPUs per VM", $"{kvm.MaxVcpus} (recommended {kvm.CheckExtension(KvmCapability.NrVcpus)})"),
            ("max vCPU id", kvm.CheckExtension(KvmCapability.MaxVcpuId).ToString(CultureInfo.InvariantCulture)),
            ("memory slots", kvm.CheckExtension(KvmCapability.NrMemslots).ToString(CultureInfo.InvariantCulture)),
            ("guest physical address bits", $"{physBits} (up to {ByteSize.Format((1UL << physBits) - MemoryLayout.MmioHoleSize)} of guest RAM)"),
            ("vCPU run page", $"{kvm.VcpuMmapSize} bytes"),
            ("supported CPUID leaves", cpuid.Length.ToString(CultureInfo.InvariantCulture)),
        };
        foreach (var cap in Shown)
        {
            var value = kvm.CheckExtension(cap);
            lines.Add(($"KVM_CAP_{cap}", value == 0 ? "no" : value == 1 ? "yes" : $"yes ({value})"));
        }

        Print(lines);

        if (kind == VirtualizationKind.PvmEmulation)
        {
            Console.Out.WriteLine("note: guests run here, but slowly; Linux guests need the emulation workarounds (see docs).");
        }

        return ExitCodes.Success;
    }

    private static void Print(IReadOnlyList<(string Name, string Value)> lines)
    {
        // One width for every block, so the whole output lines up.
        const int Width = 30;
        foreach (var (name, value) in lines)
        {
            Console.Out.WriteLine((name + ":").PadRight(Width) + value);
        }

        Console.Out.Flush();
    }
}
