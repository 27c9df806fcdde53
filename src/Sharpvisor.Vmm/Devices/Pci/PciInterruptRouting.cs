namespace Sharpvisor.Vmm.Devices.Pci;

/// <summary>
/// Where bus 0's INTx pins meet the I/O APIC: INTA-INTD of slot S go to GSI 16 + ((S + pin - 1) mod 8), the eight
/// pins above the ISA IRQs (as QEMU's q35 uses GSIs 16-23 for PCI). The rotation by slot gives the first eight
/// devices a GSI each; later ones share, which level-triggered INTx allows. The ACPI _PRT and the MP table's
/// interrupt entries are both written from <see cref="Gsi"/>, so the two descriptions cannot disagree.
/// PCI interrupts are level-triggered, active low.
/// </summary>
public static class PciInterruptRouting
{
    public const int FirstGsi = 16;
    public const int GsiCount = 8;

    /// <summary>Every slot's INTA-INTD but the host bridge's (slot 0, no pin), in slot then pin order: the table both descriptions list.</summary>
    public static IReadOnlyList<(int Slot, int Pin, int Gsi)> Routes { get; } =
        [.. Enumerable.Range(1, PciRootBus.SlotCount - 1)
            .SelectMany(slot => Enumerable.Range(PinA, PinCount).Select(pin => (slot, pin, Gsi(slot, pin))))];

    /// <summary>INTA in the interrupt pin register; INTD is 4.</summary>
    public const int PinA = 1;
    public const int PinCount = 4;

    /// <summary>The GSI of <paramref name="pin"/> (1 = INTA .. 4 = INTD) of the function in <paramref name="slot"/>.</summary>
    public static int Gsi(int slot, int pin)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, PciRootBus.SlotCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(pin, PinA);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pin, PinCount);
        return FirstGsi + ((slot + pin - 1) % GsiCount);
    }
}
