using System.Runtime.InteropServices;

namespace Sharpvisor.Kvm;

/// <summary>The one place where a failed native call becomes a typed exception.</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int E2BIG = 7;
    public const int ENOTTY = 25;
    public const int ENOBUFS = 105;
    public const int EMSGSIZE = 90;

    /// <summary>Throws for the current errno, naming the operation that failed.</summary>
    public static KvmException Throw(string operation) => throw Create(operation, Marshal.GetLastPInvokeError());

    public static KvmException Create(string operation, int errno)
    {
        var message = $"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
        return errno switch
        {
            EPERM or EACCES => new KvmPermissionException(message, errno),
            ENOENT or ENODEV => new KvmUnavailableException(message, errno),
            ENOMEM => new KvmOutOfMemoryException(message, errno),
            EINVAL or E2BIG => new KvmInvalidArgumentException(message, errno),
            _ => new KvmException(message, errno),
        };
    }

    internal static int Check(int result, string operation) => result < 0 ? throw Create(operation, Marshal.GetLastPInvokeError()) : result;

    internal static nint Check(nint result, string operation) => result < 0 ? throw Create(operation, Marshal.GetLastPInvokeError()) : result;
}

/// <summary>A KVM or host system call failed.</summary>
public class KvmException(string message, int errno) : Exception(message)
{
    public int ErrorNumber { get; } = errno;
}

public sealed class KvmPermissionException(string message, int errno) : KvmException(message, errno);

public sealed class KvmUnavailableException(string message, int errno) : KvmException(message, errno);

public sealed class KvmOutOfMemoryException(string message, int errno) : KvmException(message, errno);

public sealed class KvmInvalidArgumentException(string message, int errno) : KvmException(message, errno);
