namespace Sharpvisor.Manager.Supervisor;

/// <summary>
/// The uid (and gid) each confined VMM runs as: one per running VM, shared with no other live process. The kernel's
/// checks for signalling, tracing or reading another process's memory through /proc compare uids, so a VMM taken over
/// by its guest cannot reach another VM's. A VM's uid follows from its id (it keeps the same one from run to run) and
/// moves on to the next free one when another process holds it.
/// </summary>
public sealed class VmmUids
{
    /// <summary>Far above the uids of people and system services, below the 2^31 that some tools read as negative.</summary>
    public const uint DefaultFirst = 0x7000_0000;

    public const uint DefaultCount = 1 << 24;

    private readonly uint _first;
    private readonly uint _count;
    private readonly Func<IReadOnlySet<uint>> _liveUids;
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, uint> _held = [];

    /// <param name="first">The range's first uid.</param>
    /// <param name="count">How many uids it has.</param>
    /// <param name="liveUids">The uids of the host's processes now (/proc); taken into account when a VM is given one.</param>
    public VmmUids(uint first, uint count, Func<IReadOnlySet<uint>> liveUids)
    {
        ArgumentOutOfRangeException.ThrowIfZero(first); // root
        ArgumentOutOfRangeException.ThrowIfZero(count);
        // uid_t's -1 is "no change" to setresuid: the range ends below it.
        ArgumentOutOfRangeException.ThrowIfGreaterThan((ulong)first + count, (ulong)uint.MaxValue, nameof(count));
        ArgumentNullException.ThrowIfNull(liveUids);
        _first = first;
        _count = count;
        _liveUids = liveUids;
    }

    /// <summary>Gives <paramref name="vm"/> a uid no running VM and no live process has (the same one again when it holds one).</summary>
    public uint Acquire(Guid vm)
    {
        var live = _liveUids();
        lock (_gate)
        {
            if (_held.TryGetValue(vm, out var mine))
            {
                return mine;
            }

            var taken = _held.Values.ToHashSet();
            var start = (uint)(BitConverter.ToUInt32(vm.ToByteArray(), 0) % _count);
            // At most one turn of the range: it ends with a free uid or with the range full.
            for (uint step = 0; step < _count; step++)
            {
                var uid = _first + ((start + step) % _count);
                if (!taken.Contains(uid) && !live.Contains(uid))
                {
                    _held[vm] = uid;
                    return uid;
                }
            }

            throw new InvalidOperationException($"every uid of {_first}..{_first + _count - 1} is in use: no uid left for another VMM");
        }
    }

    /// <summary>Records the uid of a VMM the supervisor adopted (it runs already), when it is one of the range's.</summary>
    public void Hold(Guid vm, uint uid)
    {
        if (uid >= _first && uid - _first < _count)
        {
            lock (_gate)
            {
                _held[vm] = uid;
            }
        }
    }

    /// <summary>The VM's VMM exited: its uid is free again.</summary>
    public void Release(Guid vm)
    {
        lock (_gate)
        {
            _held.Remove(vm);
        }
    }
}
