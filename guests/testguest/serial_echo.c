/* serial_echo.c - UART receive interrupts (ISA IRQ4 via I/O APIC pin 4): echo input
 * until EOT (0x04), then report the byte count. */
#include "guest.h"

const char *run_serial_echo(void)
{
    lapic_enable(1);
    pic_mask_all();                 /* no 8259 path, PIC or not */
    if (!ioapic_init())
        return "no I/O APIC at 0xfec00000";
    ioapic_route(IOAPIC_PIN_COM1, VEC_COM1);   /* ISA IRQ4 -> pin 4 -> BSP */
    outb(COM1 + 4, 0x0b);           /* MCR: DTR | RTS | OUT2 (OUT2 gates the IRQ on PCs) */
    outb(COM1 + 1, 0x01);           /* IER: received-data-available interrupt */
    out("serial-echo: ready\n");

    u64 count = 0;
    char last = '\n';
    for (;;) {
        /* Drain with interrupts off, then sti;hlt atomically: a byte that lands
         * after the last LSR read raises IRQ4 and wakes the HLT. */
        cli();
        while (inb(COM1 + 5) & 0x01) {      /* LSR.DR */
            char c = (char)inb(COM1);
            if (c == 0x04)
                goto done;
            uart_write(&c, 1);
            last = c;
            count++;
        }
        sti_hlt();
    }
done:
    outb(COM1 + 1, 0x00);
    ioapic_mask(IOAPIC_PIN_COM1);
    out("%sserial-echo: %u bytes\n", last == '\n' ? "" : "\n", count);
    return 0;
}
