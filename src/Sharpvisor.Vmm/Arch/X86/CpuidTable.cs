using System.Numerics;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>One CPUID leaf/subleaf as KVM sees it (kvm_cpuid_entry2 without the padding).</summary>
public readonly record struct CpuidEntry(uint Function, uint Index, uint Flags, uint Eax, uint Ebx, uint Ecx, uint Edx);

/// <summary>
/// Turns the host's KVM_GET_SUPPORTED_CPUID list into the list one vCPU is given. The topology presented is
/// the simplest honest one: every vCPU is a core with one thread, all cores in one package, and the initial
/// (x2)APIC ID of a vCPU is its index. Leaves not about topology or identity pass through unchanged.
/// </summary>
public static class CpuidTable
{
    /// <summary>KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry applies only to its own subleaf.</summary>
    public const uint SignificantIndexFlag = 1;

    /// <summary>KVM_MAX_VCPUS on current kernels; the topology fields below are sized for it.</summary>
    public const int MaxVcpus = 4096;

    public const uint KvmSignatureLeaf = 0x4000_0000;

    public const uint KvmFeaturesLeaf = 0x4000_0001;

    private const uint HypervisorBit = 1U << 31;
    private const uint HyperThreadingBit = 1U << 28;
    private const uint LevelTypeSmt = 1;
    private const uint LevelTypeCore = 2;

    // "KVMKVMKVM\0\0\0" read as little-endian EBX, ECX, EDX.
    private const uint KvmSignatureEbx = 0x4b4d_564b;
    private const uint KvmSignatureEcx = 0x564b_4d56;
    private const uint KvmSignatureEdx = 0x0000_004d;

    /// <summary>The CPUID entries for vCPU <paramref name="vcpuIndex"/> of <paramref name="vcpuCount"/>.</summary>
    public static IReadOnlyList<CpuidEntry> ForVcpu(IReadOnlyList<CpuidEntry> hostSupported, int vcpuCount, int vcpuIndex)
    {
        ArgumentNullException.ThrowIfNull(hostSupported);
        ArgumentOutOfRangeException.ThrowIfLessThan(vcpuCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vcpuCount, MaxVcpus);
        ArgumentOutOfRangeException.ThrowIfNegative(vcpuIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(vcpuIndex, vcpuCount);

        var count = (uint)vcpuCount;
        var apicId = (uint)vcpuIndex;
        var hasFeaturesLeaf = hostSupported.Any(e => e.Function == KvmFeaturesLeaf);
        var result = new List<CpuidEntry>(hostSupported.Count + 3);
        var topologyLeavesDone = new HashSet<uint>();

        foreach (var entry in hostSupported)
        {
            switch (entry.Function)
            {
                case 1:
                    result.Add(ProcessorInfo(entry, count, apicId));
                    break;
                case 4:
                    result.Add(CacheParameters(entry, count));
                    break;
                case 0xB or 0x1F:
                    // The host's subleaves describe the host; ours replace all of them, once per leaf.
                    if (topologyLeavesDone.Add(entry.Function))
                    {
                        result.AddRange(ExtendedTopology(entry.Function, count, apicId));
                    }

                    break;
                case KvmSignatureLeaf:
                    result.Add(entry with
                    {
                        Eax = hasFeaturesLeaf ? KvmFeaturesLeaf : KvmSignatureLeaf,
                        Ebx = KvmSignatureEbx,
                        Ecx = KvmSignatureEcx,
                        Edx = KvmSignatureEdx,
                    });
                    break;
                default:
                    result.Add(entry);
                    break;
            }
        }

        return result;
    }

    /// <summary>Bits of an APIC ID needed to number <paramref name="count"/> items: ceil(log2(count)).</summary>
    public static int IdWidth(uint count) => count <= 1 ? 0 : 32 - BitOperations.LeadingZeroCount(count - 1);

    private static CpuidEntry ProcessorInfo(CpuidEntry entry, uint count, uint apicId)
    {
        // Leaf 1 EBX: [31:24] initial APIC ID, [23:16] addressable logical processors per package (8 bits, so it
        // saturates; leaf 0xB carries the real number), [15:0] (CLFLUSH size, brand) kept from the host.
        var ebx = (entry.Ebx & 0x0000_ffff) | ((apicId & 0xff) << 24) | (Math.Min(count, 0xff) << 16);
        var edx = count > 1 ? entry.Edx | HyperThreadingBit : entry.Edx & ~HyperThreadingBit;
        return entry with { Ebx = ebx, Ecx = entry.Ecx | HypervisorBit, Edx = edx };
    }

    private static CpuidEntry CacheParameters(CpuidEntry entry, uint count)
    {
        var cacheType = entry.Eax & 0x1f;
        if (cacheType == 0)
        {
            return entry; // the terminating "no more caches" subleaf
        }

        // EAX[31:26] cores per package - 1 (6 bits); EAX[25:14] logical processors sharing this cache - 1
        // (12 bits). With one thread per core, L1 and L2 belong to one vCPU and the L3 to the whole package.
        var level = (entry.Eax >> 5) & 0x7;
        var coresMinusOne = Math.Min(count, 64) - 1;
        var sharingMinusOne = level >= 3 ? Math.Min(count, 4096) - 1 : 0;
        var eax = (entry.Eax & 0x0000_3fff) | (coresMinusOne << 26) | (sharingMinusOne << 14);
        return entry with { Eax = eax };
    }

    private static CpuidEntry[] ExtendedTopology(uint function, uint count, uint apicId)
    {
        // Per subleaf: EAX[4:0] shift of the x2APIC ID to the next level's ID, EBX[15:0] logical processors at
        // this level, ECX[7:0] subleaf number, ECX[15:8] level type (0 ends the list), EDX the x2APIC ID.
        var coreShift = (uint)IdWidth(count);
        return
        [
            new CpuidEntry(function, 0, SignificantIndexFlag, 0, 1, 0 | (LevelTypeSmt << 8), apicId),
            new CpuidEntry(function, 1, SignificantIndexFlag, coreShift, count, 1 | (LevelTypeCore << 8), apicId),
            new CpuidEntry(function, 2, SignificantIndexFlag, 0, 0, 2, apicId),
        ];
    }
}
