/* virtio.h - PCI config access, a DMA bump allocator, and the virtio 1.x PCI
 * transport with split virtqueues (pci.c, virtio.c), shared by the virtio
 * scenarios (virtio_blk.c, virtio_net.c, virtio_misc.c). */
#ifndef VIRTIO_H
#define VIRTIO_H
#include "guest.h"

static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u32 inl(u16 port)
{
    u32 v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline u8 mmio_read8(u64 a) { return *(volatile u8 *)a; }
static inline u16 mmio_read16(u64 a) { return *(volatile u16 *)a; }
static inline void mmio_write8(u64 a, u8 v) { *(volatile u8 *)a = v; }
static inline void mmio_write16(u64 a, u16 v) { *(volatile u16 *)a = v; }
/* Full barrier without SSE2's mfence (0F AE group: not every emulator has it). */
static inline void mb(void) { __asm__ volatile("lock addl $0, (%%rsp)" ::: "memory", "cc"); }
#define barrier() __asm__ volatile("" ::: "memory")

/* ---- pci.c: bus 0 through ports 0xcf8/0xcfc ---- */
u32 pci_read32(u32 bdf, u32 off);
u16 pci_read16(u32 bdf, u32 off);
u8 pci_read8(u32 bdf, u32 off);
void pci_write32(u32 bdf, u32 off, u32 v);
void pci_write16(u32 bdf, u32 off, u16 v);
int pci_find_virtio(u32 type, u32 *bdf);   /* first 1af4:(1040+type | transitional) on bus 0 */
int pci_find_virtio_nth(u32 type, u32 nth, u32 *bdf); /* the one after nth others of that type */
u64 pci_bar(u32 bdf, u32 bar);            /* memory BAR base (64-bit aware), 0 if unassigned */
u32 pci_next_cap(u32 bdf, u32 id, u32 after); /* capability offset, 0 if none */

/* ---- pci.c: memory helpers ---- */
void *dma_alloc(u64 size, u64 align, int zero); /* free RAM above the image, identity-mapped */
u64 ram_top(void);                           /* end of the highest RAM entry */
void fast_zero(void *p, u64 n);              /* rep stosq; n multiple of 8 */
void map_mmio(u64 start, u64 len);           /* identity-map MMIO above 4 GiB (below: boot.S) */
void ticker_start(void);                     /* LAPIC periodic timer, 100 Hz -> apic_ticks */
#define TICK_HZ 100
void hex_line(char *dst, const u8 *src, u32 n); /* n bytes -> 2n hex chars + NUL */

/* ---- virtio.c ---- */
#define VIRTIO_F_INDIRECT_DESC (1UL << 28)
#define VIRTIO_F_EVENT_IDX     (1UL << 29)
#define VIRTIO_F_VERSION_1     (1UL << 32)

#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER      2
#define VIRTIO_S_DRIVER_OK   4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 0x40
#define VIRTIO_S_FAILED      0x80

#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4
#define VIRTIO_NO_VECTOR 0xffff
#define MAX_IND 4            /* entries per indirect table (blk uses 3) */
#define VQ_MAX_SIZE 256

struct vq_desc { u64 addr; u32 len; u16 flags, next; };
struct vq_used_elem { u32 id, len; };

struct vq {
    u16 index, size, num_free, free_head;
    u16 avail_idx, kicked_idx, last_used;
    u16 vector;                  /* MSI-X entry, or VIRTIO_NO_VECTOR */
    int event_idx, indirect, poll;
    struct vq_desc *desc;
    volatile u16 *avail;          /* flags, idx, ring[size], used_event */
    volatile u16 *used;           /* flags, idx, then elems at used + 2, avail_event after */
    struct vq_desc *ind;          /* size * MAX_IND indirect entries (if indirect) */
    u64 notify;                   /* notify register address */
    u64 desc_pa, avail_pa, used_pa;
};

struct vdev {
    u32 bdf, type;
    const char *name;
    u64 common, notify, isr, cfg; /* capability addresses */
    u32 notify_mult;
    u64 msix_table;               /* 0 if no MSI-X capability */
    u32 msix_entries, msix_cap;
    u16 cfg_vector;               /* msix_config as read back */
    u64 used_override;            /* hostile test: queue_device address to program instead */
    u64 offered, accepted;
    struct vq q[3];
};

struct vbuf { u64 addr; u32 len; int write; };  /* write = device writes it */

/* Common-config register offsets. */
#define VC_DFSELECT   0x00
#define VC_DF         0x04
#define VC_GFSELECT   0x08
#define VC_GF         0x0c
#define VC_MSIX_CFG   0x10
#define VC_NUMQ       0x12
#define VC_STATUS     0x14
#define VC_CFGGEN     0x15
#define VC_Q_SELECT   0x16
#define VC_Q_SIZE     0x18
#define VC_Q_MSIX     0x1a
#define VC_Q_ENABLE   0x1c
#define VC_Q_NOFF     0x1e
#define VC_Q_DESC     0x20
#define VC_Q_DRIVER   0x28
#define VC_Q_DEVICE   0x30


const char *virtio_find(struct vdev *d, u32 type, const char *name);
const char *virtio_find_nth(struct vdev *d, u32 type, u32 nth, const char *name);
/* Reset, ACKNOWLEDGE|DRIVER, negotiate (want = device bits; VERSION_1 always,
 * INDIRECT_DESC / EVENT_IDX per the indirect= / eventidx= args), FEATURES_OK. */
const char *virtio_start(struct vdev *d, u64 want);
/* Set up queue `index` with at most `max` entries (MSI-X entry msix or NO_VECTOR). */
const char *virtio_queue(struct vdev *d, u32 index, u32 max, u16 msix);
void virtio_driver_ok(struct vdev *d);
int virtio_reset(struct vdev *d);          /* write 0, wait for 0; 1 if it read back 0 */
u8 virtio_status(struct vdev *d);
void virtio_set_status(struct vdev *d, u8 s);

int vq_add(struct vq *q, const struct vbuf *b, u32 n);  /* head id, -1 if full */
void vq_kick(struct vq *q);                 /* publish + notify if the device wants it */
int vq_used(struct vq *q, u32 *len);        /* reclaim one used chain: its head id, or -1 */
int vq_wait(struct vdev *d, struct vq *q, u64 ticks); /* 1 used, 0 timeout, -1 NEEDS_RESET */
static inline u16 vq_used_idx(struct vq *q) { return q->used[1]; }

#endif
