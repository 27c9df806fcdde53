using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>
/// A typed view over the mmap'ed kvm_run page. Fields are read straight from the shared page; they are
/// meaningful only between a KVM_RUN that returned and the next KVM_RUN on the owning thread.
/// </summary>
public sealed unsafe class VcpuExit
{
    private readonly byte* _page;
    private readonly int _size;

    internal VcpuExit(byte* page, int size)
    {
        _page = page;
        _size = size;
    }

    private kvm_run* Run => (kvm_run*)_page;

    private T* Union<T>() where T : unmanaged => (T*)(_page + kvm_run.UnionOffset);

    public VcpuExitReason Reason => (VcpuExitReason)Run->exit_reason;

    public kvm_run_io Io => *Union<kvm_run_io>();

    /// <summary>The bytes of a port I/O exit (size × count), inside the run page; written back for IN.</summary>
    public Span<byte> IoData
    {
        get
        {
            var io = Union<kvm_run_io>();
            var length = (long)io->size * io->count;
            // The offset comes from the kernel; check it anyway so a kernel bug cannot make us touch other memory.
            if (io->data_offset > (ulong)_size || length > _size - (long)io->data_offset)
            {
                throw new KvmException($"KVM_EXIT_IO data [{io->data_offset}, +{length}) lies outside the {_size}-byte run page", 0);
            }

            // SAFETY: bounds checked against the mapped run page size just above.
            return new Span<byte>(_page + io->data_offset, (int)length);
        }
    }

    public ulong MmioAddress => Union<kvm_run_mmio>()->phys_addr;

    public bool MmioIsWrite => Union<kvm_run_mmio>()->is_write != 0;

    /// <summary>The data bytes of an MMIO exit (len ≤ 8), inside the run page; written back for reads.</summary>
    public Span<byte> MmioData
    {
        get
        {
            var mmio = Union<kvm_run_mmio>();
            // SAFETY: data is an 8-byte array inside the run page; the length is clamped to it.
            return new Span<byte>(mmio->data, (int)Math.Min(mmio->len, 8u));
        }
    }

    public kvm_run_fail_entry FailEntry => *Union<kvm_run_fail_entry>();

    public uint InternalSuberror => Union<kvm_run_internal>()->suberror;

    public ulong[] InternalData
    {
        get
        {
            var internalError = Union<kvm_run_internal>();
            var count = (int)Math.Min(internalError->ndata, 16u);
            return new ReadOnlySpan<ulong>(internalError->data, count).ToArray();
        }
    }

    public uint SystemEventType => Union<kvm_run_system_event>()->type;

    /// <summary>The vector of a KVM_EXIT_IOAPIC_EOI (split irqchip, level-triggered interrupt acknowledged).</summary>
    public byte EoiVector => Union<kvm_run_eoi>()->vector;

    public ulong HardwareExitReason => *Union<ulong>();

    public bool IfFlag => Run->if_flag != 0;
}
