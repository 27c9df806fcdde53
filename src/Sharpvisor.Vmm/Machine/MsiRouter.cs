using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Devices.Interrupts;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// Delivers MSI messages through KVM's GSI routing and irqfds: each distinct (address, data) message gets a GSI
/// above the I/O APIC's pins, an MSI route and an eventfd bound to it, so raising it is one eventfd write from
/// any thread and never an ioctl that contends with vCPUs. KVM_SET_GSI_ROUTING replaces the whole table, so this
/// class owns it, including the I/O APIC's level-triggered pin routes. A guest that keeps reprogramming vectors
/// cannot grow the table without bound: past <see cref="MaxCachedMessages"/> messages delivery falls back to
/// KVM_SIGNAL_MSI.
/// </summary>
internal sealed class MsiRouter : IMsiSink, IDisposable
{
    public const int MaxCachedMessages = 256;

    private readonly Lock _lock = new();
    private readonly KvmVm _vm;
    private readonly uint _firstGsi;
    private readonly Dictionary<(ulong Address, uint Data), (uint Gsi, EventFd Fd)> _messages = [];
    private (uint Pin, ulong Address, uint Data)[] _pinRoutes = [];

    public MsiRouter(KvmVm vm, uint firstGsi)
    {
        _vm = vm;
        _firstGsi = firstGsi;
    }

    public void SignalMsi(ulong address, uint data)
    {
        EventFd? fd;
        lock (_lock)
        {
            fd = _messages.TryGetValue((address, data), out var entry) ? entry.Fd : AddRoute(address, data);
        }

        if (fd is null)
        {
            _vm.SignalMsi(address, data);
        }
        else
        {
            fd.Signal();
        }
    }

    public void SetLevelTriggeredRoutes(IReadOnlyList<(uint Pin, ulong Address, uint Data)> routes)
    {
        lock (_lock)
        {
            _pinRoutes = [.. routes];
            Commit();
        }
    }

    /// <summary>
    /// The I/O APIC's view: its pin routes go into the shared table, but its messages keep going out through
    /// KVM_SIGNAL_MSI, synchronously from the thread that raised the pin, as before there were PCI devices.
    /// </summary>
    public IMsiSink DirectSink => new Direct(this);

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var (_, fd) in _messages.Values)
            {
                fd.Dispose();
            }

            _messages.Clear();
        }
    }

    private EventFd? AddRoute(ulong address, uint data)
    {
        if (_messages.Count >= MaxCachedMessages)
        {
            return null;
        }

        var gsi = _firstGsi + (uint)_messages.Count;
        var fd = new EventFd(nonBlocking: true);
        _messages[(address, data)] = (gsi, fd);
        try
        {
            Commit();
            _vm.AssignIrqfd(fd, gsi);
            return fd;
        }
        catch
        {
            _messages.Remove((address, data));
            fd.Dispose();
            throw;
        }
    }

    private void Commit()
    {
        var routes = _pinRoutes
            .Select(r => (r.Pin, r.Address, r.Data))
            .Concat(_messages.Select(m => (m.Value.Gsi, m.Key.Address, m.Key.Data)))
            .ToArray();
        _vm.SetMsiRoutes(routes);
    }

    private sealed class Direct(MsiRouter router) : IMsiSink
    {
        public void SignalMsi(ulong address, uint data) => router._vm.SignalMsi(address, data);

        public void SetLevelTriggeredRoutes(IReadOnlyList<(uint Pin, ulong Address, uint Data)> routes) => router.SetLevelTriggeredRoutes(routes);
    }
}
