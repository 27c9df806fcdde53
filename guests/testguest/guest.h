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

/* ---- interrupt vectors used by the guest ---- */
#define VEC_PIC_BASE   0x20 /* 8259 master IRQ0..7 -> 0x20..0x27, slave -> 0x28..0x2f */
#define VEC_APIC_TIMER 0x30
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

/* ---- output (16550 COM1, polled, spinlock-guarded) ---- */
void uart_init(void);
void out(const char *fmt, ...);        /* supports %s %u %x %c (u64 for %u/%x) */
void uart_write(const char *s, u32 n);
__attribute__((noreturn)) void fail(const char *fmt, ...);
__attribute__((noreturn)) void halt_forever(void);
#define COM1 0x3f8

/* ---- interrupts (intr.c) ---- */
void idt_init(void);
void pic_init(u8 master_unmask);       /* bit n set = IRQn unmasked (slave stays masked) */
void pic_mask_all(void);
void lapic_enable(int extint_lint0);
extern volatile u64 pit_ticks, apic_ticks, uart_irqs;

/* ---- scenarios ---- */
const char *run_hello(void);
const char *run_reboot(void);
const char *run_triple_fault(void);
const char *run_timer(void);
const char *run_smp(void);
const char *run_memory(void);
const char *run_serial_echo(void);

/* ---- symbols from boot.S / linker.ld ---- */
extern u64 pml4[512];
extern u64 pt_pool[][512];
extern char _image_end[];
extern const char ap_tramp_start[], ap_tramp_end[];
#define PT_POOL_PAGES 32

void *memcpy(void *d, const void *s, u64 n);
void *memset(void *d, int c, u64 n);

#endif
