using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>A VM fd: memory slots, the in-kernel interrupt controllers and timers, interrupt injection, vCPUs.</summary>
public sealed class KvmVm : IDisposable
{
    public const uint KVM_MEM_LOG_DIRTY_PAGES = 1;
    public const uint KVM_MEM_READONLY = 2;
    public const uint KVM_PIT_SPEAKER_DUMMY = 1;
    public const uint KVM_IRQFD_FLAG_DEASSIGN = 1;
    public const uint KVM_IOEVENTFD_FLAG_DATAMATCH = 1;
    public const uint KVM_IOEVENTFD_FLAG_PIO = 2;
    public const uint KVM_IOEVENTFD_FLAG_DEASSIGN = 4;

    private readonly FileDescriptorHandle _fd;
    private readonly int _vcpuMmapSize;

    internal KvmVm(FileDescriptorHandle fd, int vcpuMmapSize)
    {
        _fd = fd;
        _vcpuMmapSize = vcpuMmapSize;
    }

    public int CheckExtension(KvmCapability capability) =>
        Ioctl.Call(_fd, KvmIoctls.KVM_CHECK_EXTENSION, (nint)capability, "KVM_CHECK_EXTENSION");

    public void SetUserMemoryRegion(uint slot, ulong guestPhysicalAddress, ulong size, nint hostAddress, uint flags = 0)
    {
        var region = new kvm_userspace_memory_region
        {
            slot = slot,
            flags = flags,
            guest_phys_addr = guestPhysicalAddress,
            memory_size = size,
            userspace_addr = (ulong)hostAddress,
        };
        Ioctl.Call(_fd, KvmIoctls.KVM_SET_USER_MEMORY_REGION, ref region, "KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>KVM_GET_CLOCK: the VM's kvmclock, with the host's realtime clock when KVM_CLOCK_REALTIME is set in its flags.</summary>
    public kvm_clock_data GetClock()
    {
        kvm_clock_data data = default;
        Ioctl.Call(_fd, KvmIoctls.KVM_GET_CLOCK, ref data, "KVM_GET_CLOCK");
        return data;
    }

    /// <summary>KVM_SET_CLOCK; with KVM_CLOCK_REALTIME in the flags KVM adds the realtime elapsed since <c>realtime</c>.</summary>
    public void SetClock(kvm_clock_data data) => Ioctl.Call(_fd, KvmIoctls.KVM_SET_CLOCK, ref data, "KVM_SET_CLOCK");

    /// <summary>The bytes of a vCPU's XSAVE area: KVM_CAP_XSAVE2's size where offered, else the legacy 4096.</summary>
    public int XsaveSize => Math.Max(CheckExtension(KvmCapability.Xsave2), 4096);

    /// <summary>
    /// KVM_GET_DIRTY_LOG: the pages of <paramref name="slot"/> written since the last call, one bit per page into
    /// <paramref name="bitmap"/> (at least one bit per page of the slot, rounded up to 64). Without manual protection
    /// the call also write-protects them again; with it, <see cref="ClearDirtyLog"/> does.
    /// </summary>
    public unsafe void GetDirtyLog(uint slot, Span<ulong> bitmap)
    {
        // SAFETY: the bitmap is pinned for the call; the caller sized it for the slot, as KVM writes one bit per page.
        fixed (ulong* p = bitmap)
        {
            var log = new kvm_dirty_log { slot = slot, dirty_bitmap = (ulong)p };
            Ioctl.Call(_fd, KvmIoctls.KVM_GET_DIRTY_LOG, ref log, "KVM_GET_DIRTY_LOG");
        }
    }

    /// <summary>KVM_CLEAR_DIRTY_LOG: re-protects the pages set in <paramref name="bitmap"/>, whose bit 0 is page <paramref name="firstPage"/> (a multiple of 64).</summary>
    public unsafe void ClearDirtyLog(uint slot, ulong firstPage, uint pages, ReadOnlySpan<ulong> bitmap)
    {
        if ((ulong)bitmap.Length * 64 < pages)
        {
            throw new ArgumentException($"a bitmap of {bitmap.Length} words cannot cover {pages} pages", nameof(bitmap));
        }

        // SAFETY: the bitmap is pinned for the call and covers the pages announced, checked above.
        fixed (ulong* p = bitmap)
        {
            var clear = new kvm_clear_dirty_log { slot = slot, first_page = firstPage, num_pages = pages, dirty_bitmap = (ulong)p };
            Ioctl.Call(_fd, KvmIoctls.KVM_CLEAR_DIRTY_LOG, ref clear, "KVM_CLEAR_DIRTY_LOG");
        }
    }

    /// <summary>
    /// Enables KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (without "initially set") where offered: KVM_GET_DIRTY_LOG then only
    /// reports, and <see cref="ClearDirtyLog"/> re-protects. False where KVM does not offer it.
    /// </summary>
    public bool TryEnableManualDirtyLogProtect()
    {
        const ulong KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1;
        if ((CheckExtension(KvmCapability.ManualDirtyLogProtect2) & (int)KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) == 0)
        {
            return false;
        }

        EnableCapability(KvmCapability.ManualDirtyLogProtect2, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
        return true;
    }

    /// <summary>Three pages of guest-physical space KVM needs for real-mode emulation on Intel; must not overlap RAM.</summary>
    public void SetTssAddress(ulong address) => Ioctl.Call(_fd, KvmIoctls.KVM_SET_TSS_ADDR, (nint)address, "KVM_SET_TSS_ADDR");

    public void SetIdentityMapAddress(ulong address)
    {
        var value = address;
        Ioctl.Call(_fd, KvmIoctls.KVM_SET_IDENTITY_MAP_ADDR, ref value, "KVM_SET_IDENTITY_MAP_ADDR");
    }

    /// <summary>In-kernel PIC pair, IOAPIC and per-vCPU local APICs. Must precede vCPU creation.</summary>
    public void CreateIrqchip() => Ioctl.Call(_fd, KvmIoctls.KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");

    public void CreatePit2(uint flags = KVM_PIT_SPEAKER_DUMMY)
    {
        var config = new kvm_pit_config { flags = flags };
        Ioctl.Call(_fd, KvmIoctls.KVM_CREATE_PIT2, ref config, "KVM_CREATE_PIT2");
    }

    /// <summary>Drives a GSI of the in-kernel irqchip (with default routing, ISA IRQ n is GSI n).</summary>
    public void SetIrqLine(uint gsi, bool level)
    {
        var irq = new kvm_irq_level { irq = gsi, level = level ? 1u : 0u };
        Ioctl.Call(_fd, KvmIoctls.KVM_IRQ_LINE, ref irq, "KVM_IRQ_LINE");
    }

    public void SignalMsi(ulong address, uint data)
    {
        var msi = new kvm_msi { address_lo = (uint)address, address_hi = (uint)(address >> 32), data = data };
        Ioctl.Call(_fd, KvmIoctls.KVM_SIGNAL_MSI, ref msi, "KVM_SIGNAL_MSI");
    }

    /// <summary>Makes a write to <paramref name="eventFd"/> raise <paramref name="gsi"/> without a trip through user space.</summary>
    public void AssignIrqfd(EventFd eventFd, uint gsi, bool deassign = false)
    {
        ArgumentNullException.ThrowIfNull(eventFd);
        var irqfd = new kvm_irqfd { fd = (uint)eventFd.Handle.Fd, gsi = gsi, flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0 };
        Ioctl.Call(_fd, KvmIoctls.KVM_IRQFD, ref irqfd, "KVM_IRQFD");
    }

    /// <summary>Makes a guest write to <paramref name="address"/> signal <paramref name="eventFd"/> instead of exiting to user space.</summary>
    public void AssignIoeventfd(EventFd eventFd, ulong address, uint length, bool pio, ulong? dataMatch = null, bool deassign = false)
    {
        ArgumentNullException.ThrowIfNull(eventFd);
        var flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (dataMatch.HasValue ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
        var ioeventfd = new kvm_ioeventfd
        {
            datamatch = dataMatch ?? 0,
            addr = address,
            len = length,
            fd = eventFd.Handle.Fd,
            flags = flags,
        };
        Ioctl.Call(_fd, KvmIoctls.KVM_IOEVENTFD, ref ioeventfd, "KVM_IOEVENTFD");
    }

    /// <summary>KVM_ENABLE_CAP on the VM with up to four arguments.</summary>
    public unsafe void EnableCapability(KvmCapability capability, params ReadOnlySpan<ulong> args)
    {
        if (args.Length > 4)
        {
            throw new ArgumentException("KVM_ENABLE_CAP takes at most four arguments", nameof(args));
        }

        var enable = new kvm_enable_cap { cap = (uint)capability };
        for (var i = 0; i < args.Length; i++)
        {
            enable.args[i] = args[i];
        }

        Ioctl.Call(_fd, KvmIoctls.KVM_ENABLE_CAP, ref enable, $"KVM_ENABLE_CAP {capability}");
    }

    /// <summary>
    /// Local APICs in the kernel, I/O APIC and PIC in user space (KVM_CAP_SPLIT_IRQCHIP), with
    /// <paramref name="ioapicPins"/> GSIs reserved for the user-space I/O APIC. Must precede vCPU creation.
    /// </summary>
    public void CreateSplitIrqchip(uint ioapicPins) => EnableCapability(KvmCapability.SplitIrqchip, ioapicPins);

    /// <summary>Replaces the whole GSI routing table (KVM_SET_GSI_ROUTING) with MSI routes.</summary>
    public unsafe void SetMsiRoutes(ReadOnlySpan<(uint Gsi, ulong Address, uint Data)> routes)
    {
        var buffer = new byte[sizeof(kvm_irq_routing) + (routes.Length * sizeof(kvm_irq_routing_entry))];
        // SAFETY: the pinned buffer holds the header plus exactly routes.Length entries, which nr announces.
        fixed (byte* p = buffer)
        {
            ((kvm_irq_routing*)p)->nr = (uint)routes.Length;
            var entries = new Span<kvm_irq_routing_entry>(p + sizeof(kvm_irq_routing), routes.Length);
            for (var i = 0; i < routes.Length; i++)
            {
                entries[i] = new kvm_irq_routing_entry
                {
                    gsi = routes[i].Gsi,
                    type = kvm_irq_routing_entry.KVM_IRQ_ROUTING_MSI,
                    msi_address_lo = (uint)routes[i].Address,
                    msi_address_hi = (uint)(routes[i].Address >> 32),
                    msi_data = routes[i].Data,
                };
            }

            Ioctl.Call(_fd, KvmIoctls.KVM_SET_GSI_ROUTING, (nint)p, "KVM_SET_GSI_ROUTING");
        }
    }

    public KvmVcpu CreateVcpu(uint id)
    {
        var fd = new FileDescriptorHandle(Ioctl.Call(_fd, KvmIoctls.KVM_CREATE_VCPU, (nint)id, $"KVM_CREATE_VCPU {id}"));
        try
        {
            return new KvmVcpu(this, fd, id, _vcpuMmapSize);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    public void Dispose() => _fd.Dispose();
}
