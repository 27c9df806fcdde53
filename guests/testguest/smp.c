/* smp.c - wake every AP with a broadcast INIT-SIPI-SIPI and count them in.
 * No ACPI/MP tables and no CPUID: the APs themselves report in. */
#include "guest.h"

#define TRAMPOLINE   0x8000         /* SIPI vector 0x08 -> CS:IP = 0800:0000 */
#define TICK_COUNT   10000000       /* LAPIC timer period: 10 ms at 1 ns/tick */
#define ICR_ALL_BUT_SELF 0xc0000
#define ICR_ASSERT   0x4000
#define ICR_INIT     0x500
#define ICR_STARTUP  0x600

static volatile u32 ap_count;
static volatile u8 ap_seen[256];

/* What APs do once up, when a scenario gives them work (start_aps); else they halt. */
static void (*volatile ap_work)(void);

/* Runs on each AP in long mode on its own stack (boot.S ap_long). */
void ap_main(void)
{
    u32 id = lapic_read(LAPIC_ID) >> 24;
    ap_seen[id] = 1;
    out("smp: cpu %u up\n", (u64)id);
    /* Count only after printing, so once the BSP sees the count every line is out. */
    __atomic_fetch_add(&ap_count, 1, __ATOMIC_RELEASE);
    if (ap_work)
        ap_work();
}

static void send_ipi(u32 icr_lo)
{
    lapic_write(LAPIC_ICR_HI, 0);
    lapic_write(LAPIC_ICR_LO, icr_lo);
    while (lapic_read(LAPIC_ICR_LO) & 0x1000)   /* delivery status: pending */
        cpu_relax();
}

/* Sleep until `n` more 10 ms LAPIC timer ticks have passed. */
static void sleep_ticks(u64 n)
{
    u64 t = apic_ticks + n;
    while (apic_ticks < t)
        sti_hlt();
}

/* Starts the LAPIC tick and sends every AP the MP-spec INIT-SIPI-SIPI. The BSP
 * sleeps on a 10 ms periodic LAPIC timer instead of spinning, so the (emulated,
 * host-CPU-hungry) APs get the host's cores. */
static void wake_aps(void)
{
    memcpy((void *)TRAMPOLINE, ap_tramp_start, (u64)(ap_tramp_end - ap_tramp_start));
    lapic_write(LAPIC_TMR_DIV, 0x0b);
    lapic_write(LAPIC_LVT_TIMER, 0x20000 | VEC_APIC_TIMER);
    lapic_write(LAPIC_TMR_INIT, TICK_COUNT);
    /* INIT, 10 ms, SIPI, 200 us (here one tick), SIPI. */
    send_ipi(ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
    sleep_ticks(2);
    send_ipi(ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP | (TRAMPOLINE >> 12));
    sleep_ticks(1);
    send_ipi(ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP | (TRAMPOLINE >> 12));
}

const char *run_smp(void)
{
    u64 want = 0;
    arg_u64("cpus", &want);

    lapic_enable(0);
    u32 bsp = lapic_read(LAPIC_ID) >> 24;
    out("smp: cpu %u up\n", (u64)bsp);
    wake_aps();

    /* Done when no new AP arrived for a quiet period: 120 s if a count is
     * expected and not yet reached (a loaded or emulated host can leave an AP's
     * thread unscheduled for many seconds; a healthy run never waits it out),
     * 2 s otherwise, 0.5 s once it is reached (to catch extra CPUs). */
    u32 seen = 0;
    u64 last_change = apic_ticks;
    for (;;) {
        sti_hlt();
        u32 c = ap_count;
        if (c != seen) {
            seen = c;
            last_change = apic_ticks;
        }
        u64 quiet = !want ? 200 : (seen + 1 < want ? 12000 : 50);
        if (apic_ticks - last_change >= quiet)
            break;
    }
    cli();
    lapic_write(LAPIC_LVT_TIMER, 0x10000);

    u64 n = 1;
    for (u32 i = 0; i < 256; i++)
        n += ap_seen[i] && i != bsp;
    out("smp: %u cpus up\n", n);
    if (n != (u64)seen + 1)
        return "duplicate APIC IDs";
    if (want && n != want)
        fail("expected %u cpus, got %u", want, n);
    return 0;
}

/* Wakes the APs into `work` and waits (up to 120 s) until `want` CPUs, the BSP
 * included, are up; returns how many came. Leaves the LAPIC timer off. */
u64 start_aps(u64 want, void (*work)(void))
{
    ap_work = work;
    lapic_enable(0);
    wake_aps();
    for (u64 waited = 0; ap_count + 1 < want && waited < 12000; waited++)
        sleep_ticks(1);
    cli();
    lapic_write(LAPIC_LVT_TIMER, 0x10000);
    return ap_count + 1;
}
