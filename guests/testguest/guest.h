/* guest.h - shared declarations for the Sharpvisor test guest.
 * Freestanding: no libc, general registers only, identity-mapped memory. */
#ifndef GUEST_H
#define GUEST_H

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

/* ---- port and MMIO access (every one of these is a VM exit) ---- */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port)
{
    u8 v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline u32 mmio_read32(u64 addr) { return *(volatile u32 *)addr; }
static inline void mmio_write32(u64 addr, u32 v) { *(volatile u32 *)addr = v; }

/* `sti; hlt` back to back: the STI shadow guarantees an interrupt that became
 * pending after our last check still wakes the HLT (no lost wake-up). */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* ---- xAPIC (MMIO at its reset base) ---- */
#define LAPIC_BASE      0xfee00000UL
#define LAPIC_ID        0x020
#define LAPIC_TPR       0x080
#define LAPIC_EOI       0x0b0
#define LAPIC_SVR       0x0f0
#define LAPIC_ICR_LO    0x300
#define LAPIC_ICR_HI    0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERR   0x370
#define LAPIC_TMR_INIT  0x380
#define LAPIC_TMR_CUR   0x390
#define LAPIC_TMR_DIV   0x3e0
static inline u32 lapic_read(u32 reg) { return mmio_read32(LAPIC_BASE + reg); }
static inline void lapic_write(u32 reg, u32 v) { mmio_write32(LAPIC_BASE + reg, v); }

/* ---- I/O APIC (MMIO at its conventional base; indirect IOREGSEL/IOWIN) ---- */
#define IOAPIC_BASE     0xfec00000UL
#define IOAPIC_REGSEL   0x00
#define IOAPIC_WIN      0x10
#define IOAPIC_VER      0x01        /* bits 23:16 = index of the last redirection entry */
#define IOAPIC_RTE_LO(pin) (0x10 + 2 * (pin))
#define IOAPIC_RTE_HI(pin) (0x11 + 2 * (pin))
/* ISA IRQ -> I/O APIC pin: identity except IRQ0 (PIT), which arrives on pin 2
 * (the usual interrupt source override; QEMU's user-space I/O APIC and the
 * Sharpvisor VMM's split irqchip wire it so). KVM's in-kernel I/O APIC under
 * its default GSI routing (no KVM_SET_GSI_ROUTING; e.g. QEMU microvm with
 * kernel-irqchip=on) delivers GSI 0 on pin 0 instead: timer accepts that as a
 * reported fallback (see README). */
#define IOAPIC_PIN_PIT      2
#define IOAPIC_PIN_PIT_GSI0 0
#define IOAPIC_PIN_COM1     4

/* ---- interrupt vectors used by the guest ---- */
#define VEC_PIT        0x20 /* ISA IRQ0 through I/O APIC pin 2 */
#define VEC_PIT_GSI0   0x21 /* ISA IRQ0 through I/O APIC pin 0 (fallback) */
#define VEC_COM1       0x24 /* ISA IRQ4 through I/O APIC pin 4 */
#define VEC_APIC_TIMER 0x30
#define VEC_VIRTIO_BASE 0x31 /* virtio MSI-X entry n -> vector 0x31 + n (n < 4) */
#define VIRTIO_VECTORS 4
#define VEC_SPURIOUS   0xff

/* ---- hvm_start_info memory map, copied out at boot ---- */
struct mem_entry {
    u64 addr, size;
    u32 type, reserved;
};
#define E820_RAM 1
#define MAX_MEM_ENTRIES 32
extern struct mem_entry mem_map[MAX_MEM_ENTRIES];
extern u32 mem_map_count;

extern const char *scenario;           /* first command-line word */
extern const char *cmdline_text;       /* the whole command line, as given */
int arg_u64(const char *key, u64 *val); /* key=value lookup; 1 if found */
const char *arg_str(const char *key);   /* key=value lookup for words; 0 if absent */

/* ---- output (16550 COM1, polled, spinlock-guarded) ---- */
void uart_init(void);
void out(const char *fmt, ...);        /* supports %s %u %x %c (u64 for %u/%x) */
void uart_write(const char *s, u32 n);
__attribute__((noreturn)) void fail(const char *fmt, ...);
__attribute__((noreturn)) void halt_forever(void);
#define COM1 0x3f8

/* ---- interrupts (intr.c) ---- */
void idt_init(void);
void pic_mask_all(void);                /* masks every 8259 line (harmless if there is no PIC) */
void lapic_enable(int bsp_lints);       /* on the BSP: LINT0 masked, LINT1 = NMI */
int ioapic_init(void);                  /* 0 if absent; else masks every redirection entry */
void ioapic_route(u32 pin, u8 vector);  /* edge, active high, fixed, physical dest = this CPU */
void ioapic_mask(u32 pin);
extern volatile u64 pit_ticks, apic_ticks, uart_irqs;
extern volatile u64 pit_ticks_pin0;    /* the part of pit_ticks that came on pin 0 */
extern volatile u64 virtio_irqs[VIRTIO_VECTORS]; /* per MSI-X entry (virtio.c) */

/* ---- scenarios ---- */
const char *run_hello(void);
const char *run_reboot(void);
const char *run_triple_fault(void);
const char *run_breakpoint(void);
extern volatile u64 breakpoint_hits, breakpoint_rip;
extern volatile int breakpoint_armed;
const char *run_timer(void);
const char *run_smp(void);
const char *run_memory(void);
const char *run_serial_echo(void);
const char *run_acpi(void);
const char *run_acpi_poweroff(void);
const char *run_acpi_reset(void);
const char *run_virtio_blk(void);
const char *run_virtio_blk_zero(void);
const char *run_virtio_blk_bench(void);
const char *run_virtio_blk_hostile(void);
const char *run_virtio_net(void);
const char *run_virtio_net_bench(void);
const char *run_virtio_rng(void);
const char *run_display(void);
const char *run_virtio_console(void);
const char *run_hostile_console(void);
const char *run_hostile_blk_huge(void);
const char *run_hostile_reset_loop(void);
const char *run_hostile_console_stall(void);
const char *run_idle(void);
const char *run_generation(void);
const char *run_kvmclock(void);
const char *run_virtio_blk_generation(void);
int kvmclock_start(void);               /* kvmclock.c: on for the BSP; 0 if the host gave none */
u64 kvmclock_ns(void);                 /* nanoseconds of kvmclock (after kvmclock_start) */
u64 start_aps(u64 want, void (*work)(void)); /* smp.c: APs run work; CPUs up, BSP included */
const char *run_spin(void);
const char *run_shell(void);
u64 acpi_cpu_count(void);              /* enabled CPUs in the MADT */
void acpi_poweroff(void);              /* ACPI S5; returns only if ignored */
extern u64 acpi_rsdp_paddr;            /* hvm_start_info.rsdp_paddr (0 = none given) */

/* ---- symbols from boot.S / linker.ld ---- */
extern u64 pml4[512];
extern u64 pt_pool[][512];
extern char _image_end[];
extern const char ap_tramp_start[], ap_tramp_end[];
#define PT_POOL_PAGES 32

void *memcpy(void *d, const void *s, u64 n);
void *memset(void *d, int c, u64 n);

#endif
