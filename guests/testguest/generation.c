/* generation.c - the snapshot and migration workload: sweeps a RAM window
 * forever, writing the sweep's generation number into the first 8 bytes of
 * every 4 KiB page, and checks before each write that the page still holds the
 * previous sweep's number. A page the VMM lost or restored stale across a
 * snapshot or a migration is caught by the guest itself; the host can read
 * the counters too (the window is printed). The first page's word after the
 * counter holds the sweep in progress, for the host. */
#include "guest.h"

#define MIB (1UL << 20)
#define GIB (1UL << 30)

static u64 align_up(u64 v, u64 a) { return (v + a - 1) & ~(a - 1); }

/* Each CPU sweeps its own slice of the window; slice 0 is the BSP's. */
static volatile u64 window_start, slice_size, next_slice = 1;

/* One CPU's sweeps over [start, start + size), forever or for `rounds`; with a
 * period (the BSP's only), each sweep starts `period_ns` after the one before. */
static void sweep(u64 start, u64 size, u64 rounds, u64 every, int report, u64 period_ns)
{
    volatile u64 *progress = (volatile u64 *)start + 1;
    u64 next = period_ns ? kvmclock_ns() : 0;
    for (u64 g = 1; !rounds || g <= rounds; g++) {
        if (period_ns) {
            while (kvmclock_ns() < next)
                __asm__ volatile("pause");
            next += period_ns;
        }
        if (report)
            *progress = g;
        for (u64 p = start; p < start + size; p += 4096) {
            volatile u64 *counter = (volatile u64 *)p;
            u64 seen = *counter;
            if (g > 1 && seen != g - 1) {
                out("generation: page 0x%x holds %u in sweep %u\n", p, seen, g);
                fail("a page lost its generation");
            }
            *counter = g;
        }
        if (report && g % every == 0)
            out("generation: %u\n", g);
    }
}

static void ap_sweep(void)
{
    u64 slice = __atomic_fetch_add(&next_slice, 1, __ATOMIC_RELAXED);
    sweep(window_start + slice * slice_size, slice_size, 0, 1, 0, 0);
}

const char *run_generation(void)
{
    u64 mib = 16, rounds = 0, every = 16, cpus = 1, period_ms = 0;
    arg_u64("mib", &mib);
    arg_u64("period_ms", &period_ms);
    arg_u64("rounds", &rounds);
    arg_u64("every", &every);
    arg_u64("cpus", &cpus);
    if (!mib || mib > 3072)
        return "mib must be 1..3072";
    if (!cpus || cpus > 64 || (mib << 8) % cpus)
        return "cpus must be 1..64 and divide the window's pages";
    if (!every)
        every = 1;

    u64 size = mib * MIB, start = 0;
    u64 image_end = align_up((u64)_image_end, 2 * MIB);
    for (u32 i = 0; i < mem_map_count && !start; i++) {
        const struct mem_entry *e = &mem_map[i];
        u64 s = e->addr > image_end ? align_up(e->addr, MIB) : image_end;
        if (e->type == E820_RAM && s + size <= e->addr + e->size && s + size <= 4 * GIB)
            start = s;
    }
    if (!start)
        return "no RAM window below 4 GiB for the generation pages";

    window_start = start;
    slice_size = size / cpus;
    if (period_ms && cpus > 1)
        return "period_ms paces one CPU: use cpus=1";
    if (period_ms && !kvmclock_start())
        return "period_ms needs kvmclock";
    if (cpus > 1 && start_aps(cpus, ap_sweep) != cpus)
        return "not every CPU came up";
    out("generation: window 0x%x %u MiB %u cpus\n", start, mib, cpus);
    sweep(start, slice_size, rounds, every, 1, period_ms * 1000000);
    return 0;
}
