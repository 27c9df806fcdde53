namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>ACPI checksums: the byte that makes a structure's bytes sum to zero modulo 256.</summary>
public static class AcpiChecksum
{
    /// <summary>The checksum for <paramref name="bytes"/>, whatever its checksum byte at <paramref name="checksumOffset"/> holds now.</summary>
    public static byte Compute(ReadOnlySpan<byte> bytes, int checksumOffset)
    {
        var sum = Sum(bytes) - bytes[checksumOffset];
        return unchecked((byte)-sum);
    }

    public static bool IsValid(ReadOnlySpan<byte> bytes) => (byte)Sum(bytes) == 0;

    private static int Sum(ReadOnlySpan<byte> bytes)
    {
        var sum = 0;
        foreach (var b in bytes)
        {
            sum += b;
        }

        return sum;
    }
}
