/* shell.c - a tiny interactive console, the default VM for newcomers: a banner, a
 * `guest> ` prompt, line editing (echo, CR -> CRLF, backspace) and a few commands.
 * Interrupt-driven like serial-echo (UART receive IRQ, sti;hlt between keys), so an
 * idle shell costs the host nothing. Uptime comes from the CMOS clock, not a tick. */
#include "guest.h"

#define LINE_MAX 120

static u8 cmos(u8 reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

static u64 bcd(u8 v, int binary) { return binary ? v : (u64)(v >> 4) * 10 + (v & 15); }

/* Seconds since the start of the month, read twice until stable (the RTC may tick mid-read). */
static u64 cmos_seconds(void)
{
    for (;;) {
        while (cmos(0x0a) & 0x80)   /* update in progress */
            ;
        u8 s = cmos(0x00), m = cmos(0x02), h = cmos(0x04), d = cmos(0x07);
        if (s != cmos(0x00))
            continue;
        u8 b = cmos(0x0b);
        int binary = b & 0x04, h24 = b & 0x02;
        u64 hours = bcd(h & 0x7f, binary);
        if (!h24 && (h & 0x80))
            hours = hours % 12 + 12;
        else if (!h24)
            hours %= 12;
        return ((bcd(d, binary) * 24 + hours) * 60 + bcd(m, binary)) * 60 + bcd(s, binary);
    }
}

static u64 ram_mib(void)
{
    u64 bytes = 0;
    for (u32 i = 0; i < mem_map_count; i++)
        if (mem_map[i].type == E820_RAM)
            bytes += mem_map[i].size;
    return bytes >> 20;
}

static int same(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static int starts_with(const char *s, const char *word)
{
    while (*word)
        if (*s++ != *word++)
            return 0;
    return *s == 0 || *s == ' ';
}

static void run_command(char *line, u64 boot_seconds)
{
    while (*line == ' ')
        line++;
    u32 n = 0;
    while (line[n])
        n++;
    while (n && line[n - 1] == ' ')
        line[--n] = 0;
    if (!n)
        return;
    if (same(line, "help"))
        out("commands: help, uptime, cpus, mem, echo TEXT, poweroff\r\n");
    else if (same(line, "uptime"))
        out("up %u s\r\n", cmos_seconds() - boot_seconds);
    else if (same(line, "cpus"))
        out("cpus: %u\r\n", acpi_cpu_count());
    else if (same(line, "mem"))
        out("mem: %u MiB\r\n", ram_mib());
    else if (starts_with(line, "echo"))
        out("%s\r\n", line[4] ? line + 5 : "");
    else if (same(line, "poweroff")) {
        out("powering off\r\n");
        acpi_poweroff();
        out("power-off was ignored\r\n");
    } else
        out("unknown command: %s\r\n", line);
}

const char *run_shell(void)
{
    u64 boot_seconds = cmos_seconds();
    lapic_enable(1);
    pic_mask_all();
    if (!ioapic_init())
        return "no I/O APIC at 0xfec00000";
    ioapic_route(IOAPIC_PIN_COM1, VEC_COM1);
    outb(COM1 + 4, 0x0b);           /* MCR: DTR | RTS | OUT2 */
    outb(COM1 + 1, 0x01);           /* IER: received-data-available interrupt */
    out("Sharpvisor test guest \xe2\x80\x94 type 'help'\r\n");

    char line[LINE_MAX + 1];
    u32 len = 0;
    int after_cr = 0;               /* CR LF from a client is one Enter, not two */
    out("guest> ");
    for (;;) {
        cli();
        while (inb(COM1 + 5) & 0x01) {      /* LSR.DR */
            char c = (char)inb(COM1);
            int skip = after_cr && c == '\n';
            after_cr = c == '\r';
            if (skip)
                continue;
            if (c == '\r' || c == '\n') {
                out("\r\n");
                line[len] = 0;
                run_command(line, boot_seconds);
                len = 0;
                out("guest> ");
            } else if (c == 0x7f || c == 0x08) {
                if (len) {
                    len--;
                    out("\b \b");
                }
            } else if (c >= ' ' && c < 0x7f && len < LINE_MAX) {
                line[len++] = c;
                uart_write(&c, 1);
            }
        }
        sti_hlt();
    }
}
