using Sharpvisor.Control;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>The kind of a range in the e820-style memory map the guest is told about.</summary>
public enum E820Type : uint
{
    Ram = 1,
    Reserved = 2,
}

/// <summary>One entry of the memory map handed to the guest (PVH start info memmap, later the Linux zero page).</summary>
public readonly record struct E820Entry(GuestAddress Start, ulong Size, E820Type Type)
{
    public GuestAddress End => Start + Size;
}

/// <summary>
/// The guest physical address map for one RAM size.
/// <para>
/// RAM fills [0, 3 GiB); [3 GiB, 4 GiB) is left as a hole for MMIO (PCI BARs, LAPIC, IOAPIC, HPET, flash),
/// because 32-bit devices and the legacy APIC addresses must live below 4 GiB; RAM beyond 3 GiB continues at 4 GiB.
/// </para>
/// <para>
/// Low memory (below 1 MiB) holds the VMM's boot structures at fixed addresses:
/// <code>
/// 0x00000-0x00FFF  real-mode IVT and BIOS data area: left alone, guests still probe the BDA
/// 0x01000-0x04FFF  free
/// 0x05000-0x05FFF  boot GDT
/// 0x06000-0x06037  PVH hvm_start_info
/// 0x06040-0x06FFF  PVH memory map (up to MaxMemmapEntries entries)
/// 0x07000-0x07FFF  PVH module list (the initrd)
/// 0x08000-0x08FFF  zero page (Linux boot_params) for the bzImage boot protocol
/// 0x09000-0x0EFFF  identity-mapping page tables for the bzImage 64-bit entry: PML4, PDPT, 4 page directories
/// 0x0F000-0x1FFFF  free
/// 0x20000-0x2FFFF  kernel command line, NUL included
/// 0x9FC00-0xFFFFF  EBDA, VGA window, option ROMs and BIOS: reported reserved
/// 0x9FC00-0xDFFFF  MP floating pointer and MP configuration table (where Linux's MP scan looks second)
/// 0xE0000-0xFFFFF  ACPI tables, RSDP first (where a legacy RSDP scan looks), inside the reserved BIOS area
/// 0x100000-        kernel (PVH ELF segments must start at or above 1 MiB)
/// </code>
/// Every structure sits in its own page-aligned slot so a later structure can grow without moving the others,
/// and all of it is below the EBDA so no guest treats it as firmware-owned.
/// </para>
/// </summary>
public sealed class MemoryLayout
{
    public const ulong PageSize = 0x1000;

    public const ulong MmioHoleStart = 0xC000_0000;

    public const ulong MmioHoleEnd = 0x1_0000_0000;

    public const ulong MmioHoleSize = MmioHoleEnd - MmioHoleStart;

    /// <summary>
    /// Start of the window the VMM places 32-bit PCI memory BARs in: the lower half of the MMIO hole,
    /// [3 GiB, 3.5 GiB). The guest may move BARs elsewhere; this is only where they start.
    /// </summary>
    public const ulong PciMmioWindowStart = MmioHoleStart;

    public const ulong PciMmioWindowSize = 0x2000_0000;

    /// <summary>
    /// The PCIe enhanced configuration (ECAM/MMCONFIG) window, right after the BAR window. ECAM gives each bus
    /// 1 MiB (32 devices x 8 functions x 4 KiB); a full 256-bus window would take a quarter of the 1 GiB hole,
    /// so it covers bus 0 only (<see cref="PciEcamBusCount"/>), which is all the root bus has. The MCFG table
    /// names the same bus range. Free above it up to the I/O APIC at 0xFEC0_0000.
    /// </summary>
    public const ulong PciEcamBase = 0xE000_0000;

    public const int PciEcamBusCount = 1;

    public const ulong PciEcamBytesPerBus = 1UL << 20;

    public const ulong PciEcamSize = PciEcamBusCount * PciEcamBytesPerBus;

    /// <inheritdoc cref="VmmLimits.MinimumRamSize"/>
    public const ulong MinimumRamSize = VmmLimits.MinimumRamSize;

    /// <summary>End of conventional memory: the EBDA conventionally starts 1 KiB below 640 KiB.</summary>
    public const ulong ConventionalMemoryEnd = 0x9_FC00;

    /// <summary>Start of extended memory. Everything below is the VMM's or the legacy PC's; kernels load at or above it.</summary>
    public const ulong KernelMinimumAddress = 0x10_0000;

    /// <summary>Room for <see cref="IdentityPageTables"/>: PML4, PDPT and four page directories mapping 4 GiB.</summary>
    public const ulong PageTableAreaSize = 0x6000;

    public const ulong BootGdtSize = PageSize;

    /// <summary>sizeof(struct hvm_start_info) for version 1 of the PVH ABI.</summary>
    public const ulong StartInfoSize = 56;

    public const ulong MemmapEntrySize = 24;

    /// <summary>The memory map fills the rest of the start-info page.</summary>
    public const int MaxMemmapEntries = (int)((PageSize - (0x6040 - 0x6000)) / MemmapEntrySize);

    public const ulong ModuleEntrySize = 32;

    public const int MaxModules = (int)(PageSize / ModuleEntrySize);

    public const ulong ZeroPageSize = PageSize;

    /// <inheritdoc cref="VmmLimits.MaxCommandLineSize"/>
    public const ulong MaxCommandLineSize = VmmLimits.MaxCommandLineSize;

    /// <summary>
    /// After the zero page rather than at 0x1000: six pages do not fit below the GDT at 0x5000, and the structures
    /// the PVH boot already uses stay where they are.
    /// </summary>
    public static readonly GuestAddress PageTableArea = new(0x9000);

    public static readonly GuestAddress BootGdt = new(0x5000);

    public static readonly GuestAddress StartInfo = new(0x6000);

    /// <summary>Right after the 56-byte start info, 64-byte aligned so entries never straddle a cache line oddly.</summary>
    public static readonly GuestAddress Memmap = new(0x6040);

    public static readonly GuestAddress ModuleList = new(0x7000);

    public static readonly GuestAddress ZeroPage = new(0x8000);

    /// <summary>At 128 KiB: clear of every fixed structure above, with 64 KiB of room before anything else.</summary>
    public static readonly GuestAddress CommandLine = new(0x2_0000);

    /// <summary>
    /// The BIOS area, 128 KiB, holds the ACPI tables: reserved in the e820 map so the guest never reuses it, and
    /// the range a guest without a boot-protocol RSDP pointer scans. A 1024-vCPU MADT needs about 14 KiB.
    /// </summary>
    public static readonly GuestAddress AcpiTables = new(0xE_0000);

    public const ulong AcpiTablesSize = 0x2_0000;

    /// <summary>
    /// The MP table (<see cref="X86.MpTable"/>): its floating pointer in the last KiB of base memory, one of the places
    /// the MP specification says to look, where QEMU's firmware puts it too; the configuration table follows.
    /// Up to the ACPI tables, all of it reserved.
    /// </summary>
    public static readonly GuestAddress MpTable = new(ConventionalMemoryEnd);

    public const ulong MpTableSize = 0xE_0000 - ConventionalMemoryEnd;

    private static readonly GuestAddress HighRamStart = new(MmioHoleEnd);

    private readonly (GuestAddress Start, ulong Size)[] _ramRanges;

    private readonly E820Entry[] _e820Map;

    /// <summary>Lays out <paramref name="ramSize"/> bytes; see <see cref="Validate"/> for what is refused.</summary>
    public MemoryLayout(ulong ramSize, int physicalAddressBits)
    {
        Validate(ramSize, physicalAddressBits);
        RamSize = ramSize;
        LowRamEnd = new GuestAddress(Math.Min(ramSize, MmioHoleStart));
        HighRamSize = ramSize - LowRamEnd.Value;

        _ramRanges = HighRamSize == 0
            ? [(new GuestAddress(0), LowRamEnd.Value)]
            : [(new GuestAddress(0), LowRamEnd.Value), (HighRamStart, HighRamSize)];

        var map = new List<E820Entry>
        {
            new(new GuestAddress(0), ConventionalMemoryEnd, E820Type.Ram),
            new(new GuestAddress(ConventionalMemoryEnd), KernelMinimumAddress - ConventionalMemoryEnd, E820Type.Reserved),
            new(new GuestAddress(KernelMinimumAddress), LowRamEnd.Value - KernelMinimumAddress, E820Type.Ram),

            // Linux uses the ECAM window named by MCFG only if the firmware also reserves it (else it falls back
            // to ports 0xCF8/0xCFC); reserving it costs nothing when there is no PCI bus.
            new(new GuestAddress(PciEcamBase), PciEcamSize, E820Type.Reserved),
        };
        if (HighRamSize != 0)
        {
            map.Add(new E820Entry(HighRamStart, HighRamSize, E820Type.Ram));
        }

        _e820Map = [.. map];
    }

    public ulong RamSize { get; }

    /// <summary>End of the RAM below the MMIO hole: min(RAM size, 3 GiB).</summary>
    public GuestAddress LowRamEnd { get; }

    /// <summary>Bytes of RAM placed from 4 GiB up; zero for guests of 3 GiB or less.</summary>
    public ulong HighRamSize { get; }

    /// <summary>One past the highest guest-physical RAM address.</summary>
    public GuestAddress RamEnd => HighRamSize == 0 ? LowRamEnd : HighRamStart + HighRamSize;

    /// <summary>The RAM regions to map, in address order (pass to <see cref="GuestMemory.Create(IEnumerable{ValueTuple{GuestAddress, ulong}})"/>).</summary>
    public IReadOnlyList<(GuestAddress Start, ulong Size)> RamRanges => _ramRanges;

    /// <summary>The memory map the guest is told, in address order.</summary>
    public IReadOnlyList<E820Entry> E820Map => _e820Map;

    /// <summary>
    /// Throws <see cref="InvalidMemorySizeException"/> when <paramref name="ramSize"/> is below
    /// <see cref="MinimumRamSize"/>, not a whole number of pages, or, with the MMIO hole, does not fit in a guest
    /// physical address space of <paramref name="physicalAddressBits"/> bits (the host's MAXPHYADDR).
    /// </summary>
    public static void Validate(ulong ramSize, int physicalAddressBits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(physicalAddressBits, 32);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(physicalAddressBits, 64);

        if (ramSize < MinimumRamSize)
        {
            throw new InvalidMemorySizeException(
                $"--memory {ByteSize.Format(ramSize)} is below the minimum of {ByteSize.Format(MinimumRamSize)}");
        }

        if (ramSize % PageSize != 0)
        {
            throw new InvalidMemorySizeException(
                $"--memory {ByteSize.Format(ramSize)} is not a multiple of the {ByteSize.Format(PageSize)} page size");
        }

        var addressSpace = physicalAddressBits == 64 ? ulong.MaxValue : 1UL << physicalAddressBits;
        var maxRam = addressSpace - MmioHoleSize;
        if (ramSize > MmioHoleStart && ramSize > maxRam)
        {
            throw new InvalidMemorySizeException(
                $"--memory {ByteSize.Format(ramSize)} exceeds the {ByteSize.Format(maxRam)} of RAM the guest's "
                + $"{physicalAddressBits}-bit physical address space ({ByteSize.Format(addressSpace)}) can hold "
                + $"beside the {ByteSize.Format(MmioHoleSize)} MMIO hole");
        }
    }
}
