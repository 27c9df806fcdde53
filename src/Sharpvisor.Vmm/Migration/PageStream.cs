using System.Diagnostics;
using System.Numerics;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// Guest RAM in a migration stream: "PAGE" sections of runs, each u64 guest-physical address, u32 page count,
/// u8 kind (0: the pages are zeros, no data follows; 1: count × 4096 bytes follow). A section holds at most
/// <see cref="MaxRunPages"/> pages of data, so a reader's allocation stays small.
/// </summary>
internal static class PageStream
{
    public const string Tag = "PAGE";
    public const uint Version = 1;
    public const int PageSize = DirtyPageLog.PageSize;
    public const int MaxRunPages = 256;

    /// <summary>A run's address, count and kind.</summary>
    private const int RunHeaderLength = 8 + 4 + 1;

    public const byte ZeroRun = 0;
    public const byte DataRun = 1;

    /// <summary>
    /// The buffer <see cref="Send"/> builds its sections in: a full one is MaxRunPages pages and their run headers.
    /// One per migration, made before the rounds: allocating (and faulting in) a megabyte costs about a millisecond,
    /// which the last round, with the guest paused, must not pay.
    /// </summary>
    public static StatePayload NewBatch() => new((MaxRunPages * PageSize) + (MaxRunPages * RunHeaderLength));

    /// <summary>
    /// Sends the pages set in <paramref name="bitmaps"/> (null: every page), reading each as it is now; a page the guest
    /// writes meanwhile is in the next dirty log. Paces itself to <paramref name="bandwidthLimit"/> bytes/s (0: none).
    /// Returns the pages and the bytes sent; <paramref name="sent"/> hears the totals so far after each section.
    /// <paramref name="batch"/> (from <see cref="NewBatch"/>) is empty before and after.
    /// </summary>
    public static (long Pages, long Bytes) Send(StateWriter writer, GuestMemory memory, IReadOnlyList<ulong[]>? bitmaps, long bandwidthLimit,
        StatePayload batch, CancellationToken cancellation = default, Action<long, long>? sent = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var batchPages = 0;
        long pages = 0, bytes = 0;
        var started = Stopwatch.GetTimestamp();
        for (var slot = 0; slot < memory.Regions.Count; slot++)
        {
            var region = memory.Regions[slot];
            var zeros = new ZeroPages(memory, region, askKernel: bitmaps is null);
            var count = (long)(region.Size / PageSize);
            for (long page = 0; page < count;)
            {
                if (bitmaps is not null && (page = NextSet(bitmaps[slot], page, count)) >= count)
                {
                    break;
                }

                // A run of set pages of one kind, at most MaxRunPages long.
                var address = region.Start + ((ulong)page * PageSize);
                var zero = zeros.IsZero(page);
                var run = 1;
                while (run < MaxRunPages && page + run < count
                    && (bitmaps is null || (bitmaps[slot][(page + run) / 64] & (1UL << (int)((page + run) % 64))) != 0)
                    && zeros.IsZero(page + run) == zero)
                {
                    run++;
                }

                if (batchPages + (zero ? 0 : run) > MaxRunPages)
                {
                    cancellation.ThrowIfCancellationRequested();
                    bytes += Flush(writer, batch, ref batchPages);
                    sent?.Invoke(pages, bytes);
                    Pace(bytes, started, bandwidthLimit, cancellation);
                }

                batch.U64(address.Value).U32((uint)run).U8(zero ? ZeroRun : DataRun);
                if (!zero)
                {
                    batch.Raw(memory.GetSpan(address, run * PageSize));
                    batchPages += run;
                }

                pages += run;
                page += run;
            }
        }

        bytes += Flush(writer, batch, ref batchPages);
        return (pages, bytes);
    }

    /// <summary>
    /// The first page at or after <paramref name="page"/> set in <paramref name="bitmap"/>, or <paramref name="count"/>
    /// when none is: a word at a time, so a round with a few dirty pages in a large guest skips the clean ones quickly.
    /// </summary>
    private static long NextSet(ulong[] bitmap, long page, long count)
    {
        var word = page / 64;
        var bits = bitmap[word] & (ulong.MaxValue << (int)(page % 64));
        while (bits == 0)
        {
            if (++word >= bitmap.Length || word * 64 >= count)
            {
                return count;
            }

            bits = bitmap[word];
        }

        return Math.Min(count, (word * 64) + BitOperations.TrailingZeroCount(bits));
    }

    private static long Flush(StateWriter writer, StatePayload batch, ref int batchPages)
    {
        var length = batch.WrittenSpan.Length;
        if (length == 0)
        {
            return 0;
        }

        writer.Section(Tag, Version, batch);
        batch.Reset();
        batchPages = 0;
        return length + StateFormat.SectionHeaderLength + 4;
    }

    private static void Pace(long bytes, long started, long bandwidthLimit, CancellationToken cancellation)
    {
        if (bandwidthLimit <= 0)
        {
            return;
        }

        var due = TimeSpan.FromSeconds((double)bytes / bandwidthLimit) - Stopwatch.GetElapsedTime(started);
        if (due > TimeSpan.Zero)
        {
            // One batch at the lowest limit allowed (1 MB/s) is about a second; a cancel ends the wait at once.
            cancellation.WaitHandle.WaitOne(due);
            cancellation.ThrowIfCancellationRequested();
        }
    }
}
