/* pci.c - PCI bus 0 configuration through the legacy ports 0xcf8/0xcfc, plus
 * the small helpers the virtio drivers share: a DMA bump allocator over the
 * free RAM above the image, a 100 Hz LAPIC tick for timeouts, hex output. */
#include "virtio.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

static void pci_select(u32 bdf, u32 off) { outl(PCI_ADDR, 0x80000000u | bdf << 8 | (off & 0xfc)); }

u32 pci_read32(u32 bdf, u32 off)
{
    pci_select(bdf, off);
    return inl(PCI_DATA);
}

/* Narrow reads: read the dword and shift (no side effects in config space reads). */
u16 pci_read16(u32 bdf, u32 off) { return (u16)(pci_read32(bdf, off) >> (8 * (off & 2))); }
u8 pci_read8(u32 bdf, u32 off) { return (u8)(pci_read32(bdf, off) >> (8 * (off & 3))); }

void pci_write32(u32 bdf, u32 off, u32 v)
{
    pci_select(bdf, off);
    outl(PCI_DATA, v);
}

void pci_write16(u32 bdf, u32 off, u16 v)
{
    pci_select(bdf, off);
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"((u16)(PCI_DATA + (off & 2))));
}

/* bdf = device << 3 | function (bus 0). Modern id 0x1040 + type, or the
 * transitional ids 0x1000-0x103f with the subsystem id giving the type. */
int pci_find_virtio(u32 type, u32 *bdf) { return pci_find_virtio_nth(type, 0, bdf); }

int pci_find_virtio_nth(u32 type, u32 nth, u32 *bdf)
{
    for (u32 dev = 0; dev < 32; dev++) {
        for (u32 fn = 0; fn < 8; fn++) {
            u32 b = dev << 3 | fn;
            u32 id = pci_read32(b, 0);
            if ((id & 0xffff) == 0xffff) {
                if (fn == 0)
                    break;
                continue;
            }
            u32 did = id >> 16;
            if ((id & 0xffff) == 0x1af4 &&
                (did == 0x1040 + type ||
                 (did >= 0x1000 && did <= 0x103f && (pci_read32(b, 0x2c) >> 16) == type)) && nth-- == 0) {
                *bdf = b;
                return 1;
            }
            if (fn == 0 && !(pci_read8(b, 0x0e) & 0x80))
                break;          /* single-function device */
        }
    }
    return 0;
}

u64 pci_bar(u32 bdf, u32 bar)
{
    u32 lo = pci_read32(bdf, 0x10 + 4 * bar);
    if (lo & 1)
        return 0;               /* I/O BAR: the modern transport uses memory BARs */
    u64 base = lo & ~0xfUL;
    if ((lo & 6) == 4)          /* 64-bit */
        base |= (u64)pci_read32(bdf, 0x14 + 4 * bar) << 32;
    return base;
}

u32 pci_next_cap(u32 bdf, u32 id, u32 after)
{
    if (!(pci_read16(bdf, 0x06) & 0x10))
        return 0;
    u32 off = after ? pci_read8(bdf, after + 1) : pci_read8(bdf, 0x34);
    for (u32 guard = 0; off >= 0x40 && guard < 48; guard++) {
        off &= 0xfc;
        if (pci_read8(bdf, off) == id)
            return off;
        off = pci_read8(bdf, off + 1);
    }
    return 0;
}

/* ---------------- memory ---------------- */

static u64 dma_next, dma_end;

void fast_zero(void *p, u64 n)
{
    u64 c = n / 8;
    __asm__ volatile("rep stosq" : "+D"(p), "+c"(c) : "a"(0UL) : "memory");
}

u64 ram_top(void)
{
    u64 top = 0;
    for (u32 i = 0; i < mem_map_count; i++)
        if (mem_map[i].type == E820_RAM && mem_map[i].addr + mem_map[i].size > top)
            top = mem_map[i].addr + mem_map[i].size;
    return top;
}

/* First RAM at or above the image end (rounded up to 2 MiB), below 3 GiB;
 * nothing else in the guest uses it. */
void *dma_alloc(u64 size, u64 align, int zero)
{
    if (!dma_end) {
        u64 base = ((u64)_image_end + 0x1fffff) & ~0x1fffffUL;
        for (u32 i = 0; i < mem_map_count; i++) {
            const struct mem_entry *e = &mem_map[i];
            u64 s = e->addr > base ? e->addr : base, end = e->addr + e->size;
            if (end > 0xc0000000UL)
                end = 0xc0000000UL;
            if (e->type == E820_RAM && s < end && end - s > dma_end - dma_next)
                dma_next = s, dma_end = end;
        }
    }
    u64 p = (dma_next + align - 1) & ~(align - 1);
    if (!dma_end || p + size > dma_end)
        fail("out of free RAM for a %u byte buffer", size);
    dma_next = p + size;
    if (zero)
        fast_zero((void *)p, (size + 7) & ~7UL);
    return (void *)p;
}

/* MMIO above 4 GiB (a 64-bit BAR a firmware placed high): 2 MiB pages from
 * the same pool memory.c uses, at the other end of it. 0-4 GiB is static. */
void map_mmio(u64 start, u64 len)
{
    static u32 used;
    for (u64 a = start & ~0x1fffffUL; a < start + len; a += 0x200000) {
        if (a < 0x100000000UL)
            continue;
        u64 *t = pml4;
        for (u32 level = 39; level > 21; level -= 9) {
            u64 *e = &t[(a >> level) & 511];
            if (!(*e & 1)) {
                if (used == 8)
                    fail("page-table pool exhausted");
                u64 *n = pt_pool[PT_POOL_PAGES - 1 - used++];
                fast_zero(n, 4096);
                *e = (u64)n | 3;
            }
            t = (u64 *)(*e & 0x000ffffffffff000UL);
        }
        t[(a >> 21) & 511] = a | 0x9b;   /* present, writable, PWT|PCD, 2 MiB */
    }
}

/* ---------------- time, text ---------------- */

void ticker_start(void)
{
    lapic_enable(1);
    pic_mask_all();
    lapic_write(LAPIC_TMR_DIV, 0x0b);                      /* divide by 1 */
    lapic_write(LAPIC_LVT_TIMER, 0x20000 | VEC_APIC_TIMER); /* periodic */
    lapic_write(LAPIC_TMR_INIT, 1000000000 / TICK_HZ);      /* 1 ns ticks on KVM */
    sti();
}

void hex_line(char *dst, const u8 *src, u32 n)
{
    for (u32 i = 0; i < n; i++) {
        *dst++ = "0123456789abcdef"[src[i] >> 4];
        *dst++ = "0123456789abcdef"[src[i] & 15];
    }
    *dst = 0;
}
