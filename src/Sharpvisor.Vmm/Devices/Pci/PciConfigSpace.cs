using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Devices.Pci;

/// <summary>What a base address register decodes.</summary>
public enum PciBarKind
{
    /// <summary>Unused: reads as zero, ignores writes.</summary>
    None,

    /// <summary>A memory BAR the guest may place anywhere below 4 GiB.</summary>
    Memory32,

    /// <summary>A memory BAR taking two BAR registers (this one and the next) for a 64-bit address.</summary>
    Memory64,

    /// <summary>A port-I/O BAR.</summary>
    Io,
}

/// <summary>One BAR as the VMM declared it; the address lives in the config space, where the guest may change it.</summary>
public readonly record struct PciBarInfo(int Index, PciBarKind Kind, ulong Size, bool Prefetchable);

/// <summary>
/// The configuration space of one type-0 (endpoint) PCI function: the standard header, BARs and a capability
/// list, with per-byte masks saying which bits the guest may write and which are write-1-to-clear. The masks
/// are what make BAR sizing work: a BAR's writable bits are exactly its address bits at or above its size, so
/// writing all ones reads back the size mask with the type bits, as the PCI Local Bus spec (6.2.5.1) describes.
/// Not thread-safe: the root bus serialises config accesses.
/// </summary>
public sealed partial class PciConfigSpace
{
    public const int Size = 256;
    public const int ExtendedSize = 4096;

    public const int VendorIdOffset = 0x00;
    public const int DeviceIdOffset = 0x02;
    public const int CommandOffset = 0x04;
    public const int StatusOffset = 0x06;
    public const int RevisionIdOffset = 0x08;
    public const int ClassCodeOffset = 0x09; // programming interface, subclass, base class
    public const int CacheLineSizeOffset = 0x0C;
    public const int LatencyTimerOffset = 0x0D;
    public const int HeaderTypeOffset = 0x0E;
    public const int FirstBarOffset = 0x10;
    public const int BarCount = 6;
    public const int SubsystemVendorIdOffset = 0x2C;
    public const int SubsystemIdOffset = 0x2E;
    public const int CapabilitiesPointerOffset = 0x34;
    public const int InterruptLineOffset = 0x3C;
    public const int InterruptPinOffset = 0x3D;

    /// <summary>Capabilities start right after the 64-byte standard header.</summary>
    public const int FirstCapabilityOffset = 0x40;

    public const ushort CommandIoSpace = 1 << 0;
    public const ushort CommandMemorySpace = 1 << 1;
    public const ushort CommandBusMaster = 1 << 2;
    public const ushort CommandParityErrorResponse = 1 << 6;
    public const ushort CommandSerrEnable = 1 << 8;
    public const ushort CommandInterruptDisable = 1 << 10;

    public const ushort StatusInterrupt = 1 << 3;
    public const ushort StatusCapabilitiesList = 1 << 4;

    /// <summary>Master data parity error, signaled/received target abort, received master abort, signaled system error, detected parity error.</summary>
    public const ushort StatusErrorBits = (1 << 8) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

    public const byte CapabilityIdMsiX = 0x11;
    public const byte CapabilityIdVendorSpecific = 0x09;

    private const ushort CommandWritable = CommandIoSpace | CommandMemorySpace | CommandBusMaster
        | CommandParityErrorResponse | CommandSerrEnable | CommandInterruptDisable;

    private const uint BarIoBit = 1;
    private const uint BarMemory64Type = 0b10 << 1;
    private const uint BarPrefetchableBit = 1 << 3;

    private readonly byte[] _bytes;
    private readonly byte[] _writable;
    private readonly byte[] _writeOneToClear;
    private readonly PciBarInfo[] _bars = new PciBarInfo[BarCount];
    private readonly List<Action<int, int>> _writeObservers = [];
    private int _nextCapability = FirstCapabilityOffset;
    private int _lastCapability;

    public PciConfigSpace(
        ushort vendorId,
        ushort deviceId,
        uint classCode,
        byte revisionId = 0,
        ushort subsystemVendorId = 0,
        ushort subsystemId = 0,
        byte interruptPin = 0,
        bool extended = false)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classCode, 0xFF_FFFFu);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(interruptPin, (byte)4);
        Length = extended ? ExtendedSize : Size;
        _bytes = new byte[Length];
        _writable = new byte[Length];
        _writeOneToClear = new byte[Length];
        for (var i = 0; i < BarCount; i++)
        {
            _bars[i] = new PciBarInfo(i, PciBarKind.None, 0, false);
        }

        SetU16(VendorIdOffset, vendorId);
        SetU16(DeviceIdOffset, deviceId);
        SetU8(RevisionIdOffset, revisionId);
        SetU8(ClassCodeOffset, (byte)classCode);
        SetU16(ClassCodeOffset + 1, (ushort)(classCode >> 8));
        SetU8(HeaderTypeOffset, 0); // type 0, single function
        SetU16(SubsystemVendorIdOffset, subsystemVendorId);
        SetU16(SubsystemIdOffset, subsystemId);
        SetU8(InterruptPinOffset, interruptPin);

        SetWritable(CommandOffset, [CommandWritable & 0xFF, CommandWritable >> 8]);
        _writeOneToClear[StatusOffset] = StatusErrorBits & 0xFF;
        _writeOneToClear[StatusOffset + 1] = StatusErrorBits >> 8;
        _writable[CacheLineSizeOffset] = 0xFF;
        _writable[LatencyTimerOffset] = 0xFF;
        _writable[InterruptLineOffset] = 0xFF;
        SetU8(InterruptLineOffset, 0xFF); // "unknown / not connected" until someone routes it
    }

    /// <summary>256 for conventional PCI, 4096 for a PCIe extended config space.</summary>
    public int Length { get; }

    public ushort VendorId => ReadU16(VendorIdOffset);

    public ushort DeviceId => ReadU16(DeviceIdOffset);

    public ushort Command => ReadU16(CommandOffset);

    public bool MemoryDecodeEnabled => (Command & CommandMemorySpace) != 0;

    public bool IoDecodeEnabled => (Command & CommandIoSpace) != 0;

    public bool BusMasterEnabled => (Command & CommandBusMaster) != 0;

    public IReadOnlyList<PciBarInfo> Bars => _bars;

    /// <summary>Guest-side read: bytes past the end of the space read as zero, as PCIe wants for absent extended space.</summary>
    public void Read(int offset, Span<byte> data)
    {
        for (var i = 0; i < data.Length; i++)
        {
            var at = offset + i;
            data[i] = at >= 0 && at < Length ? _bytes[at] : (byte)0;
        }
    }

    /// <summary>Guest-side write: honours the writable and write-1-to-clear masks, then tells the observers.</summary>
    public void Write(int offset, ReadOnlySpan<byte> data)
    {
        if (offset < 0 || offset >= Length || data.IsEmpty)
        {
            return;
        }

        var count = Math.Min(data.Length, Length - offset);
        for (var i = 0; i < count; i++)
        {
            var at = offset + i;
            var value = data[i];
            _bytes[at] = (byte)((_bytes[at] & ~_writable[at]) | (value & _writable[at]));
            _bytes[at] &= (byte)~(value & _writeOneToClear[at]);
        }

        foreach (var observer in _writeObservers)
        {
            observer(offset, count);
        }
    }

    /// <summary>Calls <paramref name="observer"/>(offset, length) after every guest write, for registers with side effects.</summary>
    public void AddWriteObserver(Action<int, int> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        _writeObservers.Add(observer);
    }

    public byte ReadU8(int offset) => _bytes[offset];

    public ushort ReadU16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(offset));

    public uint ReadU32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(offset));

    /// <summary>VMM-side writes: bypass the masks (device-owned fields, status bits, capability contents).</summary>
    public void SetU8(int offset, byte value) => _bytes[offset] = value;

    public void SetU16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(offset), value);

    public void SetU32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(offset), value);

    /// <summary>Declares which bits of the bytes from <paramref name="offset"/> the guest may write.</summary>
    public void SetWritable(int offset, ReadOnlySpan<byte> mask) => mask.CopyTo(_writable.AsSpan(offset));

    /// <summary>
    /// Declares BAR <paramref name="index"/>: a power-of-two <paramref name="size"/> (memory at least 16 bytes,
    /// I/O 4 to 256 bytes). A 64-bit memory BAR also takes BAR <paramref name="index"/>+1.
    /// </summary>
    public void DeclareBar(int index, PciBarKind kind, ulong size, bool prefetchable = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, kind == PciBarKind.Memory64 ? BarCount - 1 : BarCount);
        if (kind == PciBarKind.None)
        {
            throw new ArgumentException("declare a BAR of a real kind", nameof(kind));
        }

        if (!ulong.IsPow2(size)
            || (kind == PciBarKind.Io && size is < 4 or > 256)
            || (kind == PciBarKind.Memory32 && size is < 16 or > 1UL << 31)
            || (kind == PciBarKind.Memory64 && size is < 16 or > 1UL << 62))
        {
            throw new ArgumentOutOfRangeException(nameof(size), $"0x{size:x} is not a valid {kind} BAR size");
        }

        if (_bars[index].Kind != PciBarKind.None || (kind == PciBarKind.Memory64 && _bars[index + 1].Kind != PciBarKind.None)
            || (index > 0 && _bars[index - 1].Kind == PciBarKind.Memory64))
        {
            throw new InvalidOperationException($"BAR {index} is already in use");
        }

        if (kind == PciBarKind.Io && prefetchable)
        {
            throw new ArgumentException("an I/O BAR cannot be prefetchable", nameof(prefetchable));
        }

        _bars[index] = new PciBarInfo(index, kind, size, prefetchable);
        var offset = BarOffset(index);
        var addressMask = ~(size - 1);
        uint flags = kind switch
        {
            PciBarKind.Io => BarIoBit,
            PciBarKind.Memory64 => BarMemory64Type | (prefetchable ? BarPrefetchableBit : 0),
            _ => prefetchable ? BarPrefetchableBit : 0,
        };
        var lowFlagBits = kind == PciBarKind.Io ? 0b11u : 0b1111u;
        SetU32(offset, flags);
        SetWritableU32(offset, (uint)addressMask & ~lowFlagBits);
        if (kind == PciBarKind.Memory64)
        {
            _bars[index + 1] = new PciBarInfo(index + 1, PciBarKind.None, 0, false);
            SetU32(offset + 4, 0);
            SetWritableU32(offset + 4, (uint)(addressMask >> 32));
        }
    }

    /// <summary>The address BAR <paramref name="index"/> holds now (type bits stripped); zero for an unused BAR.</summary>
    public ulong BarAddress(int index)
    {
        var bar = _bars[index];
        var offset = BarOffset(index);
        return bar.Kind switch
        {
            PciBarKind.Io => ReadU32(offset) & ~0b11u,
            PciBarKind.Memory32 => ReadU32(offset) & ~0b1111u,
            PciBarKind.Memory64 => (ReadU32(offset) & ~0b1111u) | ((ulong)ReadU32(offset + 4) << 32),
            _ => 0,
        };
    }

    /// <summary>VMM-side placement of a BAR (what firmware would do); the address must be aligned to the BAR's size.</summary>
    public void SetBarAddress(int index, ulong address)
    {
        var bar = _bars[index];
        if (bar.Kind == PciBarKind.None)
        {
            throw new InvalidOperationException($"BAR {index} is not declared");
        }

        if (address % bar.Size != 0 || (bar.Kind != PciBarKind.Memory64 && address > uint.MaxValue))
        {
            throw new ArgumentOutOfRangeException(nameof(address), $"0x{address:x} does not fit {bar.Kind} BAR {index} of size 0x{bar.Size:x}");
        }

        var offset = BarOffset(index);
        SetU32(offset, (uint)address | (ReadU32(offset) & (bar.Kind == PciBarKind.Io ? 0b11u : 0b1111u)));
        if (bar.Kind == PciBarKind.Memory64)
        {
            SetU32(offset + 4, (uint)(address >> 32));
        }
    }

    /// <summary>
    /// Appends a capability: <paramref name="body"/> follows the ID and next-pointer bytes, and
    /// <paramref name="writableBody"/> (same length, or empty for read-only) masks the guest's writes to it.
    /// Returns the capability's offset. Capabilities are placed in order from 0x40, dword aligned, and linked.
    /// </summary>
    public int AddCapability(byte id, ReadOnlySpan<byte> body, ReadOnlySpan<byte> writableBody = default)
    {
        if (!writableBody.IsEmpty && writableBody.Length != body.Length)
        {
            throw new ArgumentException("the writable mask must be as long as the body", nameof(writableBody));
        }

        var offset = _nextCapability;
        var length = 2 + body.Length;
        if (offset + length > Size)
        {
            throw new InvalidOperationException($"no room for a {length}-byte capability at 0x{offset:x}");
        }

        SetU8(offset, id);
        SetU8(offset + 1, 0);
        body.CopyTo(_bytes.AsSpan(offset + 2));
        if (!writableBody.IsEmpty)
        {
            SetWritable(offset + 2, writableBody);
        }

        if (_lastCapability == 0)
        {
            SetU8(CapabilitiesPointerOffset, (byte)offset);
            SetU16(StatusOffset, (ushort)(ReadU16(StatusOffset) | StatusCapabilitiesList));
        }
        else
        {
            SetU8(_lastCapability + 1, (byte)offset);
        }

        _lastCapability = offset;
        _nextCapability = (offset + length + 3) & ~3;
        return offset;
    }

    /// <summary>A vendor-specific capability (ID 0x09): the byte after the next pointer is the capability's length, then <paramref name="payload"/>.</summary>
    public int AddVendorCapability(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> writablePayload = default)
    {
        var length = 3 + payload.Length;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, 0xFF, nameof(payload));
        var body = new byte[1 + payload.Length];
        body[0] = (byte)length;
        payload.CopyTo(body.AsSpan(1));
        byte[] mask = [];
        if (!writablePayload.IsEmpty)
        {
            mask = new byte[body.Length];
            writablePayload.CopyTo(mask.AsSpan(1));
        }

        return AddCapability(CapabilityIdVendorSpecific, body, mask);
    }

    public static int BarOffset(int index) => FirstBarOffset + (4 * index);

    private void SetWritableU32(int offset, uint mask) => BinaryPrimitives.WriteUInt32LittleEndian(_writable.AsSpan(offset), mask);
}
