/* display.c - drives virtio-gpu (device 16) in 2D: asks for the heads, fills a buffer with a
 * pattern the host can recompute (pixel x,y = bytes B=x, G=y, R=x+y, low 8 bits each, format
 * B8G8R8X8) and shows it on `heads` heads (default 1): head k's resource is backed, as 64 KiB
 * pieces, by the buffer from row k on, so the host sees pattern(x, y + k) there. Optionally
 * shows a second resource of another size on head 0 (the resize a VNC client must follow),
 * then checks that hostile commands get error answers and prints "display: ready". Then, with
 * animate=1, redraws every head whole for ever (the benchmark's full-screen animation); with
 * input=N it drives the two virtio-input devices (device 18: the keyboard, then the tablet):
 * prints their names and the tablet's X range, "input: ready", then each event the host sends
 * ("input: key 30 1", "input: abs 0 16383", "input: rel 8 1"; SYN reports are not printed) and
 * passes after N; otherwise it idles for ever so the host can look at the screen. */
#include "virtio.h"

#define GPU_GET_DISPLAY_INFO 0x0100
#define GPU_RESOURCE_CREATE_2D 0x0101
#define GPU_RESOURCE_UNREF 0x0102
#define GPU_SET_SCANOUT 0x0103
#define GPU_RESOURCE_FLUSH 0x0104
#define GPU_TRANSFER_TO_HOST_2D 0x0105
#define GPU_RESOURCE_ATTACH_BACKING 0x0106
#define GPU_RESOURCE_DETACH_BACKING 0x0107
#define GPU_OK_NODATA 0x1100
#define GPU_OK_DISPLAY_INFO 0x1101
#define GPU_FORMAT_B8G8R8X8 2
#define PIECE (64 * 1024)
#define ANIMATION_ROWS 16   /* rows the animation moves through before it starts again */

struct gpu_hdr { u32 type, flags; u64 fence_id; u32 ctx_id; u8 ring_idx, pad[3]; };
struct gpu_rect { u32 x, y, w, h; };

static struct vdev dev;
static u8 *req_buf, *resp_buf;

/* One command on the control queue: req (len bytes) out, a response of rlen bytes back; its type or 0. */
static u32 gpu_cmd(const void *req, u32 len, u32 rlen)
{
    struct vq *q = &dev.q[0];
    memcpy(req_buf, req, len);
    struct vbuf b[2] = { { (u64)req_buf, len, 0 }, { (u64)resp_buf, rlen, 1 } };
    if (vq_add(q, b, 2) < 0)
        return 0;
    vq_kick(q);
    if (vq_wait(&dev, q, 10 * TICK_HZ) <= 0)
        return 0;
    u32 used = 0;
    vq_used(q, &used);
    return used >= sizeof(struct gpu_hdr) ? ((struct gpu_hdr *)resp_buf)->type : 0;
}

static u32 simple(u32 type, const u32 *body, u32 words)
{
    u32 req[16] = { 0 };
    struct gpu_hdr *h = (struct gpu_hdr *)req;
    h->type = type;
    for (u32 i = 0; i < words; i++)
        req[6 + i] = body[i];
    return gpu_cmd(req, sizeof(struct gpu_hdr) + 4 * words, sizeof(struct gpu_hdr));
}

/* w x h pixels of the pattern plus `rows` more rows of it below: pixel i is pattern(i % w, i / w). */
static u32 *pattern(u32 w, u32 h, u32 rows)
{
    u64 count = (u64)w * (h + rows);
    u32 *pixels = dma_alloc(count * 4, 4096, 0);
    if (!pixels)
        return 0;
    for (u32 y = 0; y < h + rows; y++)
        for (u32 x = 0; x < w; x++)
            pixels[(u64)y * w + x] = (x & 0xff) | ((y & 0xff) << 8) | (((x + y) & 0xff) << 16);
    return pixels;
}

static u8 *attach_req;

/* Backs resource `id` with `bytes` at `pixels`, as 64 KiB pieces (one chain: request, response). */
static const char *attach(u32 id, const u32 *pixels, u64 bytes)
{
    u32 pieces = (u32)((bytes + PIECE - 1) / PIECE);
    u32 len = sizeof(struct gpu_hdr) + 8 + 16 * pieces;
    memset(attach_req, 0, sizeof(struct gpu_hdr));
    ((struct gpu_hdr *)attach_req)->type = GPU_RESOURCE_ATTACH_BACKING;
    ((u32 *)attach_req)[6] = id;
    ((u32 *)attach_req)[7] = pieces;
    for (u32 i = 0; i < pieces; i++) {
        u64 *entry = (u64 *)(attach_req + sizeof(struct gpu_hdr) + 8 + 16 * i);
        entry[0] = (u64)pixels + (u64)i * PIECE;
        entry[1] = bytes - (u64)i * PIECE < PIECE ? bytes - (u64)i * PIECE : PIECE;
    }
    struct vq *q = &dev.q[0];
    struct vbuf b[2] = { { (u64)attach_req, len, 0 }, { (u64)resp_buf, sizeof(struct gpu_hdr), 1 } };
    if (vq_add(q, b, 2) < 0)
        return "control queue full";
    vq_kick(q);
    u32 used = 0;
    if (vq_wait(&dev, q, 10 * TICK_HZ) <= 0 || vq_used(q, &used) < 0 || ((struct gpu_hdr *)resp_buf)->type != GPU_OK_NODATA)
        return "RESOURCE_ATTACH_BACKING refused";
    return 0;
}

static const char *transfer(u32 id, u32 w, u32 h)
{
    u32 body[8] = { 0, 0, w, h, 0, 0, id, 0 };   /* rect, offset (le64), resource_id, padding */
    return simple(GPU_TRANSFER_TO_HOST_2D, body, 8) == GPU_OK_NODATA ? 0 : "TRANSFER_TO_HOST_2D refused";
}

/* Resource `id`, w x h, backed by `pixels` (w x h of them), transferred. */
static const char *make_resource(u32 id, u32 w, u32 h, const u32 *pixels)
{
    u32 create[4] = { id, GPU_FORMAT_B8G8R8X8, w, h };
    if (simple(GPU_RESOURCE_CREATE_2D, create, 4) != GPU_OK_NODATA)
        return "RESOURCE_CREATE_2D refused";
    const char *why = attach(id, pixels, (u64)w * h * 4);
    return why ? why : transfer(id, w, h);
}

static const char *flush(u32 id, u32 w, u32 h)
{
    u32 body[6] = { 0, 0, w, h, id, 0 };
    return simple(GPU_RESOURCE_FLUSH, body, 6) == GPU_OK_NODATA ? 0 : "RESOURCE_FLUSH refused";
}

static const char *show(u32 head, u32 id, u32 w, u32 h)
{
    u32 scanout[6] = { 0, 0, w, h, head, id };
    if (simple(GPU_SET_SCANOUT, scanout, 6) != GPU_OK_NODATA)
        return "SET_SCANOUT refused";
    const char *why = flush(id, w, h);
    if (why)
        return why;
    if (head == 0)
        out("display: shown %ux%u\n", (u64)w, (u64)h);
    else
        out("display: head %u shown %ux%u\n", (u64)head, (u64)w, (u64)h);
    return 0;
}

/* Full-screen animation for ever: each frame every head's resource is re-backed one row further down the
 * pattern buffer (so every pixel changes), transferred whole and flushed whole, as a guest redrawing its
 * whole screen would; every 128 frames "display: frames N". */
static const char *animate(u32 heads, u32 w, u32 h, const u32 *pixels)
{
    for (u64 frame = 1;; frame++) {
        for (u32 k = 0; k < heads; k++) {
            u32 id[2] = { 10 + k, 0 };
            if (simple(GPU_RESOURCE_DETACH_BACKING, id, 2) != GPU_OK_NODATA)
                return "RESOURCE_DETACH_BACKING refused";
            const char *why = attach(10 + k, pixels + (u64)w * (k + frame % ANIMATION_ROWS), (u64)w * h * 4);
            if (!why)
                why = transfer(10 + k, w, h);
            if (!why)
                why = flush(10 + k, w, h);
            if (why)
                return why;
        }
        if (frame % 128 == 0)
            out("display: frames %u\n", frame);
    }
}

#define INPUT_BUFFERS 32
static struct vdev inputs[2];

/* Reads config string `select` of an input device into buf (NUL-terminated). */
static void input_string(struct vdev *d, u8 select, char *buf, u32 cap)
{
    mmio_write8(d->cfg, select);
    mmio_write8(d->cfg + 1, 0);
    u32 size = mmio_read8(d->cfg + 2);
    if (size >= cap)
        size = cap - 1;
    for (u32 i = 0; i < size; i++)
        buf[i] = (char)mmio_read8(d->cfg + 8 + i);
    buf[size] = 0;
}

static const char *run_input(u64 want)
{
    static const char *const names[2] = { "virtio-keyboard", "virtio-tablet" };
    u32 *events[2];
    for (u32 n = 0; n < 2; n++) {
        struct vdev *d = &inputs[n];
        const char *why = virtio_find_nth(d, 18, n, names[n]);
        if (!why)
            why = virtio_start(d, 0);
        if (!why)
            why = virtio_queue(d, 0, INPUT_BUFFERS, 1);   /* an interrupt per event: a key is seen at once, not at the next tick */
        if (!why)
            why = virtio_queue(d, 1, 8, VIRTIO_NO_VECTOR);
        if (why)
            return why;
        if (!d->cfg)
            return "virtio-input without a device config";
        virtio_driver_ok(d);
        char name[64];
        input_string(d, 1, name, sizeof name);
        out("input: %s '%s'\n", names[n], name);
        events[n] = dma_alloc(8 * INPUT_BUFFERS, 64, 1);
        for (u32 i = 0; i < INPUT_BUFFERS; i++) {
            struct vbuf b = { (u64)&events[n][2 * i], 8, 1 };
            vq_add(&d->q[0], &b, 1);
        }
        vq_kick(&d->q[0]);
    }
    /* ABS_INFO for ABS_X on the tablet: min, max. */
    mmio_write8(inputs[1].cfg, 0x12);
    mmio_write8(inputs[1].cfg + 1, 0);
    out("input: tablet x %u..%u\n", (u64)mmio_read32(inputs[1].cfg + 8), (u64)mmio_read32(inputs[1].cfg + 12));
    out("input: ready\n");
    for (u64 seen = 0; seen < want;) {
        int any = 0;
        for (u32 n = 0; n < 2; n++) {
            u32 len = 0;
            int id = vq_used(&inputs[n].q[0], &len);
            if (id < 0)
                continue;
            any = 1;
            u32 *e = (u32 *)inputs[n].q[0].desc[id].addr;   /* the buffer this descriptor carried */
            u32 type = e[0] & 0xffff, code = e[0] >> 16, value = e[1];
            if (len != 8)
                return "an input event that is not 8 bytes";
            if (type != 0) {
                static const char *const kinds[4] = { "syn", "key", "rel", "abs" };
                out("input: %s %u %u\n", type < 4 ? kinds[type] : "other", (u64)code, (u64)value);
                seen++;
            }
            struct vbuf b = { (u64)e, 8, 1 };
            vq_add(&inputs[n].q[0], &b, 1);
            vq_kick(&inputs[n].q[0]);
        }
        if (!any) {
            /* Sleep until the next interrupt (an event's, or the 100 Hz tick), unless one came since we looked. */
            cli();
            if (inputs[0].q[0].last_used == inputs[0].q[0].used[1] && inputs[1].q[0].last_used == inputs[1].q[0].used[1])
                sti_hlt();
            else
                sti();
        }
    }
    out("input: %u events\n", want);
    return 0;
}

const char *run_display(void)
{
    ticker_start();
    const char *why = virtio_find(&dev, 16, "virtio-gpu");
    if (!why)
        why = virtio_start(&dev, 0);
    for (u32 i = 0; !why && i < 2; i++)
        why = virtio_queue(&dev, i, 64, (u16)(1 + i));
    if (why)
        return why;
    virtio_driver_ok(&dev);
    req_buf = dma_alloc(64, 64, 1);
    resp_buf = dma_alloc(512, 64, 1);

    struct gpu_hdr info = { GPU_GET_DISPLAY_INFO, 0, 0, 0, 0, { 0 } };
    if (gpu_cmd(&info, sizeof info, 24 + 16 * 24) != GPU_OK_DISPLAY_INFO)
        return "GET_DISPLAY_INFO refused";
    u32 heads = 0;
    for (u32 i = 0; i < 16; i++)
        heads += ((u32 *)(resp_buf + 24 + 24 * i))[4] != 0;
    u64 w = ((u32 *)(resp_buf + 24))[2], h = ((u32 *)(resp_buf + 24))[3];
    out("display: %u heads, head 0 %ux%u\n", (u64)heads, w, h);
    arg_u64("width", &w);
    arg_u64("height", &h);
    if (w < 1 || h < 1 || w > 4096 || h > 4096)
        return "width and height must be 1..4096";

    u64 shown = 1;
    arg_u64("heads", &shown);
    if (shown < 1 || shown > heads)
        return "heads must be 1..the heads the device offers";
    u32 *pixels = pattern((u32)w, (u32)h, (u32)shown + ANIMATION_ROWS);
    attach_req = dma_alloc(sizeof(struct gpu_hdr) + 8 + 16 * (((u64)w * h * 4 + PIECE - 1) / PIECE), 64, 1);
    if (!pixels || !attach_req)
        return "no memory for the pattern";
    /* Head k shows the pattern from row k on: pixel (x, y) there is pattern(x, y + k). */
    for (u32 k = 0; k < shown; k++)
        if ((why = make_resource(10 + k, (u32)w, (u32)h, pixels + (u64)w * k)) || (why = show(k, 10 + k, (u32)w, (u32)h)))
            return why;
    u64 w2 = 0, h2 = 0;
    if (arg_u64("rewidth", &w2) && arg_u64("reheight", &h2)) {
        if (w2 < 1 || h2 < 1 || w2 > 4096 || h2 > 4096)
            return "rewidth and reheight must be 1..4096";
        u32 *second = pattern((u32)w2, (u32)h2, 0);
        attach_req = dma_alloc(sizeof(struct gpu_hdr) + 8 + 16 * ((w2 * h2 * 4 + PIECE - 1) / PIECE), 64, 1);
        if (!second || !attach_req)
            return "no memory for the second pattern";
        if ((why = make_resource(2, (u32)w2, (u32)h2, second)) || (why = show(0, 2, (u32)w2, (u32)h2)))
            return why;
        u32 id1[2] = { 10, 0 };
        if (simple(GPU_RESOURCE_DETACH_BACKING, id1, 2) != GPU_OK_NODATA || simple(GPU_RESOURCE_UNREF, id1, 2) != GPU_OK_NODATA)
            return "the first resource could not be released";
    }

    /* Hostile: a 65536 x 65536 resource (16 GiB) must be refused, as must a transfer outside a resource.
     * hostile=0 leaves this out, for VMMs compared in the benchmark that accept the first (QEMU 7.2 does). */
    u64 hostile = 1;
    arg_u64("hostile", &hostile);
    if (hostile) {
        u32 huge[4] = { 9, GPU_FORMAT_B8G8R8X8, 65536, 65536 };
        u32 answer = simple(GPU_RESOURCE_CREATE_2D, huge, 4);
        if (answer == GPU_OK_NODATA || answer == 0)
            return "a 65536x65536 resource was accepted";
        u32 outside[8] = { 0xfffffff0, 0, 0x20, 1, 0, 0, w2 ? 2 : 10, 0 };
        u32 answer2 = simple(GPU_TRANSFER_TO_HOST_2D, outside, 8);
        if (answer2 == GPU_OK_NODATA || answer2 == 0)
            return "a transfer outside the resource was accepted";
        out("display: hostile commands refused 0x%x 0x%x\n", (u64)answer, (u64)answer2);
    }
    out("display: ready\n");
    u64 animated = 0;
    if (arg_u64("animate", &animated) && animated) {
        if (w2)
            return "animate shows the first size: no rewidth with it";
        out("display: animating %u heads\n", shown);
        return animate((u32)shown, (u32)w, (u32)h, pixels);
    }
    u64 events = 0;
    if (!arg_u64("input", &events))
        for (;;)
            sti_hlt();
    return run_input(events);
}
