using Microsoft.Win32.SafeHandles;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>Owns one Linux file descriptor (the /dev/kvm, VM, vCPU and eventfd fds).</summary>
public sealed class FileDescriptorHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public FileDescriptorHandle() : base(ownsHandle: true)
    {
    }

    internal FileDescriptorHandle(int fd) : base(ownsHandle: true) => SetHandle(fd);

    /// <summary>The raw descriptor, for ioctls that pass an fd by value (irqfd, ioeventfd).</summary>
    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}
