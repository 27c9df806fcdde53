/* virtio.c - virtio 1.x PCI transport (modern capabilities only) and split
 * virtqueues with optional INDIRECT_DESC and EVENT_IDX. */
#include "virtio.h"

volatile u64 virtio_irqs[VIRTIO_VECTORS];

#define PCI_CAP_VENDOR 0x09
#define PCI_CAP_MSIX   0x11

static u64 cap_addr(u32 bdf, u32 cap)
{
    u32 bar = pci_read8(bdf, cap + 4), off = pci_read32(bdf, cap + 8), len = pci_read32(bdf, cap + 12);
    u64 base = bar < 6 ? pci_bar(bdf, bar) : 0;
    if (!base)
        return 0;
    map_mmio(base + off, len);
    return base + off;
}

const char *virtio_find(struct vdev *d, u32 type, const char *name) { return virtio_find_nth(d, type, 0, name); }

const char *virtio_find_nth(struct vdev *d, u32 type, u32 nth, const char *name)
{
    fast_zero(d, sizeof *d & ~7UL);
    d->type = type;
    d->name = name;
    if (!pci_find_virtio_nth(type, nth, &d->bdf))
        return "no such PCI device (1af4:104x) on bus 0";
    /* Memory space + bus master (+ INTx disable: completions come by MSI-X or polling). */
    pci_write16(d->bdf, 0x04, pci_read16(d->bdf, 0x04) | 0x0406);
    for (u32 c = pci_next_cap(d->bdf, PCI_CAP_VENDOR, 0); c; c = pci_next_cap(d->bdf, PCI_CAP_VENDOR, c)) {
        u32 cfg_type = pci_read8(d->bdf, c + 3);
        u64 *slot = cfg_type == 1 ? &d->common : cfg_type == 2 ? &d->notify :
                    cfg_type == 3 ? &d->isr : cfg_type == 4 ? &d->cfg : 0;
        if (!slot || *slot)
            continue;           /* first capability of each type wins; 5 (PCI cfg access) unused */
        *slot = cap_addr(d->bdf, c);
        if (cfg_type == 2)
            d->notify_mult = pci_read32(d->bdf, c + 16);
    }
    if (!d->common || !d->notify || !d->isr)
        return "missing virtio modern capability (common/notify/ISR) or unassigned BAR";
    u32 m = pci_next_cap(d->bdf, PCI_CAP_MSIX, 0);
    if (m) {
        u32 tbl = pci_read32(d->bdf, m + 4);
        u64 base = pci_bar(d->bdf, tbl & 7);
        if (base) {
            d->msix_cap = m;
            d->msix_entries = (pci_read16(d->bdf, m + 2) & 0x7ff) + 1;
            d->msix_table = base + (tbl & ~7u);
            map_mmio(d->msix_table, d->msix_entries * 16);
        }
    }
    return 0;
}

u8 virtio_status(struct vdev *d) { return mmio_read8(d->common + VC_STATUS); }
void virtio_set_status(struct vdev *d, u8 s) { mmio_write8(d->common + VC_STATUS, s); }

int virtio_reset(struct vdev *d)
{
    virtio_set_status(d, 0);
    for (u32 i = 0; i < 100000; i++)
        if (virtio_status(d) == 0)
            return 1;
    return 0;
}

/* MSI-X entries 0..n-1 -> vectors VEC_VIRTIO_BASE + i on this CPU, then enable. */
static void msix_setup(struct vdev *d)
{
    u32 apic = lapic_read(LAPIC_ID) >> 24;
    u32 n = d->msix_entries < VIRTIO_VECTORS ? d->msix_entries : VIRTIO_VECTORS;
    for (u32 i = 0; i < n; i++) {
        u64 e = d->msix_table + 16 * i;
        mmio_write32(e + 0, 0xfee00000u | apic << 12);
        mmio_write32(e + 4, 0);
        mmio_write32(e + 8, VEC_VIRTIO_BASE + i);
        mmio_write32(e + 12, 0);                /* unmasked */
    }
    u16 ctl = pci_read16(d->bdf, d->msix_cap + 2);
    pci_write16(d->bdf, d->msix_cap + 2, (u16)((ctl | 0x8000) & ~0x4000)); /* enable, no function mask */
}

const char *virtio_start(struct vdev *d, u64 want)
{
    if (!virtio_reset(d))
        return "device status did not read 0 after reset";
    virtio_set_status(d, VIRTIO_S_ACKNOWLEDGE);
    virtio_set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    mmio_write32(d->common + VC_DFSELECT, 0);
    u64 f = mmio_read32(d->common + VC_DF);
    mmio_write32(d->common + VC_DFSELECT, 1);
    f |= (u64)mmio_read32(d->common + VC_DF) << 32;
    d->offered = f;
    if (!(f & VIRTIO_F_VERSION_1))
        return "device does not offer VIRTIO_F_VERSION_1";
    u64 ind = 1, evt = 1;
    arg_u64("indirect", &ind);
    arg_u64("eventidx", &evt);
    want |= VIRTIO_F_VERSION_1 | (ind ? VIRTIO_F_INDIRECT_DESC : 0) | (evt ? VIRTIO_F_EVENT_IDX : 0);
    d->accepted = f & want;
    mmio_write32(d->common + VC_GFSELECT, 0);
    mmio_write32(d->common + VC_GF, (u32)d->accepted);
    mmio_write32(d->common + VC_GFSELECT, 1);
    mmio_write32(d->common + VC_GF, (u32)(d->accepted >> 32));
    virtio_set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
    if (!(virtio_status(d) & VIRTIO_S_FEATURES_OK))
        return "FEATURES_OK did not read back";
    if (d->msix_table) {
        msix_setup(d);
        mmio_write16(d->common + VC_MSIX_CFG, 0);
        d->cfg_vector = mmio_read16(d->common + VC_MSIX_CFG);
    } else {
        d->cfg_vector = VIRTIO_NO_VECTOR;
    }
    return 0;
}

void virtio_driver_ok(struct vdev *d)
{
    virtio_set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
}

static void mmio_write64(u64 a, u64 v)
{
    mmio_write32(a, (u32)v);
    mmio_write32(a + 4, (u32)(v >> 32));
}

const char *virtio_queue(struct vdev *d, u32 index, u32 max, u16 msix)
{
    struct vq *q = &d->q[index];
    mmio_write16(d->common + VC_Q_SELECT, (u16)index);
    u32 size = mmio_read16(d->common + VC_Q_SIZE);
    if (!size)
        return "queue not available (size 0)";
    if (size > max)
        size = max;
    if (size > VQ_MAX_SIZE)
        size = VQ_MAX_SIZE;
    size = 1u << (31 - __builtin_clz(size));    /* the driver may pick any power of 2 <= max */
    q->index = (u16)index;
    q->size = (u16)size;
    q->event_idx = !!(d->accepted & VIRTIO_F_EVENT_IDX);
    q->indirect = !!(d->accepted & VIRTIO_F_INDIRECT_DESC);
    q->desc = dma_alloc(16 * size, 4096, 1);
    q->avail = dma_alloc(6 + 2 * size, 4096, 1);
    q->used = dma_alloc(6 + 8 * size, 4096, 1);
    q->ind = q->indirect ? dma_alloc(16 * MAX_IND * size, 16, 1) : 0;
    q->desc_pa = (u64)q->desc, q->avail_pa = (u64)q->avail, q->used_pa = (u64)q->used;
    for (u32 i = 0; i < size; i++)
        q->desc[i].next = (u16)(i + 1);
    q->num_free = (u16)size;
    q->free_head = 0;
    q->avail_idx = q->kicked_idx = q->last_used = 0;
    mmio_write16(d->common + VC_Q_SIZE, (u16)size);
    q->vector = VIRTIO_NO_VECTOR;
    if (d->msix_table && msix != VIRTIO_NO_VECTOR) {
        mmio_write16(d->common + VC_Q_MSIX, msix);
        q->vector = mmio_read16(d->common + VC_Q_MSIX);
    }
    mmio_write64(d->common + VC_Q_DESC, q->desc_pa);
    mmio_write64(d->common + VC_Q_DRIVER, q->avail_pa);
    mmio_write64(d->common + VC_Q_DEVICE, d->used_override ? d->used_override : q->used_pa);
    q->notify = d->notify + (u64)mmio_read16(d->common + VC_Q_NOFF) * d->notify_mult;
    mmio_write16(d->common + VC_Q_ENABLE, 1);
    return 0;
}

/* One chain: through an indirect table when negotiated and n > 1. */
int vq_add(struct vq *q, const struct vbuf *b, u32 n)
{
    int ind = q->indirect && n > 1 && n <= MAX_IND;
    u32 need = ind ? 1 : n;
    if (q->num_free < need)
        return -1;
    u16 head = q->free_head, i = head;
    if (ind) {
        struct vq_desc *t = q->ind + (u64)head * MAX_IND;
        for (u32 k = 0; k < n; k++)
            t[k] = (struct vq_desc){ b[k].addr, b[k].len,
                                     (u16)((b[k].write ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0)),
                                     (u16)(k + 1) };
        q->free_head = q->desc[head].next;
        q->desc[head] = (struct vq_desc){ (u64)t, 16 * n, VRING_DESC_F_INDIRECT, q->free_head };
    } else {
        for (u32 k = 0; k < n; k++) {
            q->desc[i].addr = b[k].addr;
            q->desc[i].len = b[k].len;
            q->desc[i].flags = (u16)((b[k].write ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0));
            i = q->desc[i].next;
        }
        q->free_head = i;
    }
    q->num_free = (u16)(q->num_free - need);
    q->avail[2 + (q->avail_idx & (q->size - 1))] = head;
    barrier();
    q->avail[1] = ++q->avail_idx;
    return head;
}

void vq_kick(struct vq *q)
{
    mb();                       /* avail idx visible before we read the device's suppression */
    u16 old = q->kicked_idx, new = q->avail_idx;
    int need;
    if (old == new)
        return;                 /* nothing new since the last kick */
    if (q->event_idx) {
        u16 ev = q->used[2 + 4 * q->size];
        need = (u16)(new - ev - 1) < (u16)(new - old);
    } else {
        need = !(q->used[0] & 1);  /* VRING_USED_F_NO_NOTIFY */
    }
    q->kicked_idx = new;
    if (need)
        mmio_write16(q->notify, q->index);
}

int vq_used(struct vq *q, u32 *len)
{
    if (q->last_used == q->used[1])
        return -1;
    barrier();
    const volatile struct vq_used_elem *e = (const volatile struct vq_used_elem *)(q->used + 2) + (q->last_used & (q->size - 1));
    u32 id = e->id;
    if (len)
        *len = e->len;
    q->last_used++;
    if (id >= q->size)
        fail("used ring returned id %u (queue size %u)", (u64)id, (u64)q->size);
    /* Return the chain to the free list: walk NEXT links (one entry if indirect). */
    u16 tail = (u16)id, n = 1;
    while ((q->desc[tail].flags & VRING_DESC_F_NEXT) && n < q->size)
        tail = q->desc[tail].next, n++;
    q->desc[tail].next = q->free_head;
    q->free_head = (u16)id;
    q->num_free = (u16)(q->num_free + n);
    /* EVENT_IDX: ask for an interrupt at the next completion (or, polling,
     * push the request half the index space away). */
    if (q->event_idx)
        q->avail[2 + q->size] = q->poll ? (u16)(q->last_used + 0x7fff) : q->last_used;
    return (int)id;
}

/* Sleep until the used ring moves (MSI-X, or at worst the 100 Hz tick), the
 * device sets NEEDS_RESET, or `ticks` ticks pass. */
int vq_wait(struct vdev *d, struct vq *q, u64 ticks)
{
    u64 t0 = apic_ticks;
    for (;;) {
        cli();
        if (q->last_used != q->used[1]) {
            sti();
            return 1;
        }
        if (virtio_status(d) & VIRTIO_S_NEEDS_RESET) {
            sti();
            return -1;
        }
        if (apic_ticks - t0 >= ticks) {
            sti();
            return 0;
        }
        sti_hlt();
    }
}
