using System.Text;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

/// <summary>Writes small ELF files byte by byte, so loader tests do not depend on a toolchain.</summary>
public sealed class ElfBuilder(bool is64Bit)
{
    private readonly List<(ulong PhysicalAddress, byte[] Data, ulong MemorySize)> _loads = [];
    private readonly List<byte[]> _notes = [];

    public bool Is64Bit { get; } = is64Bit;

    public ushort Machine { get; set; } = is64Bit ? (ushort)62 : (ushort)3;

    public ushort Type { get; set; } = 2;

    /// <summary>Put the notes in an SHT_NOTE section instead of a PT_NOTE segment.</summary>
    public bool NotesInSectionOnly { get; set; }

    private int HeaderSize => Is64Bit ? 64 : 52;

    private int ProgramHeaderSize => Is64Bit ? 56 : 32;

    private int SectionHeaderSize => Is64Bit ? 64 : 40;

    public ElfBuilder Load(ulong physicalAddress, byte[] data, ulong memorySize)
    {
        _loads.Add((physicalAddress, data, memorySize));
        return this;
    }

    public ElfBuilder Note(string name, uint type, byte[] descriptor)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name + "\0");
        var note = new List<byte>();
        note.AddRange(BitConverter.GetBytes((uint)nameBytes.Length));
        note.AddRange(BitConverter.GetBytes((uint)descriptor.Length));
        note.AddRange(BitConverter.GetBytes(type));
        note.AddRange(Pad(nameBytes));
        note.AddRange(Pad(descriptor));
        _notes.Add([.. note]);
        return this;
    }

    public ElfBuilder PvhEntry(ulong entry) =>
        Note("Xen", 18, Is64Bit ? BitConverter.GetBytes(entry) : BitConverter.GetBytes((uint)entry));

    /// <summary>Offset of program header <paramref name="index"/> in the built file (PT_NOTE comes first when present).</summary>
    public int ProgramHeaderOffset(int index) => HeaderSize + (index * ProgramHeaderSize);

    public byte[] Build()
    {
        var noteData = _notes.SelectMany(n => n).ToArray();
        var hasNoteSegment = noteData.Length > 0 && !NotesInSectionOnly;
        var programHeaderCount = _loads.Count + (hasNoteSegment ? 1 : 0);
        var noteOffset = HeaderSize + (programHeaderCount * ProgramHeaderSize);
        var dataOffset = noteOffset + noteData.Length;
        var segmentOffsets = new List<int>();
        foreach (var load in _loads)
        {
            segmentOffsets.Add(dataOffset);
            dataOffset += load.Data.Length;
        }

        var sectionCount = NotesInSectionOnly ? 2 : 0;
        var sectionOffset = NotesInSectionOnly ? dataOffset : 0;

        var w = new Writer(Is64Bit);
        // e_ident
        w.Bytes([0x7f, (byte)'E', (byte)'L', (byte)'F', Is64Bit ? (byte)2 : (byte)1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        w.U16(Type);
        w.U16(Machine);
        w.U32(1);
        w.Word(0xffff_ffff_8100_0000 & (Is64Bit ? ulong.MaxValue : 0xffff_ffff)); // e_entry: a virtual address, ignored
        w.Word((ulong)HeaderSize); // e_phoff
        w.Word((ulong)sectionOffset); // e_shoff
        w.U32(0); // e_flags
        w.U16((ushort)HeaderSize);
        w.U16((ushort)ProgramHeaderSize);
        w.U16((ushort)programHeaderCount);
        w.U16((ushort)SectionHeaderSize);
        w.U16((ushort)sectionCount);
        w.U16(0); // e_shstrndx

        if (hasNoteSegment)
        {
            ProgramHeader(w, 4, (ulong)noteOffset, 0, (ulong)noteData.Length, (ulong)noteData.Length, 4);
        }

        for (var i = 0; i < _loads.Count; i++)
        {
            var (address, data, memorySize) = _loads[i];
            ProgramHeader(w, 1, (ulong)segmentOffsets[i], address, (ulong)data.Length, memorySize, 0x1000);
        }

        w.Bytes(noteData);
        foreach (var load in _loads)
        {
            w.Bytes(load.Data);
        }

        if (NotesInSectionOnly)
        {
            w.Bytes(new byte[SectionHeaderSize]); // the null section
            w.U32(0); // sh_name
            w.U32(7); // SHT_NOTE
            w.Word(0); // sh_flags
            w.Word(0); // sh_addr
            w.Word((ulong)noteOffset);
            w.Word((ulong)noteData.Length);
            w.U32(0); // sh_link
            w.U32(0); // sh_info
            w.Word(4); // sh_addralign
            w.Word(0); // sh_entsize
        }

        return w.ToArray();
    }

    private void ProgramHeader(Writer w, uint type, ulong offset, ulong physicalAddress, ulong fileSize, ulong memorySize, ulong align)
    {
        if (Is64Bit)
        {
            w.U32(type);
            w.U32(5); // p_flags
            w.U64(offset);
            w.U64(physicalAddress + 0xffff_ffff_8000_0000); // p_vaddr: must not be used for loading
            w.U64(physicalAddress);
            w.U64(fileSize);
            w.U64(memorySize);
            w.U64(align);
        }
        else
        {
            w.U32(type);
            w.U32((uint)offset);
            w.U32((uint)physicalAddress + 0xc000_0000);
            w.U32((uint)physicalAddress);
            w.U32((uint)fileSize);
            w.U32((uint)memorySize);
            w.U32(5);
            w.U32((uint)align);
        }
    }

    private static byte[] Pad(byte[] bytes)
    {
        var padded = new byte[(bytes.Length + 3) & ~3];
        bytes.CopyTo(padded, 0);
        return padded;
    }

    private sealed class Writer(bool is64Bit)
    {
        private readonly List<byte> _bytes = [];

        public void Bytes(byte[] bytes) => _bytes.AddRange(bytes);

        public void U16(ushort value) => _bytes.AddRange(BitConverter.GetBytes(value));

        public void U32(uint value) => _bytes.AddRange(BitConverter.GetBytes(value));

        public void U64(ulong value) => _bytes.AddRange(BitConverter.GetBytes(value));

        public void Word(ulong value)
        {
            if (is64Bit)
            {
                U64(value);
            }
            else
            {
                U32((uint)value);
            }
        }

        public byte[] ToArray() => [.. _bytes];
    }
}
