namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>The requested guest RAM size cannot be laid out on this host; the message says which limit and why.</summary>
public sealed class InvalidMemorySizeException : ArgumentException
{
    public InvalidMemorySizeException()
        : base("invalid guest memory size")
    {
    }

    public InvalidMemorySizeException(string message)
        : base(message)
    {
    }

    public InvalidMemorySizeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
