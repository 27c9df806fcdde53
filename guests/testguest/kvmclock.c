/* kvmclock.c - the guest's view of time across a snapshot or a migration: turns
 * on kvmclock (MSR_KVM_SYSTEM_TIME_NEW) and prints its nanoseconds every
 * `every` milliseconds of that same clock. The host timestamps each line as it
 * arrives; the difference between the two must not jump when the VM moves. */
#include "guest.h"

#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01

struct pvclock_vcpu_time_info {
    volatile u32 version;
    u32 pad0;
    volatile u64 tsc_timestamp;
    volatile u64 system_time;
    volatile u32 tsc_to_system_mul;
    volatile signed char tsc_shift;
    volatile u8 flags;
    u8 pad[2];
} __attribute__((packed, aligned(32)));

static struct pvclock_vcpu_time_info clock_page;

static inline void wrmsr(u32 msr, u64 value)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)value), "d"((u32)(value >> 32)));
}

static inline u64 rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

/* The pvclock formula: system_time + scaled TSC delta, retried while the host updates the page. */
u64 kvmclock_ns(void)
{
    u32 version;
    u64 ns;
    do {
        version = clock_page.version;
        __asm__ volatile("" ::: "memory");
        u64 delta = rdtsc() - clock_page.tsc_timestamp;
        signed char shift = clock_page.tsc_shift;
        delta = shift < 0 ? delta >> -shift : delta << shift;
        ns = clock_page.system_time + (u64)(((unsigned __int128)delta * clock_page.tsc_to_system_mul) >> 32);
        __asm__ volatile("" ::: "memory");
    } while ((version & 1) || version != clock_page.version);
    return ns;
}

/* Turns kvmclock on for the calling CPU; 0 if the host did not fill the page. */
int kvmclock_start(void)
{
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (u64)&clock_page | 1);
    return kvmclock_ns() && clock_page.tsc_to_system_mul;
}

const char *run_kvmclock(void)
{
    u64 every = 100;
    arg_u64("every", &every);
    if (!every)
        every = 1;

    if (!kvmclock_start())
        return "kvmclock did not come on";
    u64 start = kvmclock_ns();
    out("kvmclock: on\n");
    for (u64 next = start;; next += every * 1000000) {
        u64 now;
        while ((now = kvmclock_ns()) < next)
            __asm__ volatile("pause");
        out("kvmclock: %u\n", now);
    }
}
