/* virtio_net.c - virtio-net: a broadcast ping/pong exchange (ethertype 0x88b5)
 * and a transmit-only benchmark. No offloads, no mergeable buffers, no control queue. */
#include "virtio.h"

#define NET_F_MAC (1UL << 5)
#define NET_HDR 12                  /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define FRAME 60                    /* minimum Ethernet frame without FCS */
#define RX_BUFS 32
#define RX_BUF_SIZE 2048            /* >= 12 + 1514: no mergeable buffers, no GSO */
#define ETHERTYPE 0x88b5

static struct vdev dev;
static u8 mac[6];
static u8 *rx_buf[VQ_MAX_SIZE];     /* by head descriptor */

static const char *net_start(void)
{
    ticker_start();
    const char *why = virtio_find(&dev, 1, "virtio-net");
    if (!why)
        why = virtio_start(&dev, NET_F_MAC);
    if (!why)
        why = virtio_queue(&dev, 0, 64, 1);     /* receiveq1 */
    if (!why)
        why = virtio_queue(&dev, 1, 256, 2);    /* transmitq1 */
    if (why)
        return why;
    static const u8 fallback[6] = { 0x02, 0x53, 0x56, 0, 0, 1 };  /* locally administered */
    for (u32 i = 0; i < 6; i++)
        mac[i] = (dev.accepted & NET_F_MAC) ? mmio_read8(dev.cfg + i) : fallback[i];
    virtio_driver_ok(&dev);
    out("virtio-net: pci 00:%x.%u features 0x%x\n", (u64)(dev.bdf >> 3), (u64)(dev.bdf & 7), dev.accepted);
    out("virtio-net: mac %x%x:%x%x:%x%x:%x%x:%x%x:%x%x\n",
        (u64)(mac[0] >> 4), (u64)(mac[0] & 15), (u64)(mac[1] >> 4), (u64)(mac[1] & 15),
        (u64)(mac[2] >> 4), (u64)(mac[2] & 15), (u64)(mac[3] >> 4), (u64)(mac[3] & 15),
        (u64)(mac[4] >> 4), (u64)(mac[4] & 15), (u64)(mac[5] >> 4), (u64)(mac[5] & 15));
    return 0;
}

static void rx_post(u8 *buf)
{
    struct vbuf b = { (u64)buf, RX_BUF_SIZE, 1 };
    int h = vq_add(&dev.q[0], &b, 1);
    if (h >= 0)
        rx_buf[h] = buf;
}

/* Header (zeroed: no offloads) + broadcast frame from us with the given payload. */
static void build_frame(u8 *p, const char *payload)
{
    fast_zero(p, NET_HDR + FRAME + 4);
    u8 *f = p + NET_HDR;
    for (u32 i = 0; i < 6; i++)
        f[i] = 0xff, f[6 + i] = mac[i];
    f[12] = ETHERTYPE >> 8, f[13] = ETHERTYPE & 0xff;
    for (u8 *d = f + 14; *payload; )
        *d++ = (u8)*payload++;
}

/* Decimal sequence number at d, NUL-padded over whatever an earlier number left. */
static void put_seq(u8 *d, u64 seq)
{
    char tmp[20];
    u32 n = 0, k = 0;
    do
        tmp[n++] = (char)('0' + seq % 10), seq /= 10;
    while (seq);
    while (n)
        d[k++] = (u8)tmp[--n];
    while (k < 20)
        d[k++] = 0;
}

static int prefix(const u8 *p, const char *s)
{
    while (*s)
        if (*p++ != (u8)*s++)
            return 0;
    return 1;
}

const char *run_virtio_net(void)
{
    const char *why = net_start();
    if (why)
        return why;
    u8 *rx = dma_alloc(RX_BUFS * RX_BUF_SIZE, 4096, 0);
    for (u32 i = 0; i < RX_BUFS; i++)
        rx_post(rx + i * RX_BUF_SIZE);
    vq_kick(&dev.q[0]);

    u64 runts = 0;
    arg_u64("runt", &runts);
    if (runts) {
        /* Frames of 1-13 bytes, shorter than an Ethernet header: the host refuses them, the NIC must go on. */
        u8 *r = dma_alloc(NET_HDR + 14, 64, 1);
        for (u32 len = 1; len < 14; len++) {
            struct vbuf rb = { (u64)r, NET_HDR + len, 0 };
            vq_add(&dev.q[1], &rb, 1);
            vq_kick(&dev.q[1]);
            int w = vq_wait(&dev, &dev.q[1], 10 * TICK_HZ);
            if (w <= 0)
                return w < 0 ? "a runt frame made the device set NEEDS_RESET" : "a runt frame was not used within 10 s";
            vq_used(&dev.q[1], 0);
        }
        out("virtio-net: sent 13 runt frames\n");
    }

    u8 *tx = dma_alloc(NET_HDR + FRAME + 4, 64, 0);
    build_frame(tx, "sharpvisor-ping");
    struct vbuf b = { (u64)tx, NET_HDR + FRAME, 0 };
    vq_add(&dev.q[1], &b, 1);
    vq_kick(&dev.q[1]);
    out("virtio-net: sent ping\n");

    u64 t0 = apic_ticks, other = 0;
    while (apic_ticks - t0 < 20 * TICK_HZ) {
        int w = vq_wait(&dev, &dev.q[0], 20 * TICK_HZ - (apic_ticks - t0));
        if (w < 0)
            return "device set NEEDS_RESET";
        vq_used(&dev.q[1], 0);                  /* reclaim the ping once sent */
        u32 len;
        int h;
        while ((h = vq_used(&dev.q[0], &len)) >= 0) {
            u8 *f = rx_buf[h] + NET_HDR;
            if (len >= NET_HDR + 14 + 15 && f[12] == (ETHERTYPE >> 8) && f[13] == (ETHERTYPE & 0xff) &&
                prefix(f + 14, "sharpvisor-pong")) {
                char text[41];
                u32 k = 0, max = len - NET_HDR - 14;
                while (k < 40 && k < max && f[14 + k])
                    text[k] = (char)f[14 + k], k++;
                text[k] = 0;
                out("virtio-net: got pong '%s'\n", text);
                return 0;
            }
            other++;
            rx_post(rx_buf[h]);                 /* not ours: give the buffer back */
        }
        vq_kick(&dev.q[0]);
    }
    out("virtio-net: no pong in 20 s (%u other frames)\n", other);
    return "no pong received";
}

const char *run_virtio_net_bench(void)
{
    u64 count = 0;
    arg_u64("count", &count);
    if (!count)
        return "need count=N (N >= 1)";
    const char *why = net_start();
    if (why)
        return why;
    struct vq *q = &dev.q[1];
    q->poll = 1;
    if (q->event_idx)
        q->avail[2 + q->size] = 0x7fff;
    else
        q->avail[0] = 1;                        /* VRING_AVAIL_F_NO_INTERRUPT */
    u8 *tx = dma_alloc((u64)q->size * 128, 128, 0);   /* one frame buffer per descriptor */
    for (u32 i = 0; i < q->size; i++)
        build_frame(tx + i * 128, "sharpvisor-bench ");
    out("BENCH-START\n");
    u64 sent = 0, done = 0, t0 = apic_ticks;
    while (done < count) {
        while (sent < count && q->num_free) {
            u8 *p = tx + (u64)q->free_head * 128;   /* vq_add uses free_head for one buffer */
            put_seq(p + NET_HDR + 14 + 17, sent);           /* after "sharpvisor-bench " */
            struct vbuf b = { (u64)p, NET_HDR + FRAME, 0 };
            vq_add(q, &b, 1);
            sent++;
        }
        vq_kick(q);
        while (vq_used(q, 0) >= 0)
            done++, t0 = apic_ticks;
        if (apic_ticks - t0 > 10 * TICK_HZ)
            return "transmit stalled for 10 s";
        cpu_relax();
    }
    out("BENCH-END %u\n", count);
    return 0;
}
