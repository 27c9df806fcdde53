using System.Globalization;
using Sharpvisor.Kvm;
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
        using var kvm = KvmSystem.Open(options.Get("--kvm") ?? KvmSystem.DefaultPath);
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

        var width = lines.Max(l => l.Item1.Length) + 2;
        foreach (var (name, value) in lines)
        {
            Console.Out.WriteLine((name + ":").PadRight(width) + value);
        }

        if (kind == VirtualizationKind.PvmEmulation)
        {
            Console.Out.WriteLine("note: guests run here, but slowly; Linux guests need the emulation workarounds (see docs).");
        }

        return ExitCodes.Success;
    }
}
