/* timer.c - PIT (ISA IRQ0 via I/O APIC pin 2) and LAPIC periodic timer rates, both
 * measured over one second of the CMOS RTC, which is independent of either. */
#include "guest.h"

#define PIT_HZ      100
#define PIT_DIVISOR 11932           /* 1193182 Hz / 11932 = 99.998 Hz */
#define APIC_HZ     200             /* different from PIT_HZ so a cross-wiring shows */
#define APIC_COUNT  5000000         /* 5 ms at 1 ns/tick (KVM: 1 GHz bus, divide by 1) */

static u8 rtc_seconds(void)
{
    outb(0x70, 0x00);               /* register 0 = seconds (BCD or binary: we only compare) */
    return inb(0x71);
}

/* Sleep on HLT until the RTC seconds register changes. Every PIT/APIC tick wakes
 * us, so the edge is seen within ~3 ms. Gives up if several seconds' worth of
 * ticks pass (RTC missing or stuck). */
static int wait_rtc_edge(void)
{
    u8 s0 = rtc_seconds();
    u64 p0 = pit_ticks, a0 = apic_ticks;
    for (;;) {
        sti_hlt();
        if (rtc_seconds() != s0)
            return 1;
        u64 p = pit_ticks - p0, a = apic_ticks - a0;
        if ((p > 3 * PIT_HZ && a > 3 * APIC_HZ) || p > 20 * PIT_HZ || a > 20 * APIC_HZ)
            return 0;
    }
}

static int within_25pct(u64 got, u64 want) { return got * 4 >= want * 3 && got * 4 <= want * 5; }

const char *run_timer(void)
{
    lapic_enable(1);
    pic_mask_all();                                 /* no 8259 path, PIC or not */
    if (!ioapic_init())
        return "no I/O APIC at 0xfec00000";
    ioapic_route(IOAPIC_PIN_PIT, VEC_PIT);          /* ISA IRQ0 -> pin 2 -> BSP */
    /* KVM's in-kernel I/O APIC with default GSI routing puts GSI 0 on pin 0;
     * take it on its own vector so the pin that carried the ticks is known. */
    ioapic_route(IOAPIC_PIN_PIT_GSI0, VEC_PIT_GSI0);

    outb(0x43, 0x34);                               /* channel 0, lo/hi byte, mode 2 */
    outb(0x40, PIT_DIVISOR & 0xff);
    outb(0x40, PIT_DIVISOR >> 8);

    lapic_write(LAPIC_TMR_DIV, 0x0b);               /* divide by 1 */
    lapic_write(LAPIC_LVT_TIMER, 0x20000 | VEC_APIC_TIMER); /* periodic */
    lapic_write(LAPIC_TMR_INIT, APIC_COUNT);

    int ok = wait_rtc_edge();                       /* align to a second boundary */
    u64 p0 = pit_ticks, a0 = apic_ticks;
    ok = ok && wait_rtc_edge();                     /* then count for one RTC second */
    u64 p = pit_ticks - p0, a = apic_ticks - a0;

    cli();
    lapic_write(LAPIC_LVT_TIMER, 0x10000);
    ioapic_mask(IOAPIC_PIN_PIT);
    ioapic_mask(IOAPIC_PIN_PIT_GSI0);
    if (!ok) {
        out("timer: pit %u ticks, lapic %u ticks, RTC seconds never changed\n", pit_ticks, apic_ticks);
        return "RTC seconds register did not change";
    }
    u64 pin0 = pit_ticks_pin0, pin2 = pit_ticks - pit_ticks_pin0;
    if (pin0 && pin2) {
        out("timer: pit %u ticks on I/O APIC pin 2, %u on pin 0\n", pin2, pin0);
        return "PIT interrupts on both I/O APIC pins 0 and 2";
    }
    if (pin0)   /* only outside the target wiring: no IRQ0 -> pin 2 override */
        out("timer: pit on I/O APIC pin 0, not pin 2 (GSI 0 not overridden to pin 2)\n");
    out("timer: pit %u Hz (expected %u)\n", p, (u64)PIT_HZ);
    out("timer: lapic %u Hz (expected %u, bus clock %u MHz)\n", a, (u64)APIC_HZ,
        a * APIC_COUNT / 1000000);
    if (!within_25pct(p, PIT_HZ))
        return "PIT rate out of range";
    if (!within_25pct(a, APIC_HZ))
        return "LAPIC timer rate out of range";
    return 0;
}
