namespace Sharpvisor.Kvm.Interop;

/// <summary>KVM ioctl request numbers, built the way <c>&lt;asm-generic/ioctl.h&gt;</c> builds them.</summary>
public static unsafe class KvmIoctls
{
    private const uint KVMIO = 0xAE;
    private const uint IOC_NONE = 0, IOC_WRITE = 1, IOC_READ = 2;

    private static nuint Ioc(uint dir, uint nr, int size) => (nuint)((dir << 30) | ((uint)size << 16) | (KVMIO << 8) | nr);

    private static nuint Io(uint nr) => Ioc(IOC_NONE, nr, 0);

    private static nuint Ior<T>(uint nr) where T : unmanaged => Ioc(IOC_READ, nr, sizeof(T));

    private static nuint Iow<T>(uint nr) where T : unmanaged => Ioc(IOC_WRITE, nr, sizeof(T));

    private static nuint Iowr<T>(uint nr) where T : unmanaged => Ioc(IOC_READ | IOC_WRITE, nr, sizeof(T));

    // System ioctls (on the /dev/kvm fd).
    public static readonly nuint KVM_GET_API_VERSION = Io(0x00);
    public static readonly nuint KVM_GET_MSR_INDEX_LIST = Iowr<kvm_msr_list>(0x02);
    public static readonly nuint KVM_CREATE_VM = Io(0x01);
    public static readonly nuint KVM_CHECK_EXTENSION = Io(0x03);
    public static readonly nuint KVM_GET_VCPU_MMAP_SIZE = Io(0x04);
    public static readonly nuint KVM_GET_SUPPORTED_CPUID = Iowr<kvm_cpuid2>(0x05);
    public static readonly nuint KVM_GET_MSR_FEATURE_INDEX_LIST = Iowr<kvm_msr_list>(0x0a);

    // VM ioctls.
    public static readonly nuint KVM_CREATE_VCPU = Io(0x41);
    public static readonly nuint KVM_GET_DIRTY_LOG = Iow<kvm_dirty_log>(0x42);
    public static readonly nuint KVM_SET_USER_MEMORY_REGION = Iow<kvm_userspace_memory_region>(0x46);
    public static readonly nuint KVM_SET_TSS_ADDR = Io(0x47);
    public static readonly nuint KVM_SET_IDENTITY_MAP_ADDR = Iow<ulong>(0x48);
    public static readonly nuint KVM_CREATE_IRQCHIP = Io(0x60);
    public static readonly nuint KVM_IRQ_LINE = Iow<kvm_irq_level>(0x61);
    public static readonly nuint KVM_IRQFD = Iow<kvm_irqfd>(0x76);
    public static readonly nuint KVM_CREATE_PIT2 = Iow<kvm_pit_config>(0x77);
    public static readonly nuint KVM_IOEVENTFD = Iow<kvm_ioeventfd>(0x79);
    public static readonly nuint KVM_SET_GSI_ROUTING = Iow<kvm_irq_routing>(0x6a);
    public static readonly nuint KVM_SET_CLOCK = Iow<kvm_clock_data>(0x7b);
    public static readonly nuint KVM_GET_CLOCK = Ior<kvm_clock_data>(0x7c);
    public static readonly nuint KVM_ENABLE_CAP = Iow<kvm_enable_cap>(0xa3);
    public static readonly nuint KVM_SIGNAL_MSI = Iow<kvm_msi>(0xa5);
    public static readonly nuint KVM_CLEAR_DIRTY_LOG = Iowr<kvm_clear_dirty_log>(0xc0);

    // vCPU ioctls.
    public static readonly nuint KVM_RUN = Io(0x80);
    public static readonly nuint KVM_GET_REGS = Ior<kvm_regs>(0x81);
    public static readonly nuint KVM_SET_REGS = Iow<kvm_regs>(0x82);
    public static readonly nuint KVM_GET_SREGS = Ior<kvm_sregs>(0x83);
    public static readonly nuint KVM_SET_SREGS = Iow<kvm_sregs>(0x84);
    public static readonly nuint KVM_TRANSLATE = Iowr<kvm_translation>(0x85);
    public static readonly nuint KVM_GET_MSRS = Iowr<kvm_msrs>(0x88);
    public static readonly nuint KVM_SET_MSRS = Iow<kvm_msrs>(0x89);
    public static readonly nuint KVM_GET_FPU = Ior<kvm_fpu>(0x8c);
    public static readonly nuint KVM_SET_FPU = Iow<kvm_fpu>(0x8d);
    public static readonly nuint KVM_GET_LAPIC = Ior<kvm_lapic_state>(0x8e);
    public static readonly nuint KVM_SET_LAPIC = Iow<kvm_lapic_state>(0x8f);
    public static readonly nuint KVM_SET_CPUID2 = Iow<kvm_cpuid2>(0x90);
    public static readonly nuint KVM_GET_MP_STATE = Ior<kvm_mp_state>(0x98);
    public static readonly nuint KVM_SET_MP_STATE = Iow<kvm_mp_state>(0x99);
    public static readonly nuint KVM_GET_VCPU_EVENTS = Ior<kvm_vcpu_events>(0x9f);
    public static readonly nuint KVM_SET_VCPU_EVENTS = Iow<kvm_vcpu_events>(0xa0);
    public static readonly nuint KVM_GET_DEBUGREGS = Ior<kvm_debugregs>(0xa1);
    public static readonly nuint KVM_SET_DEBUGREGS = Iow<kvm_debugregs>(0xa2);
    public static readonly nuint KVM_GET_TSC_KHZ = Io(0xa3);
    public static readonly nuint KVM_GET_XSAVE = Ior<kvm_xsave>(0xa4);
    public static readonly nuint KVM_SET_XSAVE = Iow<kvm_xsave>(0xa5);
    public static readonly nuint KVM_GET_XCRS = Ior<kvm_xcrs>(0xa6);
    public static readonly nuint KVM_SET_XCRS = Iow<kvm_xcrs>(0xa7);
    public static readonly nuint KVM_GET_XSAVE2 = Ior<kvm_xsave>(0xcf);
}
