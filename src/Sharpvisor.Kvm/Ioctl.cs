using System.Runtime.InteropServices;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>ioctl on a SafeHandle: keeps the fd alive across the call and turns errno into an exception.</summary>
internal static unsafe class Ioctl
{
    public static int Call(SafeHandle handle, nuint request, nint arg, string name)
    {
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return Errno.Check(Libc.ioctl((int)handle.DangerousGetHandle(), request, arg), name);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>Passes <paramref name="value"/> by pointer, as the KVM ioctls taking a struct expect.</summary>
    public static int Call<T>(SafeHandle handle, nuint request, ref T value, string name)
        where T : unmanaged
    {
        // SAFETY: value is a ref to an unmanaged struct, pinned for the duration of the call by `fixed`.
        fixed (T* p = &value)
        {
            return Call(handle, request, (nint)p, name);
        }
    }

    /// <summary>Like <see cref="Call(SafeHandle, nuint, nint, string)"/> but reports errno instead of throwing.</summary>
    public static int TryCall(SafeHandle handle, nuint request, nint arg, out int errno)
    {
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var result = Libc.ioctl((int)handle.DangerousGetHandle(), request, arg);
            errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
            return result;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }
}
