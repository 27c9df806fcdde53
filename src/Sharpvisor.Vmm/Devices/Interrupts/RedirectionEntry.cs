namespace Sharpvisor.Vmm.Devices.Interrupts;

/// <summary>
/// One 64-bit I/O APIC redirection table entry and its translation to an MSI message (the same bit fields an
/// interrupt remapping-free x86 system uses: destination in the address, vector/mode/trigger in the data).
/// </summary>
internal readonly record struct RedirectionEntry(ulong Raw)
{
    private const ulong MaskBit = 1UL << 16;
    private const ulong TriggerLevelBit = 1UL << 15;
    private const ulong RemoteIrrBit = 1UL << 14;
    private const ulong DeliveryStatusBit = 1UL << 12;
    private const ulong DestinationModeLogicalBit = 1UL << 11;

    // Bits the guest cannot write: delivery status and remote IRR belong to the I/O APIC.
    private const uint ReadOnlyLowBits = (uint)(RemoteIrrBit | DeliveryStatusBit);

    private const ulong MsiAddressBase = 0xFEE0_0000;

    /// <summary>Masked, as after reset.</summary>
    public static RedirectionEntry Reset => new(MaskBit);

    public byte Vector => (byte)Raw;

    public uint DeliveryMode => (uint)(Raw >> 8) & 7;

    public bool LogicalDestination => (Raw & DestinationModeLogicalBit) != 0;

    public bool LevelTriggered => (Raw & TriggerLevelBit) != 0;

    public bool RemoteIrr => (Raw & RemoteIrrBit) != 0;

    public bool Masked => (Raw & MaskBit) != 0;

    public byte Destination => (byte)(Raw >> 56);

    public ulong MsiAddress => MsiAddressBase | ((ulong)Destination << 12) | (LogicalDestination ? 1UL << 2 : 0);

    public uint MsiData => Vector | (DeliveryMode << 8) | (LevelTriggered ? (1u << 15) | (1u << 14) : 0);

    public RedirectionEntry WithLow(uint value) =>
        new((Raw & (0xFFFF_FFFF_0000_0000UL | ReadOnlyLowBits)) | (value & ~ReadOnlyLowBits));

    public RedirectionEntry WithHigh(uint value) => new((Raw & 0xFFFF_FFFFUL) | ((ulong)value << 32));

    public RedirectionEntry WithRemoteIrr(bool set) => new(set ? Raw | RemoteIrrBit : Raw & ~RemoteIrrBit);

    /// <summary>The GSI route KVM needs to report EOIs for this pin, when it is level-triggered and unmasked.</summary>
    public (uint Pin, ulong Address, uint Data)? LevelRoute(int pin) =>
        LevelTriggered && !Masked ? ((uint)pin, MsiAddress, MsiData) : null;
}
