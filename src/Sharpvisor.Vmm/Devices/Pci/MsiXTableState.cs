using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Pci;

/// <summary>
/// The MSI-X table's saved state: u32 vector count, then per vector its four dwords (message address low and high,
/// data, vector control), then the pending bits as u64 words. The enable and function-mask bits are config space's.
/// </summary>
public sealed partial class MsiXTable
{
    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            payload.U32((uint)VectorCount);
            foreach (var dword in _entries)
            {
                payload.U32(dword);
            }

            foreach (var word in _pending)
            {
                payload.U64(word);
            }
        }
    }

    /// <summary>
    /// Reads and checks what <see cref="SaveState"/> wrote, changing nothing; the returned action puts it in place and
    /// sends what is pending and deliverable. Apply config space first: enable and mask bits live there.
    /// </summary>
    public Action ReadState(ref StatePayloadReader reader, string section)
    {
        var vectors = reader.U32();
        StateFields.Require(vectors == (uint)VectorCount, section, $"an MSI-X table of {vectors} vectors, this function's has {VectorCount}");
        var entries = new uint[_entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            var value = reader.U32();
            var vector = i / 4;

            // The bits a guest's table write can never set (WriteTable drops them).
            StateFields.Require((i % 4) switch
            {
                0 => (value & 0b11) == 0,
                3 => (value & ~VectorMaskBit) == 0,
                _ => true,
            }, section, $"MSI-X vector {vector} dword {i % 4} is 0x{value:x8}, which sets bits the table keeps clear");
            entries[i] = value;
        }

        var pending = new ulong[_pending.Length];
        for (var word = 0; word < pending.Length; word++)
        {
            pending[word] = reader.U64();
        }

        var usedBits = VectorCount % 64;
        StateFields.Require(usedBits == 0 || pending[^1] >> usedBits == 0, section, $"MSI-X pending bits 0x{pending[^1]:x16} name vectors past the table's {VectorCount}");
        return () =>
        {
            lock (_lock)
            {
                entries.CopyTo(_entries, 0);
                pending.CopyTo(_pending, 0);

                // What a config or table write would do: a pending vector that is not masked goes out.
                DeliverUnmaskedPending();
            }
        };
    }
}
