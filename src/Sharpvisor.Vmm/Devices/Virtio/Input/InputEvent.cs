using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Devices.Virtio.Input;

/// <summary>virtio_input_event: le16 type, le16 code, le32 value (8 bytes).</summary>
internal readonly record struct InputEvent(ushort Type, ushort Code, uint Value)
{
    public const int Size = 8;

    public static InputEvent Sync => new(InputCodes.EvSyn, InputCodes.SynReport, 0);

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Type);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], Code);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Value);
    }
}
