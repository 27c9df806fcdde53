/* hostile.c - drivers that break the rules after the parsers have accepted
 * their buffers: the VMM must end each request promptly, stay up and keep
 * the device (or, at worst, just that device) working.
 *   hostile-console     a transmit chain of 0xffffffff bytes from 64 overlapping
 *                       buffers, then an ordinary line that must still come out
 *   hostile-blk-huge    a 1088 MiB write from 17 overlapping buffers: refused
 *                       (IOERR) without writing, then an ordinary write works
 *   hostile-reset-loop  cycles=N of reset, a queue outside RAM, DRIVER_OK
 *                       (each one NEEDS_RESET): the host logs a few lines only */
#include "virtio.h"

#define PIECE (64UL << 20)

static struct vdev dev;

static const char *need_ram(u64 bytes)
{
    return ram_top() < (1UL << 20) + bytes ? "needs more guest RAM (--memory 256M)" : 0;
}

static long one_chain(struct vq *q, const struct vbuf *b, u32 n)
{
    if (vq_add(q, b, n) < 0)
        return -2;
    vq_kick(q);
    int w = vq_wait(&dev, q, 20 * TICK_HZ);
    if (w <= 0)
        return w;
    u32 len = 0;
    vq_used(q, &len);
    return len;
}

static const char *start(u32 type, const char *name, u32 queues, u32 size)
{
    const char *why = virtio_find(&dev, type, name);
    if (!why)
        why = virtio_start(&dev, 0);
    for (u32 i = 0; !why && i < queues; i++)
        why = virtio_queue(&dev, i, size, (u16)(1 + i));
    if (!why)
        virtio_driver_ok(&dev);
    return why;
}

const char *run_hostile_console(void)
{
    const char *why;
    ticker_start();
    if ((why = need_ram(PIECE)) || (why = start(3, "virtio-console", 2, 64)))
        return why;
    static struct vbuf huge[64];
    for (u32 i = 0; i < 64; i++)
        huge[i] = (struct vbuf){ 1UL << 20, (u32)(i == 63 ? PIECE - 1 : PIECE), 0 };
    long r = one_chain(&dev.q[1], huge, 64);
    if (r < 0)
        return r == -1 ? "the device set NEEDS_RESET on the huge chain" : "the huge chain was not used within 20 s";
    out("hostile-console: huge chain used\n");
    static const char text[] = "hvc0 still works\n";
    char *buf = dma_alloc(sizeof text, 64, 0);
    memcpy(buf, text, sizeof text - 1);
    struct vbuf line = { (u64)buf, sizeof text - 1, 0 };
    if (one_chain(&dev.q[1], &line, 1) < 0)
        return "an ordinary line was not used after the huge chain";
    return 0;
}

struct blk_req { u32 type, reserved; u64 sector; };

const char *run_hostile_blk_huge(void)
{
    const char *why;
    ticker_start();
    if ((why = need_ram(PIECE)) || (why = start(2, "virtio-blk", 1, 64)))
        return why;
    struct blk_req *hdr = dma_alloc(sizeof *hdr, 64, 1);
    volatile u8 *status = dma_alloc(64, 64, 1);
    static struct vbuf chain[19];
    *hdr = (struct blk_req){ 1, 0, 0 };           /* VIRTIO_BLK_T_OUT at sector 0 */
    chain[0] = (struct vbuf){ (u64)hdr, sizeof *hdr, 0 };
    for (u32 i = 1; i <= 17; i++)
        chain[i] = (struct vbuf){ 1UL << 20, (u32)PIECE, 0 };
    chain[18] = (struct vbuf){ (u64)status, 1, 1 };
    *status = 0xff;
    long r = one_chain(&dev.q[0], chain, 19);
    if (r < 0)
        return r == -1 ? "the device set NEEDS_RESET on the huge write" : "the huge write was not used within 20 s";
    if (*status != 1)
        return "the huge write did not fail with IOERR";
    out("hostile-blk-huge: refused with IOERR\n");

    u8 *data = dma_alloc(512, 512, 0);
    for (u32 i = 0; i < 512; i++)
        data[i] = (u8)(0xa5 ^ i);
    struct vbuf small[3] = { { (u64)hdr, sizeof *hdr, 0 }, { (u64)data, 512, 0 }, { (u64)status, 1, 1 } };
    *status = 0xff;
    if (one_chain(&dev.q[0], small, 3) < 0 || *status != 0)
        return "an ordinary write failed after the huge one";
    out("hostile-blk-huge: ordinary write ok\n");
    return 0;
}

const char *run_hostile_reset_loop(void)
{
    u64 cycles = 2000;
    arg_u64("cycles", &cycles);
    const char *why = virtio_find(&dev, 4, "virtio-rng");
    if (why)
        return why;
    u64 far = ((ram_top() + 0x3fffffff) & ~0x3fffffffUL) + 0x100000000UL;  /* 4 GiB past RAM */
    for (u64 c = 0; c < cycles; c++) {
        if ((why = virtio_start(&dev, 0)))
            return why;
        mmio_write16(dev.common + VC_Q_SELECT, 0);
        mmio_write16(dev.common + VC_Q_SIZE, 16);
        mmio_write16(dev.common + VC_Q_MSIX, VIRTIO_NO_VECTOR);
        u64 regs[3] = { VC_Q_DESC, VC_Q_DRIVER, VC_Q_DEVICE };
        for (u32 k = 0; k < 3; k++) {
            *(volatile u32 *)(dev.common + regs[k]) = (u32)(far + k * 0x1000);
            *(volatile u32 *)(dev.common + regs[k] + 4) = (u32)((far + k * 0x1000) >> 32);
        }
        mmio_write16(dev.common + VC_Q_ENABLE, 1);
        virtio_set_status(&dev, virtio_status(&dev) | VIRTIO_S_DRIVER_OK);
        if (!(virtio_status(&dev) & VIRTIO_S_NEEDS_RESET))
            return "DRIVER_OK with a queue outside RAM did not set NEEDS_RESET";
    }
    out("hostile-reset-loop: %u cycles, NEEDS_RESET each time\n", cycles);
    return 0;
}

/* hostile-console-stall: floods hvc0 until the host stops taking the output
 * (the test stops reading it), then resets the device while its thread is
 * stuck in a write: the reset must return, and SIGTERM must end the VMM. */
const char *run_hostile_console_stall(void)
{
    const char *why;
    ticker_start();
    if ((why = start(3, "virtio-console", 2, 64)))
        return why;
    u8 *chunk = dma_alloc(65536, 4096, 0);
    for (u32 i = 0; i < 65536; i++)
        chunk[i] = (u8)('a' + i % 26);
    out("hostile-console-stall: flooding\n");
    u32 sent = 0;
    struct vbuf b = { (u64)chunk, 65536, 0 };
    while (sent < 4096 && one_chain(&dev.q[1], &b, 1) >= 0)
        sent++;
    virtio_reset(&dev);
    out("hostile-console-stall: reset returned after %u chunks\n", (u64)sent);
    return 0;
}
