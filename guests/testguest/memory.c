/* memory.c - write and verify an address-derived pattern in three RAM windows:
 * the first free RAM above the image (below 4 GiB), the first RAM at or above
 * 4 GiB, and the top of RAM. RAM above 4 GiB is identity-mapped on demand with
 * 2 MiB pages (works up to the 256 TiB limit of 4-level paging). */
#include "guest.h"

#define MIB (1UL << 20)
#define GIB (1UL << 30)
#define PAGE_2M (2 * MIB)
#define PTE_PW 0x3UL        /* present | writable */
#define PTE_PS 0x80UL       /* 2 MiB page */
#define PATTERN 0x5aa5c33c96695aa5UL

static u32 pool_used;

static u64 *next_table(u64 *entry)
{
    if (!(*entry & 1)) {
        if (pool_used == PT_POOL_PAGES)
            fail("page-table pool exhausted");
        u64 *t = pt_pool[pool_used++];
        __asm__ volatile("rep stosq" : "+D"(t), "+c"((u64){512}) : "a"(0UL) : "memory");
        *entry = (u64)pt_pool[pool_used - 1] | PTE_PW;
    }
    return (u64 *)(*entry & 0x000ffffffffff000UL);
}

/* Identity-map [start, end); the first 4 GiB are mapped statically by boot.S.
 * New entries only replace not-present ones, so no TLB flush is needed. */
static void map_range(u64 start, u64 end)
{
    for (u64 a = start & ~(PAGE_2M - 1); a < end; a += PAGE_2M) {
        if (a < 4 * GIB)
            continue;
        u64 *pdpt = next_table(&pml4[(a >> 39) & 511]);
        u64 *pd = next_table(&pdpt[(a >> 30) & 511]);
        pd[(a >> 21) & 511] = a | PTE_PW | PTE_PS;
    }
}

/* Each 4 KiB page is filled with a value derived from its own address, so a
 * page that lands at the wrong guest-physical address (the VMM's unit of
 * mapping) is caught. One `rep stosq` / `repe scasq` per page keeps the cost
 * low under an instruction emulator. Returns 0 or the first bad page. */
static u64 test_window(u64 start, u64 size)
{
    for (u64 p = start; p < start + size; p += 4096) {
        u64 *d = (u64 *)p, n = 512;
        __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(p ^ PATTERN) : "memory");
    }
    for (u64 p = start; p < start + size; p += 4096) {
        u64 *d = (u64 *)p, n = 512;
        u8 equal;
        __asm__ volatile("repe scasq" : "+D"(d), "+c"(n), "=@ccz"(equal) : "a"(p ^ PATTERN) : "memory");
        if (!equal)
            return p;
    }
    return 0;
}

static const char *check(const char *label, u64 start, u64 size)
{
    map_range(start, start + size);
    u64 bad = test_window(start, size);
    if (bad) {
        out("memory: %s 0x%x %u MiB mismatch in page 0x%x\n", label, start, size / MIB, bad);
        return "pattern mismatch";
    }
    out("memory: %s 0x%x %u MiB ok\n", label, start, size / MIB);
    return 0;
}

static u64 align_up(u64 v, u64 a) { return (v + a - 1) & ~(a - 1); }

const char *run_memory(void)
{
    u64 mib = 1;
    arg_u64("mib", &mib);
    if (!mib)
        return "mib must be at least 1";
    u64 size = mib * MIB;
    u64 image_end = align_up((u64)_image_end, PAGE_2M);
    u64 low = 0, high = 0, high_end = 0, top = 0, top_end = 0, top_base = 0;

    for (u32 i = 0; i < mem_map_count; i++) {
        const struct mem_entry *e = &mem_map[i];
        u64 end = e->addr + e->size;
        if (e->size) /* QEMU pads its map with an empty entry */
            out("memory: map 0x%x-0x%x type %u\n", e->addr, end, (u64)e->type);
        if (e->type != E820_RAM)
            continue;
        u64 s = e->addr > image_end ? align_up(e->addr, MIB) : image_end;
        if (s + size <= end && s + size <= 4 * GIB && (!low || s < low))
            low = s;
        s = e->addr > 4 * GIB ? align_up(e->addr, MIB) : 4 * GIB;
        if (end > 4 * GIB && (!high || s < high))
            high = s, high_end = end;
        if (end > top_end)
            top_end = end, top_base = e->addr;
    }
    if (!low)
        return "no free RAM window below 4 GiB";
    if (top_end - top_base < size || (top_end & ~4095UL) - size < image_end)
        return "top RAM entry too small";
    top = (top_end & ~4095UL) - size;

    const char *why = check("low", low, size);
    if (why)
        return why;
    if (high) {
        if (high + size > high_end)
            return "RAM above 4 GiB too small";
        why = check("high", high, size);
        if (why)
            return why;
    } else {
        out("memory: high none\n");
    }
    return check("top", top, size);
}
