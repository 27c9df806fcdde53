/* intr.c - IDT, 8259 PIC, local APIC set-up and the C interrupt dispatcher.
 *
 * Device IRQs take the path that works on both QEMU and a plain KVM in-kernel
 * irqchip with default GSI routing (GSI n -> PIC pin n): 8259 PIC remapped to
 * 0x20/0x28, its INTR output taken by the BSP's LAPIC LINT0 programmed ExtINT. */
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
extern const u64 isr_table[49], isr_spurious_stub;

volatile u64 pit_ticks, apic_ticks, uart_irqs;

static void idt_set(u32 vec, u64 handler)
{
    idt[vec] = (struct idt_entry){
        .off_lo = (u16)handler, .selector = 0x08, .type = 0x8e, /* present, ring 0, interrupt gate */
        .off_mid = (u16)(handler >> 16), .off_hi = (u32)(handler >> 32),
    };
}

void idt_init(void)
{
    for (u32 v = 0; v < 49; v++)
        idt_set(v, isr_table[v]);
    idt_set(VEC_SPURIOUS, isr_spurious_stub);
    struct { u16 limit; u64 base; } __attribute__((packed)) idtr = { sizeof idt - 1, (u64)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void pic_init(u8 master_unmask)
{
    outb(0x20, 0x11); outb(0xa0, 0x11);   /* ICW1: edge, cascade, ICW4 follows */
    outb(0x21, VEC_PIC_BASE);             /* ICW2: vector bases */
    outb(0xa1, VEC_PIC_BASE + 8);
    outb(0x21, 0x04); outb(0xa1, 0x02);   /* ICW3: slave on IRQ2 */
    outb(0x21, 0x01); outb(0xa1, 0x01);   /* ICW4: 8086 mode, normal EOI */
    outb(0x21, (u8)~master_unmask);       /* OCW1: masks */
    outb(0xa1, 0xff);
}

void pic_mask_all(void)
{
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

/* Software-enable the LAPIC. On the BSP LINT0 becomes ExtINT so the PIC's
 * output reaches the CPU (after reset LINT0 is masked, which would block it). */
void lapic_enable(int extint_lint0)
{
    lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_LVT_TIMER, 0x10000);        /* masked until a scenario wants it */
    lapic_write(LAPIC_LVT_ERR, 0x10000);
    if (extint_lint0) {
        lapic_write(LAPIC_LVT_LINT0, 0x700);      /* ExtINT, unmasked */
        lapic_write(LAPIC_LVT_LINT1, 0x400);      /* NMI */
    }
}

void isr_dispatch(struct frame *f)
{
    u64 v = f->vector;
    if (v < 32)
        fail("exception %u at rip 0x%x error 0x%x", v, f->rip, f->error);
    if (v == VEC_APIC_TIMER) {
        apic_ticks++;
        lapic_write(LAPIC_EOI, 0);
    } else if (v == VEC_SPURIOUS || v == VEC_PIC_BASE + 7) {
        /* spurious: no EOI by definition (a real IRQ7 is never unmasked here) */
    } else if (v >= VEC_PIC_BASE && v < VEC_PIC_BASE + 16) {
        if (v == VEC_PIC_BASE + 0)
            pit_ticks++;
        else if (v == VEC_PIC_BASE + 4)
            uart_irqs++;
        if (v >= VEC_PIC_BASE + 8)
            outb(0xa0, 0x20);
        outb(0x20, 0x20);                         /* non-specific EOI */
    }
}
