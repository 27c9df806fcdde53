/* virtio_misc.c - virtio-rng (entropy) and virtio-console (port 0, no MULTIPORT). */
#include "virtio.h"

static struct vdev dev;

/* Find the device, accept only VERSION_1 (+ ring features), set up queues
 * 0..nq-1 on MSI-X entries 1.., DRIVER_OK. */
static const char *simple_start(u32 type, const char *name, u32 nq)
{
    ticker_start();
    const char *why = virtio_find(&dev, type, name);
    if (!why)
        why = virtio_start(&dev, 0);
    for (u32 i = 0; !why && i < nq; i++)
        why = virtio_queue(&dev, i, 64, (u16)(1 + i));
    if (why)
        return why;
    virtio_driver_ok(&dev);
    out("%s: pci 00:%x.%u features 0x%x\n", name, (u64)(dev.bdf >> 3), (u64)(dev.bdf & 7), dev.accepted);
    return 0;
}

/* One buffer through queue q; returns the used length or -1 (timeout/NEEDS_RESET). */
static long one_buffer(u32 qi, void *buf, u32 len, int device_writes)
{
    struct vq *q = &dev.q[qi];
    struct vbuf b = { (u64)buf, len, device_writes };
    if (vq_add(q, &b, 1) < 0)
        return -1;
    vq_kick(q);
    if (vq_wait(&dev, q, 10 * TICK_HZ) <= 0)
        return -1;
    u32 used = 0;
    vq_used(q, &used);
    return used;
}

const char *run_virtio_rng(void)
{
    u64 n = 64;
    arg_u64("bytes", &n);
    if (n < 2 || n > 65536)
        return "bytes must be 2..65536";
    const char *why = simple_start(4, "virtio-rng", 1);
    if (why)
        return why;
    u8 *buf = dma_alloc(n, 64, 1);
    u64 got = 0;
    for (u32 tries = 0; got < n && tries < 1000; tries++) {
        long k = one_buffer(0, buf + got, (u32)(n - got), 1);
        if (k < 0)
            return "no entropy returned within 10 s";
        got += (u64)k > n - got ? n - got : (u64)k;
    }
    if (got < n)
        return "too few bytes returned";
    u64 same = 1;
    for (u64 i = 1; i < n; i++)
        same += buf[i] == buf[0];
    if (same == n)
        return "all bytes equal";
    char hex[33];
    hex_line(hex, buf, 16 < n ? 16 : (u32)n);
    out("virtio-rng: %s\n", hex);
    return 0;
}

const char *run_virtio_console(void)
{
    const char *why = simple_start(3, "virtio-console", 2);   /* receiveq0, transmitq0 */
    if (why)
        return why;
    static const char text[] = "hello from hvc0\n";
    char *buf = dma_alloc(sizeof text, 64, 0);
    memcpy(buf, text, sizeof text - 1);
    if (one_buffer(1, buf, sizeof text - 1, 0) < 0)
        return "transmit buffer not used within 10 s";
    out("virtio-console: sent\n");
    return 0;
}
