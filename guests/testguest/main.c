/* main.c - boot info, command line, serial output, scenario dispatch, exit. */
#include <stdarg.h>
#include "guest.h"

#define HVM_START_MAGIC 0x336ec578
#define DEBUG_EXIT_PORT 0xf4

struct hvm_start_info {
    u32 magic, version, flags, nr_modules;
    u64 modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    u32 memmap_entries, reserved;
};

struct mem_entry mem_map[MAX_MEM_ENTRIES];
u32 mem_map_count;
const char *scenario = "boot";
const char *cmdline_text = "";

/* Copies, because the originals may sit in RAM a scenario overwrites
 * (the AP trampoline page, the memory test windows). */
static char cmdline_copy[256];
static char words_buf[256];
static char *argv[16];
static u32 argc;

/* ---------------- serial output ---------------- */

static u32 uart_burst = 1;        /* bytes we may write per THRE: 16 once FIFOs are on */
static volatile u32 uart_lock;

void uart_init(void)
{
    /* Enable + clear FIFOs (trigger level 1). IIR bits 7:6 == 11 means a working
     * 16550A FIFO, so a set THRE means 16 free bytes: one LSR read per 16 bytes. */
    outb(COM1 + 2, 0x07);
    if ((inb(COM1 + 2) & 0xc0) == 0xc0)
        uart_burst = 16;
}

void uart_write(const char *s, u32 n)
{
    while (n) {
        while (!(inb(COM1 + 5) & 0x20)) /* LSR.THRE */
            cpu_relax();
        u32 k = n < uart_burst ? n : uart_burst;
        n -= k;
        while (k--)
            outb(COM1, (u8)*s++);
    }
}

static char *put_u64(char *p, char *end, u64 v, u32 base)
{
    char tmp[20];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (i && p < end)
        *p++ = tmp[--i];
    return p;
}

/* Minimal formatter: %s, %c, %u and %x (both take u64). */
static u32 vformat(char *buf, u32 size, const char *fmt, va_list ap)
{
    char *p = buf, *end = buf + size;
    for (; *fmt && p < end; fmt++) {
        if (*fmt != '%') {
            *p++ = *fmt;
            continue;
        }
        switch (*++fmt) {
        case 's':
            for (const char *s = va_arg(ap, const char *); *s && p < end; s++)
                *p++ = *s;
            break;
        case 'c': *p++ = (char)va_arg(ap, int); break;
        case 'u': p = put_u64(p, end, va_arg(ap, u64), 10); break;
        case 'x': p = put_u64(p, end, va_arg(ap, u64), 16); break;
        case 0: fmt--; break;
        default: *p++ = *fmt; break;
        }
    }
    return (u32)(p - buf);
}

static void lock(void)
{
    while (__atomic_exchange_n(&uart_lock, 1, __ATOMIC_ACQUIRE))
        while (uart_lock)
            cpu_relax();
}
static void unlock(void) { __atomic_store_n(&uart_lock, 0, __ATOMIC_RELEASE); }

/* One formatted chunk, written under the UART spinlock so lines from
 * different CPUs never interleave. */
void out(const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    u32 n = vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    lock();
    uart_write(buf, n);
    unlock();
}

/* ---------------- exit ---------------- */

/* isa-debug-exit: the VMM exits with status (value << 1) | 1. */
static __attribute__((noreturn)) void finish(u8 code)
{
    outb(DEBUG_EXIT_PORT, code);
    halt_forever();
}

void fail(const char *fmt, ...)
{
    char buf[200];
    char *p = buf, *end = buf + sizeof buf - 1; /* keep room for '\n' */
    for (const char *s = "FAIL "; *s; s++)
        *p++ = *s;
    for (const char *s = scenario; *s && p < buf + 64; s++)
        *p++ = *s;
    *p++ = ':';
    *p++ = ' ';
    va_list ap;
    va_start(ap, fmt);
    p += vformat(p, (u32)(end - p), fmt, ap);
    va_end(ap);
    *p++ = '\n';
    lock();
    uart_write(buf, (u32)(p - buf));
    unlock();
    finish(1);
}

/* ---------------- command line ---------------- */

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

int arg_u64(const char *key, u64 *val)
{
    for (u32 i = 1; i < argc; i++) {
        const char *k = key, *w = argv[i];
        while (*k && *k == *w)
            k++, w++;
        if (*k || *w != '=')
            continue;
        u64 v = 0;
        for (w++; *w >= '0' && *w <= '9'; w++)
            v = v * 10 + (u64)(*w - '0');
        if (*w)
            fail("bad number in %s", argv[i]);
        *val = v;
        return 1;
    }
    return 0;
}

/* key=value lookup for a word value; 0 if the key is absent. */
const char *arg_str(const char *key)
{
    for (u32 i = 1; i < argc; i++) {
        const char *k = key, *w = argv[i];
        while (*k && *k == *w)
            k++, w++;
        if (!*k && *w == '=')
            return w + 1;
    }
    return 0;
}

static void parse_cmdline(const char *src)
{
    u32 n = 0;
    if (src)
        while (src[n] && n < sizeof cmdline_copy - 1)
            cmdline_copy[n] = src[n], n++;
    cmdline_copy[n] = 0;
    cmdline_text = cmdline_copy;
    for (u32 i = 0; i <= n; i++) {
        char c = cmdline_copy[i];
        words_buf[i] = (c == ' ' || c == '\t' || c == '\n') ? 0 : c;
        if (words_buf[i] && (i == 0 || !words_buf[i - 1]) && argc < 16)
            argv[argc++] = &words_buf[i];
    }
}

/* ---------------- entry ---------------- */

static const struct {
    const char *name;
    const char *(*run)(void);
} scenarios[] = {
    { "hello", run_hello },
    { "timer", run_timer },
    { "smp", run_smp },
    { "memory", run_memory },
    { "serial-echo", run_serial_echo },
    { "reboot", run_reboot },
    { "triple-fault", run_triple_fault },
    { "breakpoint", run_breakpoint },
    { "acpi", run_acpi },
    { "acpi-poweroff", run_acpi_poweroff },
    { "acpi-reset", run_acpi_reset },
    { "virtio-blk", run_virtio_blk },
    { "virtio-blk-zero", run_virtio_blk_zero },
    { "virtio-blk-bench", run_virtio_blk_bench },
    { "virtio-blk-hostile", run_virtio_blk_hostile },
    { "virtio-net", run_virtio_net },
    { "virtio-net-bench", run_virtio_net_bench },
    { "virtio-rng", run_virtio_rng },
    { "display", run_display },
    { "virtio-console", run_virtio_console },
    { "hostile-console", run_hostile_console },
    { "hostile-blk-huge", run_hostile_blk_huge },
    { "hostile-reset-loop", run_hostile_reset_loop },
    { "hostile-console-stall", run_hostile_console_stall },
    { "idle", run_idle },
    { "spin", run_spin },
    { "shell", run_shell },
    { "generation", run_generation },
    { "kvmclock", run_kvmclock },
    { "virtio-blk-generation", run_virtio_blk_generation },
};

void kmain(struct hvm_start_info *si)
{
    if (si->magic != HVM_START_MAGIC)
        fail("bad hvm_start_info magic 0x%x", (u64)si->magic);

    parse_cmdline((const char *)si->cmdline_paddr);
    acpi_rsdp_paddr = si->rsdp_paddr;   /* in the structure from version 0 on */
    scenario = argc ? argv[0] : "hello";
    /* Enabling the FIFOs flushes the receiver, which would drop input that
     * arrived before we got here; serial-echo and shell stay in 16450 mode instead. */
    if (!streq(scenario, "serial-echo") && !streq(scenario, "shell"))
        uart_init();

    /* memmap_paddr/memmap_entries exist from version 1 of the structure on. */
    const struct mem_entry *mm = si->version >= 1 ? (const struct mem_entry *)si->memmap_paddr : 0;
    for (u32 i = 0; mm && i < si->memmap_entries && i < MAX_MEM_ENTRIES; i++)
        mem_map[mem_map_count++] = mm[i];

    for (u32 i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (!streq(scenario, scenarios[i].name))
            continue;
        if (!streq(scenario, "hello"))
            idt_init(); /* exception reporting; hello skips it to stay minimal */
        const char *why = scenarios[i].run();
        if (why)
            fail("%s", why);
        out("PASS %s\n", scenario);
        finish(0);
    }
    fail("unknown scenario");
}

/* gcc may emit calls to these even in freestanding code. */
void *memcpy(void *d, const void *s, u64 n)
{
    char *dp = d;
    const char *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memset(void *d, int c, u64 n)
{
    char *dp = d;
    while (n--)
        *dp++ = (char)c;
    return d;
}
