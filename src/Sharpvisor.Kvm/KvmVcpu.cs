using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>
/// A vCPU fd and its mmap'ed kvm_run page. Holds its VM object so the VM cannot be collected while a vCPU
/// runs. All calls except <see cref="RequestImmediateExit"/> belong to the one thread that runs this vCPU, or to
/// another thread while this vCPU is parked outside KVM_RUN (KVM serialises them on the vCPU's mutex).
/// </summary>
public sealed unsafe class KvmVcpu : IVcpuState, IDisposable
{
    public const uint KVM_MP_STATE_RUNNABLE = 0;
    public const uint KVM_MP_STATE_UNINITIALIZED = 1;
    public const uint KVM_MP_STATE_INIT_RECEIVED = 2;
    public const uint KVM_MP_STATE_HALTED = 3;
    public const uint KVM_MP_STATE_SIPI_RECEIVED = 4;

    public const uint KVM_VCPUEVENT_VALID_NMI_PENDING = 0x1;
    public const uint KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x2;
    public const uint KVM_VCPUEVENT_VALID_SHADOW = 0x4;

    private readonly FileDescriptorHandle _fd;
    private readonly nint _runPage;
    private readonly int _runPageSize;
    private int _disposed;

    internal KvmVcpu(KvmVm vm, FileDescriptorHandle fd, uint id, int mmapSize)
    {
        Vm = vm;
        _fd = fd;
        Id = id;
        _runPageSize = mmapSize;
        var page = Libc.mmap(0, (nuint)mmapSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd.Fd, 0);
        if (page == Libc.MAP_FAILED)
        {
            Errno.Throw($"mmap of vCPU {id} run page");
        }

        _runPage = page;
        Exit = new VcpuExit((byte*)page, mmapSize);
    }

    public KvmVm Vm { get; }

    public uint Id { get; }

    /// <summary>The shared kvm_run page, read after <see cref="Run"/> returns true.</summary>
    public VcpuExit Exit { get; }

    /// <summary>KVM_RUN. Returns false when interrupted by a signal or an immediate-exit request (EINTR/EAGAIN).</summary>
    public bool Run()
    {
        if (Ioctl.TryCall(_fd, KvmIoctls.KVM_RUN, 0, out var errno) >= 0)
        {
            return true;
        }

        return errno is Errno.EINTR or Errno.EAGAIN ? false : throw Errno.Create($"KVM_RUN on vCPU {Id}", errno);
    }

    /// <summary>
    /// Sets kvm_run.immediate_exit, so the next (or a signal-interrupted current) KVM_RUN returns EINTR.
    /// Safe from any thread: it is one byte in a shared page that only user space writes.
    /// </summary>
    public void RequestImmediateExit(bool value = true) => Volatile.Write(ref ((kvm_run*)_runPage)->immediate_exit, value ? (byte)1 : (byte)0);

    public kvm_regs GetRegs() => Get<kvm_regs>(KvmIoctls.KVM_GET_REGS, "KVM_GET_REGS");

    public void SetRegs(kvm_regs regs) => Ioctl.Call(_fd, KvmIoctls.KVM_SET_REGS, ref regs, "KVM_SET_REGS");

    public kvm_sregs GetSregs() => Get<kvm_sregs>(KvmIoctls.KVM_GET_SREGS, "KVM_GET_SREGS");

    public void SetSregs(kvm_sregs sregs) => Ioctl.Call(_fd, KvmIoctls.KVM_SET_SREGS, ref sregs, "KVM_SET_SREGS");

    public kvm_fpu GetFpu() => Get<kvm_fpu>(KvmIoctls.KVM_GET_FPU, "KVM_GET_FPU");

    public void SetFpu(kvm_fpu fpu) => Ioctl.Call(_fd, KvmIoctls.KVM_SET_FPU, ref fpu, "KVM_SET_FPU");

    public kvm_lapic_state GetLapic() => Get<kvm_lapic_state>(KvmIoctls.KVM_GET_LAPIC, "KVM_GET_LAPIC");

    public void SetLapic(kvm_lapic_state lapic) => Ioctl.Call(_fd, KvmIoctls.KVM_SET_LAPIC, ref lapic, "KVM_SET_LAPIC");

    public uint GetMpState() => Get<kvm_mp_state>(KvmIoctls.KVM_GET_MP_STATE, "KVM_GET_MP_STATE").mp_state;

    public void SetMpState(uint state)
    {
        var mp = new kvm_mp_state { mp_state = state };
        Ioctl.Call(_fd, KvmIoctls.KVM_SET_MP_STATE, ref mp, "KVM_SET_MP_STATE");
    }

    public kvm_vcpu_events GetVcpuEvents() => Get<kvm_vcpu_events>(KvmIoctls.KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS");

    public void SetVcpuEvents(kvm_vcpu_events events) => Ioctl.Call(_fd, KvmIoctls.KVM_SET_VCPU_EVENTS, ref events, "KVM_SET_VCPU_EVENTS");

    /// <summary>
    /// The XSAVE area (x87, SSE, AVX and the other enabled components) into a buffer of
    /// <see cref="KvmVm.XsaveSize"/> bytes: KVM_GET_XSAVE2 when that is larger than 4096, else KVM_GET_XSAVE.
    /// </summary>
    public byte[] GetXsave()
    {
        var size = Vm.XsaveSize;
        var buffer = new byte[size];
        // SAFETY: the buffer is pinned for the call and holds the size KVM_CAP_XSAVE2 announced (at least struct kvm_xsave).
        fixed (byte* p = buffer)
        {
            Ioctl.Call(_fd, size > sizeof(kvm_xsave) ? KvmIoctls.KVM_GET_XSAVE2 : KvmIoctls.KVM_GET_XSAVE, (nint)p, "KVM_GET_XSAVE");
        }

        return buffer;
    }

    /// <summary>KVM_SET_XSAVE from a buffer of exactly <see cref="KvmVm.XsaveSize"/> bytes (KVM reads that many).</summary>
    public void SetXsave(ReadOnlySpan<byte> area)
    {
        var size = Vm.XsaveSize;
        if (area.Length != size)
        {
            throw new ArgumentException($"an XSAVE area of {area.Length} bytes does not fit this host's {size}", nameof(area));
        }

        // SAFETY: the span is pinned for the call and is exactly the size KVM reads.
        fixed (byte* p = area)
        {
            Ioctl.Call(_fd, KvmIoctls.KVM_SET_XSAVE, (nint)p, "KVM_SET_XSAVE");
        }
    }

    public kvm_xcrs GetXcrs() => Get<kvm_xcrs>(KvmIoctls.KVM_GET_XCRS, "KVM_GET_XCRS");

    public void SetXcrs(kvm_xcrs xcrs) => Ioctl.Call(_fd, KvmIoctls.KVM_SET_XCRS, ref xcrs, "KVM_SET_XCRS");

    public kvm_debugregs GetDebugRegs() => Get<kvm_debugregs>(KvmIoctls.KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS");

    public void SetDebugRegs(kvm_debugregs regs) => Ioctl.Call(_fd, KvmIoctls.KVM_SET_DEBUGREGS, ref regs, "KVM_SET_DEBUGREGS");

    /// <summary>Walks the guest's page tables for a linear address (KVM_TRANSLATE); null when unmapped.</summary>
    public ulong? Translate(ulong linearAddress)
    {
        var translation = new kvm_translation { linear_address = linearAddress };
        Ioctl.Call(_fd, KvmIoctls.KVM_TRANSLATE, ref translation, "KVM_TRANSLATE");
        return translation.valid != 0 ? translation.physical_address : null;
    }

    public void SetCpuid(ReadOnlySpan<kvm_cpuid_entry2> entries)
    {
        var buffer = new byte[sizeof(kvm_cpuid2) + (entries.Length * sizeof(kvm_cpuid_entry2))];
        // SAFETY: the pinned buffer holds the header plus exactly entries.Length entries, which nent announces.
        fixed (byte* p = buffer)
        {
            ((kvm_cpuid2*)p)->nent = (uint)entries.Length;
            entries.CopyTo(new Span<kvm_cpuid_entry2>(p + sizeof(kvm_cpuid2), entries.Length));
            Ioctl.Call(_fd, KvmIoctls.KVM_SET_CPUID2, (nint)p, "KVM_SET_CPUID2");
        }
    }

    /// <summary>KVM_SET_MSRS; returns how many of the entries KVM accepted (it stops at the first it refuses).</summary>
    public int SetMsrs(ReadOnlySpan<kvm_msr_entry> entries)
    {
        var buffer = new byte[sizeof(kvm_msrs) + (entries.Length * sizeof(kvm_msr_entry))];
        // SAFETY: the pinned buffer holds the header plus exactly entries.Length entries, which nmsrs announces.
        fixed (byte* p = buffer)
        {
            ((kvm_msrs*)p)->nmsrs = (uint)entries.Length;
            entries.CopyTo(new Span<kvm_msr_entry>(p + sizeof(kvm_msrs), entries.Length));
            return Ioctl.Call(_fd, KvmIoctls.KVM_SET_MSRS, (nint)p, "KVM_SET_MSRS");
        }
    }

    /// <summary>KVM_GET_MSRS for the indexes in <paramref name="entries"/>; fills their data and returns how many were read.</summary>
    public int GetMsrs(Span<kvm_msr_entry> entries)
    {
        var buffer = new byte[sizeof(kvm_msrs) + (entries.Length * sizeof(kvm_msr_entry))];
        // SAFETY: as in SetMsrs; the kernel writes only within the announced entries.
        fixed (byte* p = buffer)
        {
            ((kvm_msrs*)p)->nmsrs = (uint)entries.Length;
            var slots = new Span<kvm_msr_entry>(p + sizeof(kvm_msrs), entries.Length);
            entries.CopyTo(slots);
            var read = Ioctl.Call(_fd, KvmIoctls.KVM_GET_MSRS, (nint)p, "KVM_GET_MSRS");
            slots.CopyTo(entries);
            return read;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _ = Libc.munmap(_runPage, (nuint)_runPageSize);
            _fd.Dispose();
        }
    }

    private T Get<T>(nuint request, string name)
        where T : unmanaged
    {
        T value = default;
        Ioctl.Call(_fd, request, ref value, name);
        return value;
    }
}
