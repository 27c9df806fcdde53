using System.Runtime.InteropServices;

namespace Sharpvisor.Kvm;

/// <summary>
/// Holds a reference on a SafeHandle while its raw descriptor is in a system call, so a Dispose on another thread
/// cannot close it (and let the number be reused by a file opened meanwhile) until the call is done; after a Dispose
/// it throws ObjectDisposedException instead. A device thread abandoned past its deadline goes through this.
/// </summary>
internal ref struct HandleLease
{
    private readonly SafeHandle _handle;
    private bool _added;

    public HandleLease(SafeHandle handle)
    {
        _handle = handle;
        _added = false;
        handle.DangerousAddRef(ref _added);
    }

    public readonly int Fd => (int)_handle.DangerousGetHandle();

    public void Dispose()
    {
        if (_added)
        {
            _added = false;
            _handle.DangerousRelease();
        }
    }
}
