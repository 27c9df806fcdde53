using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Pci;

/// <summary>A BAR the function decodes right now: where, how big, and who answers.</summary>
public readonly record struct PciBarMapping(int Index, PciBarKind Kind, ulong Address, ulong Size, IBusDevice Handler)
{
    public bool IsIo => Kind == PciBarKind.Io;
}

/// <summary>
/// One PCI function: its config space plus a bus handler per BAR (offsets relative to the BAR's start).
/// The root bus is the only caller of <see cref="ReadConfig"/> and <see cref="WriteConfig"/>; after each config
/// write it compares <see cref="DecodedBars"/> with what it registered and moves the ranges, then calls
/// <see cref="OnBarMoved"/> so a device can learn where its BAR went (e.g. to remap an ioeventfd).
/// </summary>
public class PciDevice
{
    private readonly IBusDevice?[] _handlers = new IBusDevice?[PciConfigSpace.BarCount];
    private PciRootBus? _bus;

    public PciDevice(PciConfigSpace config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
    }

    public PciConfigSpace Config { get; }

    /// <summary>The slot of bus 0 the function sits in; -1 until a root bus adds it.</summary>
    public int Slot { get; private set; } = -1;

    /// <summary>Declares BAR <paramref name="index"/> and the handler for accesses inside it.</summary>
    public void AddBar(int index, PciBarKind kind, ulong size, IBusDevice handler, bool prefetchable = false)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Config.DeclareBar(index, kind, size, prefetchable);
        _handlers[index] = handler;
    }

    public virtual void ReadConfig(int offset, Span<byte> data) => Config.Read(offset, data);

    public virtual void WriteConfig(int offset, ReadOnlySpan<byte> data) => Config.Write(offset, data);

    /// <summary>
    /// The BARs that decode now: memory BARs while memory space is enabled in the command register, I/O BARs
    /// while I/O space is. A BAR still holding the all-ones sizing pattern decodes too, as on hardware; the
    /// root bus simply fails to claim a range that wraps or collides.
    /// </summary>
    public IReadOnlyList<PciBarMapping> DecodedBars()
    {
        var mappings = new List<PciBarMapping>();
        foreach (var bar in Config.Bars)
        {
            if (bar.Kind == PciBarKind.None || _handlers[bar.Index] is not { } handler)
            {
                continue;
            }

            var enabled = bar.Kind == PciBarKind.Io ? Config.IoDecodeEnabled : Config.MemoryDecodeEnabled;
            if (enabled)
            {
                mappings.Add(new PciBarMapping(bar.Index, bar.Kind, Config.BarAddress(bar.Index), bar.Size, handler));
            }
        }

        return mappings;
    }

    /// <summary>
    /// Called after the root bus changed where BAR <paramref name="index"/> is claimed: <paramref name="mapping"/>
    /// is the new claim, or null when the BAR no longer decodes (disabled, or its new range was refused).
    /// </summary>
    protected virtual void OnBarMoved(int index, PciBarMapping? mapping)
    {
    }

    internal void NotifyBarMoved(int index, PciBarMapping? mapping) => OnBarMoved(index, mapping);

    /// <summary>
    /// Called once, when the root bus wires the function's interrupt pin (INTx) to <paramref name="line"/>: a level
    /// line the function asserts while it has an interrupt pending and MSI-X is off.
    /// </summary>
    protected virtual void OnInterruptLineConnected(IInterruptLine line)
    {
    }

    internal void ConnectInterruptLine(IInterruptLine line) => OnInterruptLineConnected(line);

    internal void Attach(PciRootBus bus, int slot)
    {
        _bus = bus;
        Slot = slot;
    }

    /// <summary>
    /// Runs <paramref name="replace"/>, which rewrites config space wholesale (a restore does), under the root bus's
    /// config lock as any config access, then moves the BAR claims to where the new contents say they decode (and
    /// calls <see cref="OnBarMoved"/> for those that moved). Must not be called holding a lock <see cref="OnBarMoved"/> takes.
    /// </summary>
    protected void ReplaceConfig(Action replace)
    {
        ArgumentNullException.ThrowIfNull(replace);
        if (_bus is null)
        {
            replace();
        }
        else
        {
            _bus.Reconfigure(Slot, replace);
        }
    }
}
