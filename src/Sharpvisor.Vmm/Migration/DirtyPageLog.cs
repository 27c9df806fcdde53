using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// The guest pages written since the last look, from KVM's dirty log (one bitmap per memory slot; slot i is RAM
/// region i). With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 the read and the re-protection are separate calls, as QEMU does;
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
        var bitmaps = new ulong[_memory.Regions.Count][];
        for (var slot = 0; slot < bitmaps.Length; slot++)
        {
            var pages = _memory.Regions[slot].Size / PageSize;
            var bitmap = bitmaps[slot] = new ulong[(pages + 63) / 64];
            _vm.GetDirtyLog((uint)slot, bitmap);
            if (_manualProtect)
            {
                _vm.ClearDirtyLog((uint)slot, 0, (uint)pages, bitmap);
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
