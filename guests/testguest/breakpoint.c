/* breakpoint.c - an int3 must raise #BP with the return address just past it,
 * and fwait must complete. Hosts whose KVM emulates instructions (PVM) cannot
 * execute either in 64-bit mode; the VMM completes them on the guest's behalf,
 * and this scenario proves it did so correctly. On hardware they just run. */
#include "guest.h"

volatile u64 breakpoint_hits, breakpoint_rip;
volatile int breakpoint_armed;

const char *run_breakpoint(void)
{
    u64 expected;

    breakpoint_armed = 1;
    __asm__ volatile("int3\n"
                     "1:\tlea 1b(%%rip), %0"
                     : "=r"(expected) : : "memory");
    __asm__ volatile("fwait" ::: "memory");
    breakpoint_armed = 0;

    if (breakpoint_hits != 1)
        return "int3 did not raise exactly one #BP";
    if (breakpoint_rip != expected)
        return "#BP return address is not the instruction after int3";
    out("breakpoint: int3 raised #BP, return address 0x%x\n", expected);
    out("breakpoint: fwait completed\n");
    return 0;
}
