using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// The guest pages written since the last look: KVM's dirty log for what vCPUs write (one bitmap per memory slot;
/// slot i is RAM region i), and the VMM's own record for what its devices write (<see cref="GuestMemory.MarkDirty"/>). With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 the read and the re-protection are separate calls, as QEMU does;
/// without it KVM_GET_DIRTY_LOG does both. Either way a page written after <see cref="Collect"/> read its bit shows up in
/// the next one, which is what makes a pre-copy round safe to send while the guest runs. Disposing stops the logging.
/// </summary>
internal sealed class DirtyPageLog : IDisposable
{
    public const int PageSize = 4096;

    private readonly KvmVm _vm;
    private readonly GuestMemory _memory;
    private readonly bool _manualProtect;
    private bool _disposed;

    private DirtyPageLog(KvmVm vm, GuestMemory memory, bool manualProtect)
    {
        _vm = vm;
        _memory = memory;
        _manualProtect = manualProtect;
    }

    public bool ManualProtect => _manualProtect;

    /// <summary>Turns logging on for every RAM slot; pages written from here on are reported.</summary>
    public static DirtyPageLog Start(KvmVm vm, GuestMemory memory)
    {
        var log = new DirtyPageLog(vm, memory, vm.TryEnableManualDirtyLogProtect());
        memory.StartDirtyTracking();
        log.SetLogging(KvmVm.KVM_MEM_LOG_DIRTY_PAGES);
        return log;
    }

    /// <summary>
    /// Per RAM region, a new bitmap of its pages written since the previous call (or <see cref="Start"/>),
    /// re-protected so the next write is seen again. (2 MiB of bitmap for 64 GiB of RAM: new arrays cost little and
    /// leave a caller's earlier round intact.)
    /// </summary>
    public IReadOnlyList<ulong[]> Collect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // The VMM's own writes (used rings, block reads, received frames), which KVM's log cannot see.
        var bitmaps = _memory.CollectDirty();
        for (var slot = 0; slot < bitmaps.Length; slot++)
        {
            var pages = _memory.Regions[slot].Size / PageSize;
            var kvm = new ulong[bitmaps[slot].Length];
            _vm.GetDirtyLog((uint)slot, kvm);
            if (_manualProtect)
            {
                _vm.ClearDirtyLog((uint)slot, 0, (uint)pages, kvm);
            }

            for (var i = 0; i < kvm.Length; i++)
            {
                bitmaps[slot][i] |= kvm[i];
            }
        }

        return bitmaps;
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            SetLogging(0);
            _memory.StopDirtyTracking();
        }
    }

    private void SetLogging(uint flags)
    {
        for (var slot = 0; slot < _memory.Regions.Count; slot++)
        {
            var region = _memory.Regions[slot];
            _vm.SetUserMemoryRegion((uint)slot, region.Start.Value, region.Size, region.Mapping.Address, flags);
        }
    }
}
