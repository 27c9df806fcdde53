namespace Sharpvisor.Vmm.Memory;

/// <summary>
/// Tells which pages of one RAM region hold only zeros, for writers that skip them (snapshots, a migration's rounds).
/// In anonymous RAM a page the guest never touched is zeros without being read: asking the kernel (pagemap) is what
/// keeps a scan of a mostly untouched 64 GiB guest from faulting in every page. Touched pages are read and compared.
/// </summary>
/// <param name="memory">The guest's RAM.</param>
/// <param name="region">The region whose pages are asked about.</param>
/// <param name="askKernel">
/// Whether to ask the kernel which pages were never touched: worth it for a scan of every page, not for pages a dirty
/// log names (written, so touched: the read answers at once).
/// </param>
public sealed class ZeroPages(GuestMemory memory, GuestRegion region, bool askKernel = true)
{
    public const int PageSize = 4096;

    // How many pages one pagemap read covers (16 MiB of RAM, 32 KiB of entries).
    private const int Window = 4096;

    private readonly bool[] _touched = new bool[Window];
    private long _windowStart = -1;
    private bool _windowKnown;

    /// <summary>Whether page <paramref name="page"/> of the region (0-based) is all zeros.</summary>
    public bool IsZero(long page)
    {
        if (askKernel && region.Mapping.IsAnonymous && Untouched(page))
        {
            return true;
        }

        return !memory.GetSpan(region.Start + ((ulong)page * PageSize), PageSize).ContainsAnyExcept((byte)0);
    }

    private bool Untouched(long page)
    {
        if (_windowStart < 0 || page < _windowStart || page >= _windowStart + Window)
        {
            var pages = (long)(region.Size / PageSize);
            _windowStart = page - (page % Window);
            var count = (int)Math.Min(Window, pages - _windowStart);
            _windowKnown = region.Mapping.TryGetTouchedPages((ulong)_windowStart * PageSize, _touched.AsSpan(0, count));
        }

        return _windowKnown && !_touched[page - _windowStart];
    }
}
