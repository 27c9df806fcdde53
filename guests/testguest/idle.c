/* idle.c - a guest that never ends, for driving a running VMM from the host (pause,
 * resume, stop, metrics). A 100 Hz LAPIC tick wakes the CPU from `sti; hlt`; each wake-up
 * reads the CMOS seconds register (two port I/O exits), so a running guest shows its
 * exit counters climbing and a paused one shows them standing still. */
#include "guest.h"
#include "virtio.h"

const char *run_idle(void)
{
    ticker_start();
    out("idle: ready\n");
    for (;;) {
        sti_hlt();
        outb(0x70, 0x00);
        (void)inb(0x71);
    }
}

/* spin: a guest that never ends and never takes an interrupt (cli, then a pause loop), as a guest kernel stuck in a
 * spinlock with interrupts off is. Nothing it does exits to the VMM: the host must still be able to stop it (its
 * signal kicks the vCPU out of KVM_RUN). */
const char *run_spin(void)
{
    out("spin: interrupts off, spinning\n");
    cli();
    for (;;)
        cpu_relax();
}
