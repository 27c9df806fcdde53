using Sharpvisor.Vmm.Arch.X86.Linux;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86.Boot;

/// <summary>A kernel the VMM can boot: a PVH ELF (vmlinux, our test guest) or a Linux bzImage.</summary>
public abstract class KernelImage
{
    private static readonly byte[] ElfMagic = [0x7F, (byte)'E', (byte)'L', (byte)'F'];

    /// <summary>
    /// Picks the boot protocol from the file's magic and checks what can be checked without guest memory (an ELF
    /// needs its PVH entry note); errors are one-line <see cref="BootException"/>s.
    /// </summary>
    public static KernelImage Parse(byte[] bytes, string description)
    {
        if (!bytes.AsSpan().StartsWith(ElfMagic))
        {
            return new LinuxBzImageKernel(BzImage.Parse(bytes, description));
        }

        var elf = ElfImage.Parse(bytes, description);
        PvhLoader.FindEntryPoint(elf);
        return new PvhKernel(elf);
    }

    /// <summary>True for a Linux kernel, which gets Linux-specific command-line additions.</summary>
    public abstract bool IsLinux { get; }

    /// <summary>Writes the kernel, its boot structures and a GDT into guest memory, and returns the entry state.</summary>
    public abstract BootEntry Load(GuestMemory memory, MemoryLayout layout, BootInputs inputs);

    private protected static void WriteGdt(GuestMemory memory, ulong[] descriptors)
    {
        for (var i = 0; i < descriptors.Length; i++)
        {
            memory.Write(MemoryLayout.BootGdt + (ulong)(i * 8), descriptors[i]);
        }
    }
}

/// <summary>PVH: 32-bit protected-mode entry with EBX pointing at hvm_start_info.</summary>
public sealed class PvhKernel(ElfImage elf) : KernelImage
{
    public ElfImage Elf { get; } = elf;

    /// <summary>A vmlinux carries "Linux" ELF notes; our test guest does not.</summary>
    public override bool IsLinux => Elf.TryFindNote("Linux", LinuxNoteBuildSalt, out _) || Elf.TryFindNote("Linux", LinuxNoteLtoInfo, out _);

    // LINUX_ELFNOTE_BUILD_SALT and LINUX_ELFNOTE_LTO_INFO: every vmlinux since 4.20 carries at least one.
    private const uint LinuxNoteBuildSalt = 0x100;
    private const uint LinuxNoteLtoInfo = 0x101;

    public override BootEntry Load(GuestMemory memory, MemoryLayout layout, BootInputs inputs)
    {
        var kernel = PvhLoader.Load(Elf, memory);
        WriteGdt(memory, VcpuBootState.BootGdt());
        var startInfo = new PvhStartInfo { CommandLine = inputs.CommandLine, Initrd = inputs.Initrd, RsdpAddress = inputs.RsdpAddress };
        var startInfoAddress = startInfo.WriteTo(memory, layout, kernel);
        return new BootEntry(
            VcpuBootState.ForPvhEntry(kernel.EntryPoint.Value, startInfoAddress.Value),
            reset => VcpuBootState.ForPvhEntry(reset, MemoryLayout.BootGdt.Value));
    }
}

/// <summary>The Linux x86 boot protocol's 64-bit entry: long mode, identity-mapped, RSI pointing at boot_params.</summary>
public sealed class LinuxBzImageKernel(BzImage image) : KernelImage
{
    public BzImage Image { get; } = image;

    public override bool IsLinux => true;

    public override BootEntry Load(GuestMemory memory, MemoryLayout layout, BootInputs inputs)
    {
        var kernel = BzImageLoader.Load(Image, memory, layout);
        WriteGdt(memory, VcpuBootState.LongModeGdt());
        var pageTableRoot = IdentityPageTables.Write(memory, MemoryLayout.PageTableArea);
        var bootParams = new BootParams { CommandLine = inputs.CommandLine, Initrd = inputs.Initrd, RsdpAddress = inputs.RsdpAddress };
        var zeroPage = bootParams.WriteTo(memory, layout, Image, kernel);
        return new BootEntry(
            VcpuBootState.ForLinux64Entry(kernel.Entry64.Value, zeroPage.Value),
            reset => VcpuBootState.ForLinux64Entry(reset, MemoryLayout.BootGdt.Value, pageTableRoot.Value));
    }
}
