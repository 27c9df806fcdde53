/* hello.c - the start-up benchmark scenario: a few lines, no interrupts, no loops
 * beyond the memory map walk. */
#include "guest.h"

const char *run_hello(void)
{
    u64 ram = 0;
    for (u32 i = 0; i < mem_map_count; i++)
        if (mem_map[i].type == E820_RAM)
            ram += mem_map[i].size;
    out("hello: Hello from the Sharpvisor test guest\n"
        "hello: cmdline \"%s\"\n"
        "hello: ram %u MiB\n",
        cmdline_text, (ram + (1 << 19)) >> 20); /* rounded to the nearest MiB */
    return 0;
}
