using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Interrupts;

/// <summary>
/// A level-triggered line that several devices drive (wired-OR, as PCI INTx lines are shared): the line is asserted
/// while any source asserts it. Each source gets its own handle from <see cref="AddSource"/>; a source repeating
/// its level changes nothing, so one device cannot cancel another's assertion.
/// </summary>
public sealed class SharedLevelLine(IInterruptLine line)
{
    private readonly Lock _lock = new();
    private int _asserted;

    /// <summary>A new source on this line, deasserted.</summary>
    public IInterruptLine AddSource() => new Source(this);

    private void Change(bool asserted)
    {
        lock (_lock)
        {
            var wasHigh = _asserted > 0;
            _asserted += asserted ? 1 : -1;
            var isHigh = _asserted > 0;
            if (wasHigh != isHigh)
            {
                line.SetLevel(isHigh);
            }
        }
    }

    private sealed class Source(SharedLevelLine shared) : IInterruptLine
    {
        private readonly Lock _lock = new();
        private bool _asserted;

        public void SetLevel(bool asserted)
        {
            lock (_lock)
            {
                if (_asserted == asserted)
                {
                    return;
                }

                _asserted = asserted;
                shared.Change(asserted);
            }
        }
    }
}
