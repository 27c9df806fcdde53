using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>An interrupt line that remembers every level change a device made.</summary>
internal sealed class RecordingInterruptLine : IInterruptLine
{
    private readonly Lock _lock = new();
    private readonly List<bool> _changes = [];

    public bool IsAsserted
    {
        get
        {
            lock (_lock)
            {
                return _changes.Count > 0 && _changes[^1];
            }
        }
    }

    public IReadOnlyList<bool> Changes
    {
        get
        {
            lock (_lock)
            {
                return [.. _changes];
            }
        }
    }

    public void SetLevel(bool asserted)
    {
        lock (_lock)
        {
            _changes.Add(asserted);
        }
    }
}
