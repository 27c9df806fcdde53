using System.Runtime.InteropServices;

namespace Sharpvisor.Kvm.Interop;

// Native structs of <linux/kvm.h> and <asm/kvm.h> (x86-64), names kept. Nested C structs are flattened
// with a prefix (kvm_vcpu_events.exception.nr is exception_nr). Every layout here is checked against the
// C header by Sharpvisor.Kvm.Tests/StructLayoutTests.

[StructLayout(LayoutKind.Sequential)]
public struct kvm_userspace_memory_region
{
    public uint slot;
    public uint flags;
    public ulong guest_phys_addr;
    public ulong memory_size;
    public ulong userspace_addr;
}

[StructLayout(LayoutKind.Sequential)]
public struct kvm_regs
{
    public ulong rax, rbx, rcx, rdx;
    public ulong rsi, rdi, rsp, rbp;
    public ulong r8, r9, r10, r11;
    public ulong r12, r13, r14, r15;
    public ulong rip, rflags;
}

[StructLayout(LayoutKind.Sequential)]
public struct kvm_segment
{
    public ulong @base;
    public uint limit;
    public ushort selector;
    public byte type;
    public byte present, dpl, db, s, l, g, avl;
    public byte unusable;
    public byte padding;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_dtable
{
    public ulong @base;
    public ushort limit;
    public fixed ushort padding[3];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_sregs
{
    public kvm_segment cs, ds, es, fs, gs, ss;
    public kvm_segment tr, ldt;
    public kvm_dtable gdt, idt;
    public ulong cr0, cr2, cr3, cr4, cr8;
    public ulong efer;
    public ulong apic_base;
    public fixed ulong interrupt_bitmap[4];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_fpu
{
    public fixed byte fpr[128];
    public ushort fcw;
    public ushort fsw;
    public byte ftwx;
    public byte pad1;
    public ushort last_opcode;
    public ulong last_ip;
    public ulong last_dp;
    public fixed byte xmm[256];
    public uint mxcsr;
    public uint pad2;
}

[StructLayout(LayoutKind.Sequential)]
public struct kvm_msr_entry
{
    public uint index;
    public uint reserved;
    public ulong data;
}

/// <summary>Header of the variable-length <c>struct kvm_msrs</c>; entries follow it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct kvm_msrs
{
    public uint nmsrs;
    public uint pad;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_cpuid_entry2
{
    public uint function;
    public uint index;
    public uint flags;
    public uint eax, ebx, ecx, edx;
    public fixed uint padding[3];
}

/// <summary>Header of the variable-length <c>struct kvm_cpuid2</c>; entries follow it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct kvm_cpuid2
{
    public uint nent;
    public uint padding;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_lapic_state
{
    public fixed byte regs[1024];
}

[StructLayout(LayoutKind.Sequential)]
public struct kvm_mp_state
{
    public uint mp_state;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_vcpu_events
{
    public byte exception_injected;
    public byte exception_nr;
    public byte exception_has_error_code;
    public byte exception_pending;
    public uint exception_error_code;
    public byte interrupt_injected;
    public byte interrupt_nr;
    public byte interrupt_soft;
    public byte interrupt_shadow;
    public byte nmi_injected;
    public byte nmi_pending;
    public byte nmi_masked;
    public byte nmi_pad;
    public uint sipi_vector;
    public uint flags;
    public byte smi_smm;
    public byte smi_pending;
    public byte smi_smm_inside_nmi;
    public byte smi_latched_init;
    public byte triple_fault_pending;
    public fixed byte reserved[26];
    public byte exception_has_payload;
    public ulong exception_payload;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_pit_config
{
    public uint flags;
    public fixed uint pad[15];
}

[StructLayout(LayoutKind.Sequential)]
public struct kvm_irq_level
{
    public uint irq;
    public uint level;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_msi
{
    public uint address_lo;
    public uint address_hi;
    public uint data;
    public uint flags;
    public uint devid;
    public fixed byte pad[12];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_irqfd
{
    public uint fd;
    public uint gsi;
    public uint flags;
    public uint resamplefd;
    public fixed byte pad[16];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_ioeventfd
{
    public ulong datamatch;
    public ulong addr;
    public uint len;
    public int fd;
    public uint flags;
    public fixed byte pad[36];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_translation
{
    public ulong linear_address;
    public ulong physical_address;
    public byte valid;
    public byte writeable;
    public byte usermode;
    public fixed byte pad[5];
}

/// <summary>The fixed head of the mmap'ed <c>struct kvm_run</c>; the exit-specific union starts at <see cref="UnionOffset"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_run
{
    public const int UnionOffset = 32;

    public byte request_interrupt_window;
    public byte immediate_exit;
    public fixed byte padding1[6];
    public uint exit_reason;
    public byte ready_for_interrupt_injection;
    public byte if_flag;
    public ushort flags;
    public ulong cr8;
    public ulong apic_base;
}

/// <summary><c>kvm_run.io</c> (KVM_EXIT_IO): data lives in the run page at <see cref="data_offset"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct kvm_run_io
{
    public const byte KVM_EXIT_IO_IN = 0;
    public const byte KVM_EXIT_IO_OUT = 1;

    public byte direction;
    public byte size;
    public ushort port;
    public uint count;
    public ulong data_offset;
}

/// <summary><c>kvm_run.mmio</c> (KVM_EXIT_MMIO).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_run_mmio
{
    public ulong phys_addr;
    public fixed byte data[8];
    public uint len;
    public byte is_write;
}

/// <summary><c>kvm_run.fail_entry</c> (KVM_EXIT_FAIL_ENTRY).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct kvm_run_fail_entry
{
    public ulong hardware_entry_failure_reason;
    public uint cpu;
}

/// <summary><c>kvm_run.internal</c> (KVM_EXIT_INTERNAL_ERROR).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_run_internal
{
    public uint suberror;
    public uint ndata;
    public fixed ulong data[16];
}

/// <summary><c>kvm_run.system_event</c> (KVM_EXIT_SYSTEM_EVENT).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_run_system_event
{
    public uint type;
    public uint ndata;
    public fixed ulong data[16];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_enable_cap
{
    public uint cap;
    public uint flags;
    public fixed ulong args[4];
    public fixed byte pad[64];
}

/// <summary>Header of the variable-length <c>struct kvm_irq_routing</c>; entries follow it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct kvm_irq_routing
{
    public uint nr;
    public uint flags;
}

/// <summary><c>struct kvm_irq_routing_entry</c> with its union flattened to the MSI member (u.msi).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_irq_routing_entry
{
    public const uint KVM_IRQ_ROUTING_IRQCHIP = 1;
    public const uint KVM_IRQ_ROUTING_MSI = 2;

    public uint gsi;
    public uint type;
    public uint flags;
    public uint pad;
    public uint msi_address_lo;
    public uint msi_address_hi;
    public uint msi_data;
    public uint msi_devid;
    public fixed uint u_pad_tail[4];
}

/// <summary><c>kvm_run.eoi</c> (KVM_EXIT_IOAPIC_EOI): a level-triggered vector the guest acknowledged.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct kvm_run_eoi
{
    public byte vector;
}

/// <summary>Header of the variable-length <c>struct kvm_msr_list</c>; the indices follow it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct kvm_msr_list
{
    public uint nmsrs;
}

/// <summary>The legacy 4 KiB XSAVE area; KVM_GET_XSAVE2 writes a larger one (its size from KVM_CAP_XSAVE2) into the same shape.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_xsave
{
    public fixed uint region[1024];
}

/// <summary><c>struct kvm_xcrs</c>; <c>xcrs</c> flattens the 16 <c>struct kvm_xcr { u32 xcr; u32 reserved; u64 value; }</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_xcrs
{
    public const int MaxXcrs = 16;

    public uint nr_xcrs;
    public uint flags;
    public fixed ulong xcrs[2 * MaxXcrs];
    public fixed ulong padding[16];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_debugregs
{
    public fixed ulong db[4];
    public ulong dr6;
    public ulong dr7;
    public ulong flags;
    public fixed ulong reserved[9];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct kvm_clock_data
{
    public ulong clock;
    public uint flags;
    public uint pad0;
    public ulong realtime;
    public ulong host_tsc;
    public fixed uint pad[4];
}

/// <summary><c>struct kvm_dirty_log</c>; the union is the user address of a bitmap with one bit per page of the slot.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct kvm_dirty_log
{
    public uint slot;
    public uint padding1;
    public ulong dirty_bitmap;
}

/// <summary><c>struct kvm_clear_dirty_log</c>: re-protects the pages set in the bitmap, from first_page for num_pages.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct kvm_clear_dirty_log
{
    public uint slot;
    public uint num_pages;
    public ulong first_page;
    public ulong dirty_bitmap;
}
