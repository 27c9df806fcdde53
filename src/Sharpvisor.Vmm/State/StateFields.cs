using System.Buffers.Binary;

namespace Sharpvisor.Vmm.State;

/// <summary>
/// What device sections share beyond <see cref="StatePayload"/>: 16-bit fields (registers that are 16 bits wide,
/// saved as such so a reader needs no range check for them) and the check that turns a field out of range into a
/// one-line <see cref="StateException"/> naming the section.
/// </summary>
public static class StateFields
{
    /// <summary>Appends a little-endian u16.</summary>
    public static StatePayload U16(this StatePayload payload, ushort value)
    {
        ArgumentNullException.ThrowIfNull(payload);
        Span<byte> bytes = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        return payload.Raw(bytes);
    }

    /// <summary>Reads a u16 <see cref="U16(StatePayload, ushort)"/> wrote; past the end is a truncated section.</summary>
    public static ushort U16(this ref StatePayloadReader reader) => BinaryPrimitives.ReadUInt16LittleEndian(reader.Raw(2));

    /// <summary>Throws "section <paramref name="section"/>: <paramref name="problem"/>" unless <paramref name="valid"/>.</summary>
    public static void Require(bool valid, string section, string problem)
    {
        if (!valid)
        {
            throw new StateException($"section {section}: {problem}");
        }
    }
}
