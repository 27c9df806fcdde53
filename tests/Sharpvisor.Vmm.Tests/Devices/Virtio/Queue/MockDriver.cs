using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Queue;

/// <summary>A buffer the mock driver offers: device-readable, or device-writable when <paramref name="Write"/>.</summary>
internal readonly record struct Buffer(ulong Address, uint Length, bool Write = false);

/// <summary>
/// The driver half of a split virtqueue, written from the spec's driver rules, laying out rings in real guest memory.
/// It hands out descriptors from a free list, publishes heads, reads used elements back, and offers raw writes so
/// hostile tests can put anything anywhere.
/// </summary>
internal sealed class MockDriver
{
    public const ulong DescriptorTableAddress = 0x1000;
    public const ulong AvailableRingAddress = 0x3000;
    public const ulong UsedRingAddress = 0x4000;

    private readonly GuestMemory _memory;
    private readonly ulong _descriptorTable;
    private readonly ulong _availableRing;
    private readonly ulong _usedRing;
    private readonly Stack<ushort> _free = new();
    private readonly Dictionary<ushort, ushort[]> _chains = [];
    private ushort _availableIndex;
    private ushort _lastSeenUsed;

    /// <summary>Lays the rings out at the default addresses, moved up by <paramref name="ringBase"/> (one queue per base).</summary>
    public MockDriver(GuestMemory memory, ushort size, ulong features = 0, ushort startIndex = 0, ulong ringBase = 0)
    {
        _memory = memory;
        _descriptorTable = DescriptorTableAddress + ringBase;
        _availableRing = AvailableRingAddress + ringBase;
        _usedRing = UsedRingAddress + ringBase;
        Size = size;
        Config = new SplitVirtqueueConfig(size, new GuestAddress(_descriptorTable), new GuestAddress(_availableRing),
            new GuestAddress(_usedRing), features, startIndex, startIndex);
        for (var i = size - 1; i >= 0; i--)
        {
            _free.Push((ushort)i);
        }

        // A driver zeroes the rings, then (for a restored queue) the indices already stand where they stood.
        memory.GetSpan(new GuestAddress(_availableRing), (int)SplitVirtqueue.AvailableRingSize(size)).Clear();
        memory.GetSpan(new GuestAddress(_usedRing), (int)SplitVirtqueue.UsedRingSize(size)).Clear();
        _availableIndex = startIndex;
        _lastSeenUsed = startIndex;
        memory.Write(new GuestAddress(_availableRing + 2), startIndex);
        memory.Write(new GuestAddress(_usedRing + 2), startIndex);
    }

    /// <summary>The same driver over <paramref name="memory"/>, a copy of its RAM (as a restored guest has): its rings are left as they are.</summary>
    private MockDriver(MockDriver source, GuestMemory memory)
    {
        _memory = memory;
        _descriptorTable = source._descriptorTable;
        _availableRing = source._availableRing;
        _usedRing = source._usedRing;
        Size = source.Size;
        Config = source.Config;
        _free = new Stack<ushort>(source._free.Reverse());
        _chains = source._chains.ToDictionary(c => c.Key, c => c.Value);
        _availableIndex = source._availableIndex;
        _lastSeenUsed = source._lastSeenUsed;
    }

    public ushort Size { get; }

    /// <summary>This driver as it goes on in a guest whose RAM was copied to <paramref name="memory"/> (a snapshot's destination).</summary>
    public MockDriver CopyTo(GuestMemory memory) => new(this, memory);

    public SplitVirtqueueConfig Config { get; }

    public int FreeDescriptors => _free.Count;

    public ushort UsedIndex => _memory.Read<ushort>(new GuestAddress(_usedRing + 2));

    public ushort UsedFlags => _memory.Read<ushort>(new GuestAddress(_usedRing));

    public ushort AvailableEvent => _memory.Read<ushort>(new GuestAddress(_usedRing + 4 + (8UL * Size)));

    public SplitVirtqueue CreateDevice() => new(_memory, Config);

    /// <summary>Writes a chain of direct descriptors and queues its head (not yet visible: see <see cref="Kick"/>).</summary>
    public ushort Add(params Buffer[] buffers)
    {
        var indices = new ushort[buffers.Length];
        for (var i = 0; i < buffers.Length; i++)
        {
            indices[i] = _free.Pop();
        }

        for (var i = 0; i < buffers.Length; i++)
        {
            var last = i == buffers.Length - 1;
            var flags = (buffers[i].Write ? DescriptorFlags.Write : DescriptorFlags.None) | (last ? DescriptorFlags.None : DescriptorFlags.Next);
            WriteDescriptor(_descriptorTable, indices[i], buffers[i].Address, buffers[i].Length, flags, last ? (ushort)0 : indices[i + 1]);
        }

        _chains[indices[0]] = indices;
        PutAvailable(indices[0]);
        return indices[0];
    }

    /// <summary>Writes an indirect table at <paramref name="table"/> and one descriptor pointing to it.</summary>
    public ushort AddIndirect(ulong table, params Buffer[] buffers)
    {
        WriteIndirectTable(table, buffers);
        var head = _free.Pop();
        WriteDescriptor(_descriptorTable, head, table, (uint)(16 * buffers.Length), DescriptorFlags.Indirect, 0);
        _chains[head] = [head];
        PutAvailable(head);
        return head;
    }

    public void WriteIndirectTable(ulong table, params Buffer[] buffers)
    {
        for (var i = 0; i < buffers.Length; i++)
        {
            var last = i == buffers.Length - 1;
            var flags = (buffers[i].Write ? DescriptorFlags.Write : DescriptorFlags.None) | (last ? DescriptorFlags.None : DescriptorFlags.Next);
            WriteDescriptor(table, (ushort)i, buffers[i].Address, buffers[i].Length, flags, (ushort)(i + 1));
        }
    }

    public void WriteDescriptor(ulong table, ushort index, ulong address, uint length, DescriptorFlags flags, ushort next)
    {
        var at = new GuestAddress(table + (16UL * index));
        _memory.Write(at, address);
        _memory.Write(at + 8, length);
        _memory.Write(at + 12, (ushort)flags);
        _memory.Write(at + 14, next);
    }

    /// <summary>Puts a head in the next available slot without publishing it.</summary>
    public void PutAvailable(ushort head)
    {
        _memory.Write(new GuestAddress(_availableRing + 4 + (2UL * (ushort)(_availableIndex % Size))), head);
        _availableIndex++;
    }

    /// <summary>Publishes everything added so far (writes avail->idx), as a driver does before notifying.</summary>
    public void Kick() => _memory.Write(new GuestAddress(_availableRing + 2), _availableIndex);

    /// <summary>Sets avail->idx to anything, for hostile tests.</summary>
    public void SetAvailableIndex(ushort index) => _memory.Write(new GuestAddress(_availableRing + 2), index);

    public void SetNoInterrupt(bool on) => _memory.Write(new GuestAddress(_availableRing), (ushort)(on ? 1 : 0));

    public void SetUsedEvent(ushort index) => _memory.Write(new GuestAddress(_availableRing + 4 + (2UL * Size)), index);

    public (uint Id, uint Length) UsedElement(ushort index)
    {
        var at = new GuestAddress(_usedRing + 4 + (8UL * (ushort)(index % Size)));
        return (_memory.Read<uint>(at), _memory.Read<uint>(at + 4));
    }

    /// <summary>Reads used elements the device published since the last call and frees their descriptors.</summary>
    public List<(uint Id, uint Length)> TakeUsed()
    {
        var used = new List<(uint Id, uint Length)>();
        var end = UsedIndex;
        for (; _lastSeenUsed != end; _lastSeenUsed++)
        {
            var element = UsedElement(_lastSeenUsed);
            used.Add(element);
            if (_chains.Remove((ushort)element.Id, out var indices))
            {
                foreach (var index in indices)
                {
                    _free.Push(index);
                }
            }
        }

        return used;
    }
}
