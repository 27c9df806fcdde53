namespace Sharpvisor.Vmm.Memory;

/// <summary>An access outside guest RAM: a hostile or buggy guest, never a host bug to crash on.</summary>
public sealed class GuestMemoryException(GuestAddress address, ulong length)
    : Exception($"guest memory access [{address}, +0x{length:x}) is outside guest RAM")
{
    public GuestAddress Address { get; } = address;

    public ulong Length { get; } = length;
}
