/* intr.c - IDT, local APIC and I/O APIC set-up and the C interrupt dispatcher.
 *
 * Device IRQs go through the I/O APIC only (split irqchip: local APICs in the
 * kernel, I/O APIC and PIT in the VMM, no 8259 PIC): ISA IRQ0 (PIT) on pin 2
 * (pin 0 accepted as a fallback, see timer.c), IRQ4 (COM1) on pin 4, edge-triggered, fixed delivery to the BSP. The 8259
 * lines are masked anyway and LINT0 stays masked, so a PIC, if there is one,
 * can never deliver. EOI goes to the local APIC only (edge: no I/O APIC EOI). */
#include "guest.h"

struct frame {   /* layout pushed by isr.S, lowest address first */
    u64 r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
    u64 vector, error;
    u64 rip, cs, rflags, rsp, ss;
};

struct idt_entry {
    u16 off_lo, selector;
    u8 ist, type;
    u16 off_mid;
    u32 off_hi, zero;
};

static struct idt_entry idt[256] __attribute__((aligned(16)));
extern const u64 isr_table[53], isr_spurious_stub;

volatile u64 pit_ticks, apic_ticks, uart_irqs, pit_ticks_pin0;

static void idt_set(u32 vec, u64 handler)
{
    idt[vec] = (struct idt_entry){
        .off_lo = (u16)handler, .selector = 0x08, .type = 0x8e, /* present, ring 0, interrupt gate */
        .off_mid = (u16)(handler >> 16), .off_hi = (u32)(handler >> 32),
    };
}

void idt_init(void)
{
    for (u32 v = 0; v < 53; v++)
        idt_set(v, isr_table[v]);
    idt_set(VEC_SPURIOUS, isr_spurious_stub);
    struct { u16 limit; u64 base; } __attribute__((packed)) idtr = { sizeof idt - 1, (u64)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* OCW1 only (no ICW sequence): sets the interrupt mask register. Writes to
 * ports with nothing behind them are ignored, so this is harmless without a PIC. */
void pic_mask_all(void)
{
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

/* Software-enable the LAPIC. On the BSP LINT0 (the 8259's INTR in virtual-wire
 * mode) is explicitly masked - no ExtINT path - and LINT1 is the NMI input. */
void lapic_enable(int bsp_lints)
{
    lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_LVT_TIMER, 0x10000);        /* masked until a scenario wants it */
    lapic_write(LAPIC_LVT_ERR, 0x10000);
    if (bsp_lints) {
        lapic_write(LAPIC_LVT_LINT0, 0x10000);    /* masked */
        lapic_write(LAPIC_LVT_LINT1, 0x400);      /* NMI */
    }
}

static u32 ioapic_read(u32 index)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, index);
    return mmio_read32(IOAPIC_BASE + IOAPIC_WIN);
}

static void ioapic_write(u32 index, u32 v)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, index);
    mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

/* Reads the version register: all ones (nothing decodes the address) or fewer
 * than 5 redirection entries (no pin 4; also catches reads of 0) = absent.
 * Otherwise masks every entry, whatever state the VMM left them in. */
int ioapic_init(void)
{
    u32 ver = ioapic_read(IOAPIC_VER);
    u32 max_rte = (ver >> 16) & 0xff;
    if (ver == 0xffffffff || max_rte < IOAPIC_PIN_COM1)
        return 0;
    for (u32 pin = 0; pin <= max_rte; pin++)
        ioapic_mask(pin);
    return 1;
}

/* Destination first, then the low half (which unmasks), so the entry is never
 * live with a stale destination. Fixed delivery, physical destination mode,
 * active high, edge-triggered: everything but the vector is zero. */
void ioapic_route(u32 pin, u8 vector)
{
    u32 dest = lapic_read(LAPIC_ID) >> 24;
    ioapic_write(IOAPIC_RTE_HI(pin), dest << 24);
    ioapic_write(IOAPIC_RTE_LO(pin), vector);
}

void ioapic_mask(u32 pin)
{
    ioapic_write(IOAPIC_RTE_LO(pin), 0x10000);
}

void isr_dispatch(struct frame *f)
{
    u64 v = f->vector;
    if (v == 3 && breakpoint_armed) {             /* the breakpoint scenario's int3 */
        breakpoint_hits++;
        breakpoint_rip = f->rip;
        return;
    }
    if (v < 32)
        fail("exception %u at rip 0x%x error 0x%x", v, f->rip, f->error);
    if (v == VEC_SPURIOUS)
        return;                                   /* spurious: no EOI by definition */
    if (v == VEC_APIC_TIMER)
        apic_ticks++;
    else if (v == VEC_PIT)
        pit_ticks++;
    else if (v == VEC_PIT_GSI0)
        pit_ticks++, pit_ticks_pin0++;
    else if (v == VEC_COM1)
        uart_irqs++;
    else if (v >= VEC_VIRTIO_BASE && v < VEC_VIRTIO_BASE + VIRTIO_VECTORS)
        virtio_irqs[v - VEC_VIRTIO_BASE]++;  /* MSI-X; the waiter looks at the used ring */
    /* Every other vector came through the LAPIC too: EOI it all the same
     * (an EOI with no in-service bit set is ignored). Edge-triggered I/O APIC
     * entries need no EOI of their own. */
    lapic_write(LAPIC_EOI, 0);
}
