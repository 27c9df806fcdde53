using System.Buffers.Binary;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Interrupts;

namespace Sharpvisor.Vmm.Devices.Pci;

/// <summary>What became of one interrupt a device raised through <see cref="MsiXTable.Notify"/>.</summary>
public enum MsiXDelivery
{
    /// <summary>Sent to the interrupt sink.</summary>
    Delivered,

    /// <summary>The vector or the whole function is masked: its pending bit is set and it goes out on unmask.</summary>
    Pending,

    /// <summary>MSI-X is off (or the vector does not exist): the device should fall back to INTx, if it has one.</summary>
    Disabled,
}

/// <summary>
/// The MSI-X capability of one function and its table and pending bit array (PCI Local Bus 3.0, 6.8.2), which
/// live in a BAR: <see cref="Table"/> and <see cref="Pba"/> are the handlers for those two sub-ranges. Each table
/// entry is 16 bytes (message address low/high, message data, vector control with the mask bit). The enable and
/// function-mask bits live in the capability's message control word in config space.
/// The table is guest-written and hostile: accesses that are not aligned dwords or qwords inside it are ignored
/// (reads return zero). <see cref="Notify"/> may come from a device thread: it reads the message control word
/// without the root bus's config lock, which at worst sees the guest's write a moment early or late, and a write
/// to that word re-checks pending vectors under this table's lock, so none is lost.
/// </summary>
public sealed partial class MsiXTable
{
    public const int MaxVectors = 2048;
    public const int EntrySize = 16;

    private const int MessageControlOffset = 2;
    private const int TableOffsetOffset = 4;
    private const int PbaOffsetOffset = 8;
    private const ushort EnableBit = 1 << 15;
    private const ushort FunctionMaskBit = 1 << 14;
    private const uint VectorMaskBit = 1;

    private readonly Lock _lock = new();
    private readonly PciConfigSpace _config;
    private readonly IMsiSink _sink;
    private readonly uint[] _entries; // four dwords per vector: address low, address high, data, vector control
    private readonly ulong[] _pending;

    /// <summary>
    /// Adds the capability to <paramref name="config"/>, pointing at the table at <paramref name="tableOffset"/> in
    /// BAR <paramref name="tableBar"/> and the PBA at <paramref name="pbaOffset"/> in BAR <paramref name="pbaBar"/>
    /// (both 8-byte aligned). The BARs themselves are the caller's: route the sub-ranges to <see cref="Table"/>
    /// and <see cref="Pba"/>.
    /// </summary>
    public MsiXTable(PciConfigSpace config, int vectorCount, int tableBar, uint tableOffset, int pbaBar, uint pbaOffset, IMsiSink sink)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentOutOfRangeException.ThrowIfLessThan(vectorCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vectorCount, MaxVectors);
        ArgumentOutOfRangeException.ThrowIfNegative(tableBar);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(tableBar, PciConfigSpace.BarCount);
        ArgumentOutOfRangeException.ThrowIfNegative(pbaBar);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(pbaBar, PciConfigSpace.BarCount);
        if (tableOffset % 8 != 0 || pbaOffset % 8 != 0)
        {
            throw new ArgumentException("the table and PBA offsets must be 8-byte aligned (the low 3 bits hold the BAR index)");
        }

        _config = config;
        _sink = sink;
        VectorCount = vectorCount;
        _entries = new uint[vectorCount * 4];
        _pending = new ulong[(vectorCount + 63) / 64];
        ResetEntries();

        Span<byte> body = stackalloc byte[10];
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)(vectorCount - 1));
        BinaryPrimitives.WriteUInt32LittleEndian(body[2..], tableOffset | (uint)tableBar);
        BinaryPrimitives.WriteUInt32LittleEndian(body[6..], pbaOffset | (uint)pbaBar);
        Span<byte> writable = stackalloc byte[10];
        writable.Clear();
        writable[1] = (EnableBit | FunctionMaskBit) >> 8;
        CapabilityOffset = config.AddCapability(PciConfigSpace.CapabilityIdMsiX, body, writable);
        config.AddWriteObserver(OnConfigWritten);

        Table = new TableRegion(this);
        Pba = new PbaRegion(this);
    }

    public int VectorCount { get; }

    /// <summary>Where the capability sits in config space.</summary>
    public int CapabilityOffset { get; }

    public ulong TableSize => (ulong)VectorCount * EntrySize;

    /// <summary>One bit per vector, in whole qwords.</summary>
    public ulong PbaSize => (ulong)_pending.Length * 8;

    /// <summary>Handler for the table's sub-range of its BAR (offsets relative to the table's start).</summary>
    public IBusDevice Table { get; }

    /// <summary>Handler for the PBA's sub-range of its BAR (offsets relative to the PBA's start).</summary>
    public IBusDevice Pba { get; }

    public bool Enabled
    {
        get
        {
            lock (_lock)
            {
                return (MessageControl & EnableBit) != 0;
            }
        }
    }

    public bool FunctionMasked
    {
        get
        {
            lock (_lock)
            {
                return (MessageControl & FunctionMaskBit) != 0;
            }
        }
    }

    private ushort MessageControl => _config.ReadU16(CapabilityOffset + MessageControlOffset);

    /// <summary>The device raises <paramref name="vector"/>.</summary>
    public MsiXDelivery Notify(int vector)
    {
        lock (_lock)
        {
            var control = MessageControl;
            if ((uint)vector >= (uint)VectorCount || (control & EnableBit) == 0)
            {
                return MsiXDelivery.Disabled;
            }

            // An MSI is a memory write by the device: with Bus Master off it waits, as behind the function mask.
            if ((control & FunctionMaskBit) != 0 || VectorMasked(vector) || !_config.BusMasterEnabled)
            {
                _pending[vector / 64] |= 1UL << (vector % 64);
                return MsiXDelivery.Pending;
            }

            Send(vector);
            return MsiXDelivery.Delivered;
        }
    }

    public bool IsPending(int vector)
    {
        lock (_lock)
        {
            return (uint)vector < (uint)VectorCount && (_pending[vector / 64] & (1UL << (vector % 64))) != 0;
        }
    }

    public bool IsMasked(int vector)
    {
        lock (_lock)
        {
            return (uint)vector < (uint)VectorCount && VectorMasked(vector);
        }
    }

    /// <summary>Function reset: every vector masked, nothing pending. The capability's bits are reset with config space.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            ResetEntries();
            Array.Clear(_pending);
        }
    }

    private void ResetEntries()
    {
        Array.Clear(_entries);
        for (var v = 0; v < VectorCount; v++)
        {
            _entries[(v * 4) + 3] = VectorMaskBit;
        }
    }

    private bool VectorMasked(int vector) => (_entries[(vector * 4) + 3] & VectorMaskBit) != 0;

    private void Send(int vector)
    {
        var address = _entries[vector * 4] | ((ulong)_entries[(vector * 4) + 1] << 32);
        _sink.SignalMsi(address, _entries[(vector * 4) + 2]);
    }

    /// <summary>Sends every pending vector that is no longer masked, clearing its pending bit.</summary>
    private void DeliverUnmaskedPending()
    {
        var control = MessageControl;
        if ((control & EnableBit) == 0 || (control & FunctionMaskBit) != 0 || !_config.BusMasterEnabled)
        {
            return;
        }

        for (var word = 0; word < _pending.Length; word++)
        {
            var bits = _pending[word];
            while (bits != 0)
            {
                var bit = System.Numerics.BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                var vector = (word * 64) + bit;
                if (!VectorMasked(vector))
                {
                    _pending[word] &= ~(1UL << bit);
                    Send(vector);
                }
            }
        }
    }

    private void OnConfigWritten(int offset, int length)
    {
        var control = CapabilityOffset + MessageControlOffset;
        if ((offset < control + 2 && control < offset + length) || (offset < PciConfigSpace.CommandOffset + 2 && PciConfigSpace.CommandOffset < offset + length))
        {
            lock (_lock)
            {
                DeliverUnmaskedPending();
            }
        }
    }

    private static bool IsAlignedAccess(ulong offset, int length, ulong regionSize) =>
        length is 4 or 8 && offset % (ulong)length == 0 && offset < regionSize && (ulong)length <= regionSize - offset;

    private void ReadTable(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (!IsAlignedAccess(offset, data.Length, TableSize))
        {
            return;
        }

        lock (_lock)
        {
            var first = (int)(offset / 4);
            for (var i = 0; i < data.Length / 4; i++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(data[(i * 4)..], _entries[first + i]);
            }
        }
    }

    private void WriteTable(ulong offset, ReadOnlySpan<byte> data)
    {
        if (!IsAlignedAccess(offset, data.Length, TableSize))
        {
            return;
        }

        lock (_lock)
        {
            var first = (int)(offset / 4);
            var unmasked = false;
            for (var i = 0; i < data.Length / 4; i++)
            {
                var index = first + i;
                var value = BinaryPrimitives.ReadUInt32LittleEndian(data[(i * 4)..]);
                switch (index % 4)
                {
                    case 0:
                        _entries[index] = value & ~0b11u; // message address is dword aligned
                        break;
                    case 1 or 2:
                        _entries[index] = value;
                        break;
                    default:
                        unmasked |= (_entries[index] & VectorMaskBit) != 0 && (value & VectorMaskBit) == 0;
                        _entries[index] = value & VectorMaskBit; // the rest of vector control is reserved
                        break;
                }
            }

            if (unmasked)
            {
                DeliverUnmaskedPending();
            }
        }
    }

    private void ReadPba(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (!IsAlignedAccess(offset, data.Length, PbaSize))
        {
            return;
        }

        lock (_lock)
        {
            var word = _pending[offset / 8];
            var value = data.Length == 8 ? word : (uint)(word >> (int)(offset % 8 * 8));
            if (data.Length == 8)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(data, value);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(data, (uint)value);
            }
        }
    }

    private sealed class TableRegion(MsiXTable owner) : IBusDevice
    {
        public void Read(ulong offset, Span<byte> data) => owner.ReadTable(offset, data);

        public void Write(ulong offset, ReadOnlySpan<byte> data) => owner.WriteTable(offset, data);
    }

    /// <summary>The PBA is read-only: the spec leaves writes undefined, and ignoring them is the safe reading.</summary>
    private sealed class PbaRegion(MsiXTable owner) : IBusDevice
    {
        public void Read(ulong offset, Span<byte> data) => owner.ReadPba(offset, data);

        public void Write(ulong offset, ReadOnlySpan<byte> data)
        {
        }
    }
}
