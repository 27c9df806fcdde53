using System.Buffers.Binary;
using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>IN and OUT instructions as a guest issues them, turned into bus accesses.</summary>
internal static class PortIo
{
    public static byte In8(this IoBus bus, ushort port)
    {
        Span<byte> data = stackalloc byte[1];
        bus.Read(port, data);
        return data[0];
    }

    public static uint In32(this IoBus bus, ushort port)
    {
        Span<byte> data = stackalloc byte[4];
        bus.Read(port, data);
        return BinaryPrimitives.ReadUInt32LittleEndian(data);
    }

    public static void Out8(this IoBus bus, ushort port, byte value) => bus.Write(port, [value]);

    public static void Out16(this IoBus bus, ushort port, ushort value)
    {
        Span<byte> data = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(data, value);
        bus.Write(port, data);
    }

    public static void Out32(this IoBus bus, ushort port, uint value)
    {
        Span<byte> data = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(data, value);
        bus.Write(port, data);
    }
}
