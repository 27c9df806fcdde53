/* virtio_blk.c - virtio-blk: pattern write/read-back, WRITE_ZEROES, a
 * sequential benchmark, and hostile requests the device must survive. */
#include "virtio.h"

#define BLK_F_SIZE_MAX     (1UL << 1)
#define BLK_F_RO           (1UL << 5)
#define BLK_F_FLUSH        (1UL << 9)
#define BLK_F_DISCARD      (1UL << 13)
#define BLK_F_WRITE_ZEROES (1UL << 14)

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_WRITE_ZEROES 13
#define S_OK 0
#define S_IOERR 1

#define MAX_SLOTS 64
#define QUEUE_MAX 128

struct blk_hdr { u32 type, reserved; u64 sector; };
struct slot {
    struct blk_hdr hdr;
    struct { u64 sector; u32 num, flags; } wz;   /* WRITE_ZEROES segment */
    volatile u8 status;
    u8 busy;
};

static struct vdev dev;
static struct slot *slots;          /* MAX_SLOTS, in DMA memory */
static u16 slot_of[VQ_MAX_SIZE];    /* head descriptor -> slot */

static u8 pattern_byte(u64 s, u64 i) { return (u8)(((s * 31 + i * 7) ^ 0x5a) & 0xff); }

static void fill_pattern(u8 *buf, u64 first, u64 n)
{
    for (u64 s = first; s < first + n; s++)
        for (u32 i = 0; i < 512; i++)
            *buf++ = pattern_byte(s, i);
}

/* Find, reset and start the device with queue 0 on MSI-X entry 1. */
static const char *blk_setup(int find)
{
    const char *why;
    if (find && (why = virtio_find(&dev, 2, "virtio-blk")))
        return why;
    if ((why = virtio_start(&dev, BLK_F_RO | BLK_F_FLUSH | BLK_F_DISCARD | BLK_F_WRITE_ZEROES)))
        return why;
    if ((why = virtio_queue(&dev, 0, QUEUE_MAX, 1)))
        return why;
    virtio_driver_ok(&dev);
    if (!slots)
        slots = dma_alloc(sizeof(struct slot) * MAX_SLOTS, 64, 1);
    for (u32 i = 0; i < MAX_SLOTS; i++)
        slots[i].busy = 0;
    return 0;
}

static const char *blk_start(void)
{
    ticker_start();
    const char *why = blk_setup(1);
    if (why)
        return why;
    out("virtio-blk: pci 00:%x.%u features 0x%x\n", (u64)(dev.bdf >> 3), (u64)(dev.bdf & 7), dev.accepted);
    return 0;
}

static u64 capacity(void)
{
    u32 gen, lo, hi;
    do {
        gen = mmio_read8(dev.common + VC_CFGGEN);
        lo = mmio_read32(dev.cfg);
        hi = mmio_read32(dev.cfg + 4);
    } while (gen != mmio_read8(dev.common + VC_CFGGEN));
    return (u64)hi << 32 | lo;
}

static int queue_slot(u32 type, u64 sector, void *data, u32 len)
{
    u32 s = 0;
    while (s < MAX_SLOTS && slots[s].busy)
        s++;
    if (s == MAX_SLOTS)
        return -1;
    struct slot *r = &slots[s];
    r->hdr = (struct blk_hdr){ type, 0, sector };
    r->status = 0xff;
    if (type == T_WRITE_ZEROES) {      /* len = sectors; the segment is the data */
        r->wz.sector = sector, r->wz.num = len, r->wz.flags = 0;
        r->hdr.sector = 0;
        data = &r->wz, len = sizeof r->wz;
    }
    struct vbuf b[3];
    u32 n = 0;
    b[n++] = (struct vbuf){ (u64)&r->hdr, sizeof r->hdr, 0 };
    if (len)
        b[n++] = (struct vbuf){ (u64)data, len, type == T_IN || type == T_GET_ID };
    b[n++] = (struct vbuf){ (u64)&r->status, 1, 1 };
    int h = vq_add(&dev.q[0], b, n);
    if (h < 0)
        return -1;
    slot_of[h] = (u16)s;
    r->busy = 1;
    return (int)s;
}

/* Waits for the next completion: its slot, or -1 timeout, -2 NEEDS_RESET. */
static int next_done(u64 ticks)
{
    struct vq *q = &dev.q[0];
    int h;
    u64 t0 = apic_ticks;
    while ((h = vq_used(q, 0)) < 0) {
        if (q->poll) {
            cpu_relax();
            if (apic_ticks - t0 >= ticks)
                return -1;
        } else {
            int w = vq_wait(&dev, q, ticks);
            if (w <= 0)
                return w ? -2 : -1;
        }
    }
    slots[slot_of[h]].busy = 0;
    return slot_of[h];
}

/* One request, waited for: the status byte, or -1 timeout, -2 NEEDS_RESET. */
static int blk_one(u32 type, u64 sector, void *data, u32 len)
{
    int s = queue_slot(type, sector, data, len);
    if (s < 0)
        return -1;
    vq_kick(&dev.q[0]);
    int d = next_done(10 * TICK_HZ);
    return d < 0 ? d : slots[d].status;
}

/* Sectors [sector, sector+nsec) in requests of reqsec sectors, `depth` in
 * flight. linear: data at buf + offset; else each slot reuses buf + slot * request. */
static const char *blk_io(u32 type, u64 sector, u64 nsec, u64 reqsec, u32 depth, u8 *buf, int linear)
{
    struct vq *q = &dev.q[0];
    u64 next = sector, end = sector + nsec;
    u32 inflight = 0;
    while (next < end || inflight) {
        while (next < end && inflight < depth) {
            u64 n = end - next < reqsec ? end - next : reqsec;
            u32 s = 0;
            while (s < MAX_SLOTS && slots[s].busy)
                s++;
            u8 *data = linear ? buf + (next - sector) * 512 : buf + s * reqsec * 512;
            if (queue_slot(type, next, data, (u32)(n * 512)) < 0)
                break;
            inflight++;
            next += n;
        }
        vq_kick(q);
        do {
            int s = next_done(10 * TICK_HZ);
            if (s < 0) {
                out("virtio-blk: request near sector %u %s\n", next, s == -1 ? "timed out" : "failed: NEEDS_RESET");
                return s == -1 ? "request timed out" : "device set NEEDS_RESET";
            }
            if (slots[s].status != S_OK) {
                out("virtio-blk: type %u sector %u status %u\n", (u64)slots[s].hdr.type, slots[s].hdr.sector, (u64)slots[s].status);
                return "request failed";
            }
            inflight--;
        } while (q->last_used != vq_used_idx(q));
    }
    return 0;
}

static u64 arg_or(const char *key, u64 def)
{
    arg_u64(key, &def);
    return def;
}

const char *run_virtio_blk(void)
{
    u64 n = arg_or("sectors", 16), start = arg_or("start", 0), depth = arg_or("depth", 1);
    if (!n || !depth || depth > MAX_SLOTS)
        return "need sectors >= 1 and 1 <= depth <= 64";
    const char *why = blk_start();
    if (why)
        return why;
    if (dev.cfg_vector == VIRTIO_NO_VECTOR || dev.q[0].vector == VIRTIO_NO_VECTOR)
        return "MSI-X vector read back as NO_VECTOR (0xffff)";
    u64 cap = capacity();
    char id[21];
    u8 *idbuf = dma_alloc(512, 512, 1);
    int st = blk_one(T_GET_ID, 0, idbuf, 20);
    if (st < 0)
        return "GET_ID timed out";
    u32 k = 0;
    for (; st == S_OK && k < 20 && idbuf[k]; k++)
        id[k] = (char)idbuf[k];
    id[k] = 0;
    out("virtio-blk: capacity %u sectors, serial '%s'\n", cap, id);
    u64 irq0 = virtio_irqs[1];

    if (dev.accepted & BLK_F_RO) {
        u8 *sec = dma_alloc(512, 512, 1);
        fill_pattern(sec, start, 1);
        st = blk_one(T_OUT, start, sec, 512);
        if (st != S_IOERR) {
            out("virtio-blk: write to a read-only device gave status %u\n", (u64)(st < 0 ? 0xff : st));
            return "read-only device did not refuse the write with IOERR";
        }
        out("virtio-blk: read-only, write refused\n");
        fast_zero(sec, 512);
        if (blk_one(T_IN, start, sec, 512) != S_OK)
            return "read of a read-only device failed";
        char hex[33];
        hex_line(hex, sec, 16);
        out("virtio-blk: sector %u bytes %s\n", start, hex);
        return 0;
    }
    if (start + n > cap)
        return "range beyond capacity";
    u64 reqsec = (n + depth - 1) / depth;
    u8 *buf = dma_alloc(n * 512, 4096, 0);
    fill_pattern(buf, start, n);
    if ((why = blk_io(T_OUT, start, n, reqsec, (u32)depth, buf, 1)))
        return why;
    if ((dev.accepted & BLK_F_FLUSH) && blk_one(T_FLUSH, 0, 0, 0) != S_OK)
        return "FLUSH failed";
    fast_zero(buf, n * 512);
    if ((why = blk_io(T_IN, start, n, reqsec, (u32)depth, buf, 1)))
        return why;
    for (u64 s = 0; s < n; s++)
        for (u32 i = 0; i < 512; i++)
            if (buf[s * 512 + i] != pattern_byte(start + s, i)) {
                out("virtio-blk: sector %u byte %u is 0x%x, expected 0x%x\n", start + s, (u64)i,
                    (u64)buf[s * 512 + i], (u64)pattern_byte(start + s, i));
                return "read-back mismatch";
            }
    if (virtio_irqs[1] == irq0)
        return "no MSI-X interrupt for queue 0";
    out("virtio-blk: wrote and read back %u sectors\n", n);
    return 0;
}

const char *run_virtio_blk_zero(void)
{
    u64 n = arg_or("sectors", 16), start = arg_or("start", 0);
    const char *why = blk_start();
    if (why)
        return why;
    if (!(dev.accepted & BLK_F_WRITE_ZEROES))
        return "device does not offer VIRTIO_BLK_F_WRITE_ZEROES";
    if (dev.accepted & BLK_F_RO)
        return "device is read-only";
    if (!n || start + n > capacity())
        return "range empty or beyond capacity";
    u64 max = mmio_read32(dev.cfg + 48);        /* max_write_zeroes_sectors */
    if (!max)
        max = n;
    u8 *buf = dma_alloc(n * 512, 4096, 0);
    fill_pattern(buf, start, n);                /* so the zeroes are the device's doing */
    if ((why = blk_io(T_OUT, start, n, n, 1, buf, 1)))
        return why;
    for (u64 s = start; s < start + n; s += max) {
        u64 k = start + n - s < max ? start + n - s : max;
        int st = blk_one(T_WRITE_ZEROES, s, 0, (u32)k);
        if (st != S_OK) {
            out("virtio-blk-zero: WRITE_ZEROES at %u gave status %u\n", s, (u64)(st < 0 ? 0xff : st));
            return "WRITE_ZEROES failed";
        }
    }
    for (u64 i = 0; i < n * 512; i++)
        buf[i] = 0xee;
    if ((why = blk_io(T_IN, start, n, n, 1, buf, 1)))
        return why;
    for (u64 i = 0; i < n * 512; i++)
        if (buf[i]) {
            out("virtio-blk-zero: sector %u byte %u is 0x%x\n", start + i / 512, i % 512, (u64)buf[i]);
            return "not zero after WRITE_ZEROES";
        }
    out("virtio-blk-zero: zeroed and read back %u sectors\n", n);
    return 0;
}

const char *run_virtio_blk_bench(void)
{
    const char *op = arg_str("op");
    u64 mib = arg_or("mib", 0), reqkib = arg_or("reqkib", 1024), depth = arg_or("depth", 8);
    int write = op && op[0] == 'w' && op[1] == 'r';
    if (!op || (!write && !(op[0] == 'r' && op[1] == 'e')))
        return "need op=read or op=write";
    if (!mib || !reqkib || !depth || depth > MAX_SLOTS)
        return "need mib >= 1, reqkib >= 1, 1 <= depth <= 64";
    const char *why = blk_start();
    if (why)
        return why;
    u64 nsec = mib * 2048, reqsec = reqkib * 2;
    if (nsec > capacity())
        return "mib beyond capacity";
    if (write && (dev.accepted & BLK_F_RO))
        return "device is read-only";
    u8 *buf = dma_alloc(depth * reqsec * 512, 4096, 0);   /* contents are whatever RAM held */
    struct vq *q = &dev.q[0];
    q->poll = 1;                                          /* no interrupts: spin on the used ring */
    if (q->event_idx)
        q->avail[2 + q->size] = 0x7fff;
    else
        q->avail[0] = 1;                                  /* VRING_AVAIL_F_NO_INTERRUPT */
    out("BENCH-START\n");
    if ((why = blk_io(write ? T_OUT : T_IN, 0, nsec, reqsec, (u32)depth, buf, 0)))
        return why;
    out("BENCH-END %u\n", nsec * 512);
    return 0;
}

/* ---------------- hostile requests ---------------- */

static const char *const cases[] = { "loop", "toolong", "outside", "mmiohole", "overflow",
                                     "usedring-outside", "early-notify" };

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

const char *run_virtio_blk_hostile(void)
{
    const char *name = arg_str("case");
    u32 c = 0;
    while (name && c < sizeof cases / sizeof cases[0] && !streq(name, cases[c]))
        c++;
    if (!name || c == sizeof cases / sizeof cases[0])
        return "need case=loop|toolong|outside|mmiohole|overflow|usedring-outside|early-notify";
    u64 start = arg_or("start", 0), dev_reads = arg_or("write", 0);
    u32 data_flag = dev_reads ? 0 : VRING_DESC_F_WRITE;
    u64 far = ((ram_top() + 0x3fffffff) & ~0x3fffffffUL) + 0x100000000UL;  /* 4 GiB past RAM */
    const char *why;

    ticker_start();
    if ((why = virtio_find(&dev, 2, "virtio-blk")))
        return why;
    if (c == 5)
        dev.used_override = far;
    if ((why = virtio_start(&dev, BLK_F_FLUSH)) || (why = virtio_queue(&dev, 0, QUEUE_MAX, 1)))
        return why;
    if (c != 6)
        virtio_driver_ok(&dev);
    if (!slots)
        slots = dma_alloc(sizeof(struct slot) * MAX_SLOTS, 64, 1);
    struct vq *q = &dev.q[0];
    struct slot *r = &slots[0];
    r->hdr = (struct blk_hdr){ dev_reads ? T_OUT : T_IN, 0, start };
    r->status = 0xff;
    u8 *data = dma_alloc(4096, 4096, 1);
    struct vq_desc *d = q->desc;
    struct vq_desc hdr = { (u64)&r->hdr, sizeof r->hdr, VRING_DESC_F_NEXT, 1 };
    struct vq_desc st = { (u64)&r->status, 1, VRING_DESC_F_WRITE, 0 };
    u64 bad[3] = { far, 0xd0000000UL, 0xfffffffffffff000UL };
    switch (c) {
    case 0:     /* loop: data descriptor's next is itself */
        d[0] = hdr;
        d[1] = (struct vq_desc){ (u64)data, 512, (u16)(data_flag | VRING_DESC_F_NEXT), 1 };
        break;
    case 1: {   /* toolong: queue size + 1 descriptors */
        u32 n = q->size + 1u;
        struct vq_desc *t = q->indirect ? dma_alloc(16 * n, 16, 1) : d;
        if (!q->indirect)
            n = q->size;    /* no indirect: the whole ring, the last one linking back to 0 */
        t[0] = hdr;
        for (u32 i = 1; i + 1 < n; i++)
            t[i] = (struct vq_desc){ (u64)data, 512, (u16)(data_flag | VRING_DESC_F_NEXT), (u16)(i + 1) };
        t[n - 1] = st;
        if (q->indirect)
            d[0] = (struct vq_desc){ (u64)t, 16 * n, VRING_DESC_F_INDIRECT, 0 };
        else
            t[n - 1].flags |= VRING_DESC_F_NEXT;   /* next = 0: back to the head */
        break;
    }
    case 2: case 3: case 4: /* a data buffer outside RAM, in the MMIO hole, wrapping 2^64 */
        d[0] = hdr;
        d[1] = (struct vq_desc){ bad[c - 2], c == 4 ? 0x2000 : 4096, (u16)(data_flag | VRING_DESC_F_NEXT), 2 };
        d[2] = st;
        break;
    default:    /* usedring-outside, early-notify: a valid 1-sector request */
        d[0] = hdr;
        d[1] = (struct vq_desc){ (u64)data, 512, (u16)(data_flag | VRING_DESC_F_NEXT), 2 };
        d[2] = st;
        break;
    }
    q->avail[2] = 0;
    barrier();
    q->avail[1] = 1;
    mb();
    mmio_write16(q->notify, 0);

    int w = vq_wait(&dev, q, 5 * TICK_HZ);
    char outcome[24];
    if (w > 0) {
        u8 s = r->status;
        const char *p = "status 0x";
        u32 k = 0;
        while (*p)
            outcome[k++] = *p++;
        hex_line(outcome + k, &s, 1);
    } else {
        const char *p = w ? "needs-reset" : "no-completion";
        u32 k = 0;
        while ((outcome[k] = p[k]))
            k++;
    }

    /* Recover: full reset and re-initialisation, then one normal write + read. */
    if (!virtio_reset(&dev))
        return "device status did not read 0 after reset";
    dev.used_override = 0;
    if ((why = blk_setup(0)))
        return why;
    u8 *sec = dma_alloc(512, 512, 0);
    fill_pattern(sec, start, 1);
    if (blk_one(T_OUT, start, sec, 512) != S_OK)
        return "write after recovery failed";
    fast_zero(sec, 512);
    if (blk_one(T_IN, start, sec, 512) != S_OK)
        return "read after recovery failed";
    for (u32 i = 0; i < 512; i++)
        if (sec[i] != pattern_byte(start, i))
            return "read-back after recovery mismatch";
    out("virtio-blk-hostile %s: %s, device recovered\n", name, outcome);
    return 0;
}

/* The generation workload on a disk: sweeps sectors [0, N) for ever, reading
 * each back before rewriting it with the sweep number and its own index, so a
 * write lost or a request dropped across a snapshot is caught by the guest. */
const char *run_virtio_blk_generation(void)
{
    u64 n = arg_or("sectors", 64), every = arg_or("every", 16);
    if (!n || !every)
        return "need sectors >= 1 and every >= 1";
    const char *why = blk_start();
    if (why)
        return why;
    if (n > capacity())
        return "range beyond capacity";
    u64 *sec = dma_alloc(512, 512, 1);
    out("virtio-blk-generation: %u sectors\n", n);
    for (u64 g = 1;; g++) {
        for (u64 s = 0; s < n; s++) {
            if (g > 1) {
                int st = blk_one(T_IN, s, sec, 512);
                if (st != S_OK)
                    fail("reading sector %u in sweep %u gave %u", s, g, (u64)(st < 0 ? 0xff : st));
                if (sec[0] != g - 1 || sec[1] != s)
                    fail("sector %u holds sweep %u of sector %u in sweep %u", s, sec[0], sec[1], g);
            }
            sec[0] = g, sec[1] = s;
            int st = blk_one(T_OUT, s, sec, 512);
            if (st != S_OK)
                fail("writing sector %u in sweep %u gave %u", s, g, (u64)(st < 0 ? 0xff : st));
        }
        if (g % every == 0)
            out("virtio-blk-generation: %u\n", g);
    }
}
