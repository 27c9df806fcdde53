/* crash.c - deliberately triple-faults: with an empty IDT, the #UD from ud2
 * cannot be delivered, nor the #DF after it. The VMM must report the stop
 * with the registers and the instruction bytes (0f 0b) at RIP. */
#include "guest.h"

const char *run_triple_fault(void)
{
    static const struct {
        u16 limit;
        u64 base;
    } __attribute__((packed)) empty_idt = { 0, 0 };

    out("triple-fault: loading an empty IDT and executing ud2\n");
    __asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt));
    return "still running after ud2";
}
