using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>
/// Accumulates the little-endian bytes of one ACPI table. <see cref="StartTable"/> writes the 36-byte system
/// description header with placeholder length and checksum; <see cref="FinishTable"/> fills both in.
/// </summary>
internal sealed class AcpiTableWriter
{
    private readonly List<byte> _bytes = [];

    public int Position => _bytes.Count;

    public static AcpiTableWriter StartTable(string signature, byte revision, string oemTableId)
    {
        var writer = new AcpiTableWriter();
        writer.Ascii(signature, 4);
        writer.U32(0); // length, filled in by FinishTable
        writer.U8(revision);
        writer.U8(0); // checksum, filled in by FinishTable
        writer.Ascii(AcpiIds.OemId, 6);
        writer.Ascii(oemTableId, 8);
        writer.U32(AcpiIds.OemRevision);
        writer.Ascii(AcpiIds.CreatorId, 4);
        writer.U32(AcpiIds.CreatorRevision);
        return writer;
    }

    public byte[] FinishTable()
    {
        var table = _bytes.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(AcpiTableHeader.LengthOffset), (uint)table.Length);
        table[AcpiTableHeader.ChecksumOffset] = AcpiChecksum.Compute(table, AcpiTableHeader.ChecksumOffset);
        return table;
    }

    public byte[] ToArray() => [.. _bytes];

    public void U8(byte value) => _bytes.Add(value);

    public void U16(ushort value)
    {
        Span<byte> buffer = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(buffer, value);
        Bytes(buffer);
    }

    public void U32(uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, value);
        Bytes(buffer);
    }

    public void U64(ulong value)
    {
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, value);
        Bytes(buffer);
    }

    public void Zeros(int count)
    {
        for (var i = 0; i < count; i++)
        {
            _bytes.Add(0);
        }
    }

    public void Bytes(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            _bytes.Add(b);
        }
    }

    /// <summary>A fixed-width ASCII field, space-padded, as the header's ID fields are.</summary>
    public void Ascii(string text, int width)
    {
        if (text.Length > width || !System.Text.Ascii.IsValid(text))
        {
            throw new ArgumentException($"'{text}' is not ASCII of at most {width} characters", nameof(text));
        }

        Bytes(Encoding.ASCII.GetBytes(text.PadRight(width)));
    }

    public void Address(GenericAddress address)
    {
        Span<byte> buffer = stackalloc byte[GenericAddress.Size];
        address.WriteTo(buffer);
        Bytes(buffer);
    }
}
