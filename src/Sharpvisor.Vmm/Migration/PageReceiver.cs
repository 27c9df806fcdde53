using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// Writes received PAGE sections (<see cref="PageStream"/>) into the destination's fresh RAM, every run checked to lie
/// inside one RAM region. It remembers which pages it wrote: a zero run over a page never written is already zeros
/// and is not touched at all (touching every page of a large guest for round 1's zeros costs a page fault each).
/// </summary>
internal sealed class PageReceiver(GuestMemory memory)
{
    private const int PageSize = PageStream.PageSize;

    private readonly ulong[][] _written = [.. memory.Regions.Select(r => new ulong[(r.Size / PageSize + 63) / 64])];

    public long PagesReceived { get; private set; }

    public void Apply(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var r = section.Expect(PageStream.Version).Reader();
        var dataPages = 0;
        while (!r.AtEnd)
        {
            var start = r.U64();
            var count = r.U32();
            var kind = r.U8();
            if (start % PageSize != 0 || count is 0 or > PageStream.MaxRunPages || kind > PageStream.DataRun)
            {
                throw new StateException($"section PAGE: a run of {count} pages at 0x{start:x} (kind {kind}) is malformed");
            }

            var length = (int)count * PageSize;
            var address = new GuestAddress(start);
            var slot = RegionOf(address, (ulong)length)
                ?? throw new StateException($"section PAGE: {count} pages at 0x{start:x} are not guest RAM");
            var firstPage = (long)((start - memory.Regions[slot].Start.Value) / PageSize);
            if (kind == PageStream.DataRun)
            {
                dataPages += (int)count;
                if (dataPages > PageStream.MaxRunPages)
                {
                    throw new StateException("section PAGE carries more data than a section may");
                }

                r.Raw(length).CopyTo(memory.GetSpan(address, length));
                for (var i = 0; i < count; i++)
                {
                    Mark(slot, firstPage + i);
                }
            }
            else
            {
                for (var i = 0; i < count; i++)
                {
                    if (IsWritten(slot, firstPage + i))
                    {
                        memory.GetSpan(address + ((ulong)i * PageSize), PageSize).Clear();
                    }
                }
            }

            PagesReceived += count;
        }
    }

    private int? RegionOf(GuestAddress address, ulong length)
    {
        for (var slot = 0; slot < memory.Regions.Count; slot++)
        {
            if (memory.Regions[slot].Contains(address, length))
            {
                return slot;
            }
        }

        return null;
    }

    private void Mark(int slot, long page) => _written[slot][page / 64] |= 1UL << (int)(page % 64);

    private bool IsWritten(int slot, long page) => (_written[slot][page / 64] & (1UL << (int)(page % 64))) != 0;
}
