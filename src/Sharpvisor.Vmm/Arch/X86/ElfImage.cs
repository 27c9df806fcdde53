using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>One PT_LOAD program header, already checked to lie inside the file and not to wrap around.</summary>
public readonly record struct ElfSegment(GuestAddress PhysicalAddress, ulong FileOffset, ulong FileSize, ulong MemorySize)
{
    /// <summary>One past the last byte the segment occupies in guest memory.</summary>
    public GuestAddress PhysicalEnd => PhysicalAddress + MemorySize;
}

/// <summary>
/// A little-endian x86 ELF executable (ELF64 x86-64 or ELF32 i386), parsed from untrusted bytes.
/// Every offset and size read from the file is bounds-checked before use; anything malformed becomes a
/// <see cref="BootException"/> naming the file, never an indexing or overflow exception.
/// </summary>
public sealed class ElfImage
{
    public const ushort MachineI386 = 3;

    public const ushort MachineX86_64 = 62;

    private const ushort TypeExecutable = 2;
    private const uint ProgramTypeLoad = 1;
    private const uint ProgramTypeNote = 4;
    private const uint SectionTypeNote = 7;
    private const byte Class32 = 1;
    private const byte Class64 = 2;
    private const byte DataLittleEndian = 1;
    private const byte CurrentVersion = 1;
    private const int IdentSize = 16;

    private readonly byte[] _bytes;
    private readonly Layout _layout;
    private readonly ulong _programHeaderOffset;
    private readonly int _programHeaderCount;
    private readonly ulong _sectionHeaderOffset;
    private readonly int _sectionHeaderCount;
    private readonly int _sectionHeaderEntrySize;

    private ElfImage(string description, byte[] bytes)
    {
        Description = description;
        _bytes = bytes;

        if (bytes.Length < 4 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
        {
            throw Error("is not an ELF file (bad magic)");
        }

        if (bytes.Length < IdentSize)
        {
            throw Error($"is truncated ({bytes.Length} bytes, shorter than an ELF identification)");
        }

        _layout = bytes[4] switch
        {
            Class32 => Layout.Elf32,
            Class64 => Layout.Elf64,
            var c => throw Error($"has an unknown ELF class {c}"),
        };
        Is64Bit = _layout.Is64Bit;

        if (bytes[5] != DataLittleEndian)
        {
            throw Error("is not a little-endian ELF file, so it is not an x86 kernel");
        }

        if (bytes[6] != CurrentVersion)
        {
            throw Error($"has an unsupported ELF version {bytes[6]}");
        }

        if ((ulong)bytes.Length < _layout.HeaderSize)
        {
            throw Error($"is truncated ({bytes.Length} bytes, shorter than the {_layout.HeaderSize}-byte ELF header)");
        }

        var type = U16(16);
        if (type != TypeExecutable)
        {
            throw Error($"is not an executable ELF file (e_type {type}); only ET_EXEC kernels can be booted");
        }

        Machine = U16(18);
        var expectedMachine = Is64Bit ? MachineX86_64 : MachineI386;
        if (Machine != expectedMachine)
        {
            throw Error($"is an ELF{(Is64Bit ? 64 : 32)} file for machine {Machine}, not {(Is64Bit ? "x86-64" : "i386")}");
        }

        EntryPoint = Word(24);
        _programHeaderOffset = Word(Is64Bit ? 32UL : 28UL);
        _sectionHeaderOffset = Word(Is64Bit ? 40UL : 32UL);
        var programHeaderEntrySize = U16(Is64Bit ? 54UL : 42UL);
        _programHeaderCount = U16(Is64Bit ? 56UL : 44UL);
        _sectionHeaderEntrySize = U16(Is64Bit ? 58UL : 46UL);
        _sectionHeaderCount = U16(Is64Bit ? 60UL : 48UL);

        if (_programHeaderCount == 0)
        {
            throw Error("has no program headers");
        }

        if (programHeaderEntrySize != _layout.ProgramHeaderSize)
        {
            throw Error($"has {programHeaderEntrySize}-byte program headers; ELF{(Is64Bit ? 64 : 32)} needs {_layout.ProgramHeaderSize}");
        }

        var tableSize = (ulong)_programHeaderCount * _layout.ProgramHeaderSize;
        if (!FitsInFile(_programHeaderOffset, tableSize))
        {
            throw Error($"is truncated: its program header table [0x{_programHeaderOffset:x}, +0x{tableSize:x}) "
                + $"lies past the end of the {bytes.Length}-byte file");
        }

        var segments = new List<ElfSegment>();
        for (var i = 0; i < _programHeaderCount; i++)
        {
            var header = ReadProgramHeader(i);
            if (header.Type != ProgramTypeLoad || header.MemorySize == 0)
            {
                continue;
            }

            if (header.FileSize > header.MemorySize)
            {
                throw Error($"has segment {i} with more file bytes (0x{header.FileSize:x}) than memory bytes (0x{header.MemorySize:x})");
            }

            if (!FitsInFile(header.Offset, header.FileSize))
            {
                throw Error($"is truncated: segment {i} [0x{header.Offset:x}, +0x{header.FileSize:x}) "
                    + $"lies past the end of the {bytes.Length}-byte file");
            }

            if (header.PhysicalAddress > ulong.MaxValue - header.MemorySize)
            {
                throw Error($"has segment {i} at 0x{header.PhysicalAddress:x} (+0x{header.MemorySize:x}) that wraps around the address space");
            }

            segments.Add(new ElfSegment(new GuestAddress(header.PhysicalAddress), header.Offset, header.FileSize, header.MemorySize));
        }

        if (segments.Count == 0)
        {
            throw Error("has no loadable (PT_LOAD) segments");
        }

        LoadSegments = segments;
    }

    /// <summary>How messages name this image, e.g. "kernel /boot/vmlinux".</summary>
    public string Description { get; }

    public bool Is64Bit { get; }

    /// <summary><see cref="MachineX86_64"/> or <see cref="MachineI386"/>.</summary>
    public ushort Machine { get; }

    /// <summary>e_entry: a virtual address for most kernels, so PVH boot uses the Xen note instead.</summary>
    public ulong EntryPoint { get; }

    /// <summary>The PT_LOAD segments with a non-zero memory size, in file order.</summary>
    public IReadOnlyList<ElfSegment> LoadSegments { get; }

    /// <summary>Parses <paramref name="bytes"/>; <paramref name="description"/> names the image in error messages.</summary>
    public static ElfImage Parse(byte[] bytes, string description = "kernel")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(description);
        return new ElfImage(description, bytes);
    }

    /// <summary>Reads and parses the file at <paramref name="path"/>; I/O failures become a <see cref="BootException"/> too.</summary>
    public static ElfImage ReadFile(string path, string role = "kernel")
    {
        ArgumentNullException.ThrowIfNull(path);
        var description = $"{role} {path}";
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BootException($"{description} does not exist", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BootException($"{description} cannot be read: permission denied", e);
        }
        catch (IOException e)
        {
            throw new BootException($"{description} cannot be read: {e.Message}", e);
        }

        return new ElfImage(description, bytes);
    }

    /// <summary>The bytes of <paramref name="segment"/> stored in the file (its first FileSize bytes).</summary>
    public ReadOnlySpan<byte> GetFileBytes(ElfSegment segment) =>
        FitsInFile(segment.FileOffset, segment.FileSize)
            ? _bytes.AsSpan((int)segment.FileOffset, (int)segment.FileSize)
            : throw new ArgumentException("segment does not belong to this image", nameof(segment));

    /// <summary>
    /// Finds the descriptor of the first note with this owner name and type, searching PT_NOTE segments first and,
    /// only if none holds it, SHT_NOTE sections (some linkers emit notes without a PT_NOTE covering them).
    /// A malformed note area that has to be walked is an error rather than a silent miss.
    /// </summary>
    public bool TryFindNote(string name, uint type, out ReadOnlyMemory<byte> descriptor)
    {
        ArgumentNullException.ThrowIfNull(name);
        var nameBytes = Encoding.ASCII.GetBytes(name);

        for (var i = 0; i < _programHeaderCount; i++)
        {
            var header = ReadProgramHeader(i);
            if (header.Type == ProgramTypeNote
                && TryFindNoteIn($"note segment {i}", header.Offset, header.FileSize, header.Align, nameBytes, type, out descriptor))
            {
                return true;
            }
        }

        foreach (var (index, offset, size, align) in NoteSections())
        {
            if (TryFindNoteIn($"note section {index}", offset, size, align, nameBytes, type, out descriptor))
            {
                return true;
            }
        }

        descriptor = default;
        return false;
    }

    private IEnumerable<(int Index, ulong Offset, ulong Size, ulong Align)> NoteSections()
    {
        // No section table is normal for stripped images; only a table that claims to exist must be sound.
        if (_sectionHeaderOffset == 0 || _sectionHeaderCount == 0)
        {
            yield break;
        }

        if ((ulong)_sectionHeaderEntrySize != _layout.SectionHeaderSize)
        {
            throw Error($"has {_sectionHeaderEntrySize}-byte section headers; ELF{(Is64Bit ? 64 : 32)} needs {_layout.SectionHeaderSize}");
        }

        var tableSize = (ulong)_sectionHeaderCount * _layout.SectionHeaderSize;
        if (!FitsInFile(_sectionHeaderOffset, tableSize))
        {
            throw Error($"is truncated: its section header table [0x{_sectionHeaderOffset:x}, +0x{tableSize:x}) "
                + $"lies past the end of the {_bytes.Length}-byte file");
        }

        for (var i = 0; i < _sectionHeaderCount; i++)
        {
            var at = _sectionHeaderOffset + ((ulong)i * _layout.SectionHeaderSize);
            if (U32(at + 4) != SectionTypeNote)
            {
                continue;
            }

            yield return Is64Bit
                ? (i, U64(at + 24), U64(at + 32), U64(at + 48))
                : (i, U32(at + 16), U32(at + 20), U32(at + 32));
        }
    }

    private bool TryFindNoteIn(string where, ulong offset, ulong size, ulong align, byte[] name, uint type, out ReadOnlyMemory<byte> descriptor)
    {
        descriptor = default;
        if (!FitsInFile(offset, size))
        {
            throw Error($"is truncated: its {where} [0x{offset:x}, +0x{size:x}) lies past the end of the {_bytes.Length}-byte file");
        }

        // Notes are 4-byte aligned, except that 8-aligned note areas (GNU property notes) pad to 8.
        var padding = align == 8 ? 8UL : 4UL;
        var end = offset + size;
        var at = offset;
        while (end - at >= 12)
        {
            var nameSize = (ulong)U32(at);
            var descriptorSize = (ulong)U32(at + 4);
            var noteType = U32(at + 8);
            var nameStart = at + 12;
            var descriptorStart = nameStart + AlignUp(nameSize, padding);
            var next = descriptorStart + AlignUp(descriptorSize, padding);

            // The sizes are 32-bit, so these sums cannot wrap a 64-bit value; they can run past the note area.
            if (nameStart + nameSize > end || descriptorStart > end || descriptorStart + descriptorSize > end)
            {
                throw Error($"has a malformed {where}: a note at 0x{at:x} runs past the end of the note area");
            }

            if (noteType == type && NameMatches(nameStart, nameSize, name))
            {
                descriptor = _bytes.AsMemory((int)descriptorStart, (int)descriptorSize);
                return true;
            }

            if (next >= end)
            {
                break;
            }

            at = next;
        }

        return false;
    }

    private bool NameMatches(ulong start, ulong size, byte[] name)
    {
        // The stored name carries a NUL terminator; tolerate a producer that left it out.
        var stored = _bytes.AsSpan((int)start, (int)size);
        if (stored.Length > 0 && stored[^1] == 0)
        {
            stored = stored[..^1];
        }

        return stored.SequenceEqual(name);
    }

    private ProgramHeader ReadProgramHeader(int index)
    {
        var at = _programHeaderOffset + ((ulong)index * _layout.ProgramHeaderSize);
        return Is64Bit
            ? new ProgramHeader(U32(at), U64(at + 8), U64(at + 24), U64(at + 32), U64(at + 40), U64(at + 48))
            : new ProgramHeader(U32(at), U32(at + 4), U32(at + 12), U32(at + 16), U32(at + 20), U32(at + 28));
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);

    private bool FitsInFile(ulong offset, ulong size) => offset <= (ulong)_bytes.Length && size <= (ulong)_bytes.Length - offset;

    private ulong Word(ulong offset) => Is64Bit ? U64(offset) : U32(offset);

    private ushort U16(ulong offset) => BinaryPrimitives.ReadUInt16LittleEndian(Slice(offset, 2));

    private uint U32(ulong offset) => BinaryPrimitives.ReadUInt32LittleEndian(Slice(offset, 4));

    private ulong U64(ulong offset) => BinaryPrimitives.ReadUInt64LittleEndian(Slice(offset, 8));

    // Callers check ranges with messages that explain the problem; this is the backstop that keeps a missed
    // check a BootException instead of an IndexOutOfRangeException.
    private ReadOnlySpan<byte> Slice(ulong offset, int length) =>
        FitsInFile(offset, (ulong)length)
            ? _bytes.AsSpan((int)offset, length)
            : throw Error($"is truncated: {length} bytes at 0x{offset:x} lie past the end of the {_bytes.Length}-byte file");

    private BootException Error(string problem) => new($"{Description} {problem}");

    private readonly record struct ProgramHeader(uint Type, ulong Offset, ulong PhysicalAddress, ulong FileSize, ulong MemorySize, ulong Align);

    private sealed record Layout(bool Is64Bit, ulong HeaderSize, ulong ProgramHeaderSize, ulong SectionHeaderSize)
    {
        public static readonly Layout Elf32 = new(false, 52, 32, 40);

        public static readonly Layout Elf64 = new(true, 64, 56, 64);
    }
}
