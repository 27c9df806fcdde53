namespace Sharpvisor.Vmm.State;

/// <summary>
/// The machine sections read from a file or a peer, kept until the restore: each is checked on its own when read, but
/// a file or a peer could send any number of them, so their count and their total size are bounded here, far above
/// what a VM of the largest size makes (a section per vCPU, per device, and a few).
/// </summary>
public sealed class StateSectionBudget
{
    public const int MaxSections = 4096;
    public const long MaxTotalBytes = 256L << 20;

    private readonly List<StateSection> _sections = [];
    private long _bytes;

    public IReadOnlyList<StateSection> Sections => _sections;

    public void Add(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        _bytes += section.Payload.Length;
        if (_sections.Count >= MaxSections || _bytes > MaxTotalBytes)
        {
            throw new StateException($"the state has more sections than a VM makes (over {MaxSections} or {MaxTotalBytes >> 20} MiB): it is corrupt");
        }

        _sections.Add(section);
    }
}
