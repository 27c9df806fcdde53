namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>
/// The guest cannot be booted as asked: a bad kernel or initrd file, a command line too long, a kernel that does
/// not fit in guest RAM. The message is one line meant for the person who typed the command, so it names the
/// file and the limit that was crossed.
/// </summary>
public sealed class BootException : Exception
{
    public BootException()
        : base("the guest cannot be booted")
    {
    }

    public BootException(string message)
        : base(message)
    {
    }

    public BootException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
