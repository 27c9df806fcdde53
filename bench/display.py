#!/usr/bin/env python3
"""Display: Sharpvisor's virtio-gpu + VNC server against QEMU 7.2's, same test guest, same client, same run.

usage: python3 bench/display.py [-n RUNS] [--no-build] [--only CASE,...] [--window S] [--warmup S] [--presses N]
                                [--out DIR] [--keep]
  -n RUNS      runs per case and VMM (default 3), ours and QEMU alternating (ours first in odd runs)
  --no-build   reuse OUT/aot/sharpvisor and OUT/guest/testguest.elf from an earlier run
  --only       a comma-separated subset of: fps1, fps4, keys
  --window S   seconds counted per encoding (default 10), after --warmup S (default 2) with the clients streaming
  --presses N  key presses per keys run (default 60; the guest passes after 200 events)
  --out        where builds, raw data and failed runs' logs go (default <repo>/artifacts/bench/display)
  --keep       keep every run's logs (default: only failed runs')
Environment: QEMU (default qemu-system-x86_64).

Guest: the repo's test guest (guests/testguest), ours `sharpvisor run --kernel testguest.elf`, QEMU -M q35 (SeaBIOS
boots the PVH ELF and places the BARs) with virtio-gpu-pci and -vnc on unix sockets, one per head.

Cases:
  fps1  `display heads=1 width=1920 height=1080 animate=1`: the guest redraws its whole screen for ever (re-backs the
        resource one row further down its pattern, TRANSFER_TO_HOST_2D whole, RESOURCE_FLUSH whole; every pixel
        changes each frame). Once it prints `display: animating`, for each encoding in turn (Raw, ZRLE, Tight) one
        client connects to head 0 and streams: one incremental FramebufferUpdateRequest for the whole screen
        always outstanding (the next sent as soon as an update has been read). Counted over --window seconds after
        --warmup: screen equivalents per second (sum of the rectangles' areas / the screen's), bytes received per
        screen equivalent, the guest's own frame rate (its `display: frames N` lines), the VMM's VmRSS at the end
        of each window and VmHWM at the end of the run.
  fps4  the same with heads=4 and four clients at once, one per head (per-head fps: median head and slowest).
        QEMU 7.2's virtio-gpu enables only output 0 until a UI reports a size for the others, and its VNC server
        does so only for a client's SetDesktopSize: right after QEMU starts, this script connects to heads 1..3,
        sends SetDesktopSize 1920x1080 and leaves, so the guest's GET_DISPLAY_INFO finds four heads (ours offers
        the --display heads without that).
  keys  `display input=200 width=640 height=480`: a client sends KeyEvent down, waits for the guest's serial line
        `input: key C 1`, then up and `input: key C 0`, --presses times, 10 ms apart; latency = send to the line on
        the VMM's stdout (the script's clock; the line's end as the reader thread sees it).

The RFB client is this script's own (standard library): RFB 3.8, security None, ClientInit shared, SetPixelFormat
32 bpp depth 24 true colour little-endian (red shift 16), SetEncodings with only the encoding under test (no
pseudo-encodings: no JPEG quality level, so Tight is lossless in both), rectangles parsed to their ends (Raw,
ZRLE, Tight fill / JPEG / basic with copy, palette and gradient filters); anything else stops the run with an
error. Prints a markdown section for docs/benchmarks.md on stdout; progress on stderr.
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from migration import (Failure, Proc, command_output, host_lines, prepare, run_one, connect_unix, kill_all, log, now,  # noqa: E402
                       shell_join)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH, HEIGHT = 1920, 1080
MEMORY_MIB = 256
ENCODINGS = [("Raw", 0), ("ZRLE", 16), ("Tight", 7)]
READY_TIMEOUT_S = 180


# --- the RFB client -----------------------------------------------------------------------------------------------

class Rfb:
    """One RFB 3.8 client on a unix socket: handshake, security None, shared, 32 bpp depth 24 little-endian."""

    def __init__(self, path, encodings, timeout=30):
        self.s = connect_unix(path, timeout, poll=0.01)
        self.s.settimeout(timeout)
        self.f = self.s.makefile("rb", buffering=1 << 20)
        self.scratch = memoryview(bytearray(4 << 20))
        self.bytes = 0
        self.tight_kinds = {}
        version = self.read(12)
        if not version.startswith(b"RFB 003."):
            raise Failure(f"{path}: not an RFB server: {version!r}")
        self.send(b"RFB 003.008\n")
        n = self.read(1)[0]
        if n == 0:
            raise Failure(f"{path}: refused: {self.read(self.u32()).decode('utf-8', 'replace')}")
        types = self.read(n)
        if 1 not in types:
            raise Failure(f"{path}: security types {list(types)} without None")
        self.send(b"\x01")
        if self.u32() != 0:
            raise Failure(f"{path}: security failed")
        self.send(b"\x01")                                   # ClientInit: shared
        self.width, self.height = struct.unpack(">HH", self.read(4))
        self.read(16)
        self.name = self.read(self.u32()).decode("utf-8", "replace")
        # SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, maxima 255, shifts R 16 G 8 B 0.
        self.send(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        self.send(struct.pack(">BxH", 2, len(encodings)) + b"".join(struct.pack(">i", e) for e in encodings))

    def send(self, data):
        self.s.sendall(data)

    def read(self, n):
        data = self.f.read(n)
        if len(data) != n:
            raise Failure("the server closed the connection")
        self.bytes += n
        return data

    def skip(self, n):
        while n > 0:
            k = self.f.readinto(self.scratch[:min(n, len(self.scratch))])
            if not k:
                raise Failure("the server closed the connection")
            n -= k
            self.bytes += k

    def u32(self):
        return struct.unpack(">I", self.read(4))[0]

    def request(self, incremental):
        self.send(struct.pack(">BBHHHH", 3, 1 if incremental else 0, 0, 0, self.width, self.height))

    def key(self, keysym, down):
        self.send(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def compact(self):
        b = self.read(1)[0]
        n = b & 0x7F
        if b & 0x80:
            b = self.read(1)[0]
            n |= (b & 0x7F) << 7
            if b & 0x80:
                n |= self.read(1)[0] << 14
        return n

    def tight(self, w, h):
        control = self.read(1)[0]
        kind = control >> 4
        if kind == 8:                                        # fill: one TPIXEL (3 bytes at 32 bpp depth 24)
            self.tight_kinds["fill"] = self.tight_kinds.get("fill", 0) + 1
            self.skip(3)
            return
        if kind == 9:                                        # JPEG
            self.tight_kinds["jpeg"] = self.tight_kinds.get("jpeg", 0) + 1
            self.skip(self.compact())
            return
        if kind > 9:
            raise Failure(f"Tight compression type {kind} (PNG or invalid) not expected")
        filter_id = self.read(1)[0] if kind & 4 else 0
        if filter_id == 0:
            size, name = w * h * 3, "copy"
        elif filter_id == 1:
            colours = self.read(1)[0] + 1
            self.skip(colours * 3)
            size, name = (((w + 7) // 8) * h if colours == 2 else w * h), "palette"
        elif filter_id == 2:
            size, name = w * h * 3, "gradient"
        else:
            raise Failure(f"Tight filter {filter_id} unknown")
        self.tight_kinds[name] = self.tight_kinds.get(name, 0) + 1
        self.skip(size if size < 12 else self.compact())

    def message(self):
        """Reads one server message; the area of a FramebufferUpdate's rectangles, or None for anything else."""
        kind = self.read(1)[0]
        if kind == 0:
            count = struct.unpack(">xH", self.read(3))[0]
            area = 0
            self.last_rects = count
            for _ in range(count):
                x, y, w, h, enc = struct.unpack(">HHHHi", self.read(12))
                if enc == 0:
                    self.skip(w * h * 4)
                elif enc == 16:
                    self.skip(self.u32())
                elif enc == 7:
                    self.tight(w, h)
                else:
                    raise Failure(f"rectangle encoding {enc} not asked for")
                if x + w > self.width or y + h > self.height:
                    raise Failure(f"rectangle {w}x{h}+{x}+{y} outside the {self.width}x{self.height} screen")
                area += w * h
            return area
        if kind == 1:                                        # SetColourMapEntries
            _, _, n = struct.unpack(">xHH", self.read(5))
            self.skip(6 * n)
        elif kind == 2:                                      # Bell
            pass
        elif kind == 3:                                      # ServerCutText
            self.read(3)
            self.skip(self.u32())
        else:
            raise Failure(f"server message type {kind} unknown")
        return None

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.f.close()
        self.s.close()


class Streamer(threading.Thread):
    """Streams the whole screen until `stop_at`: one incremental request outstanding; records each update's end."""

    def __init__(self, path, encoding):
        super().__init__(daemon=True)
        self.path, self.encoding = path, encoding
        self.updates = []            # (time the update's last byte was read, area, bytes received so far)
        self.rects = []              # (same time, rectangles in that update)
        self.error = None
        self.client = None
        self.stop_at = None
        self.connected = threading.Event()

    def run(self):
        try:
            self.client = c = Rfb(self.path, [self.encoding])
            if (c.width, c.height) != (WIDTH, HEIGHT):
                raise Failure(f"{self.path}: screen {c.width}x{c.height}, not {WIDTH}x{HEIGHT}")
            self.connected.set()
            c.request(False)
            while self.stop_at is None or now() < self.stop_at:
                area = c.message()
                if area is None:
                    continue
                t = now()
                c.request(True)
                self.updates.append((t, area, c.bytes))
                self.rects.append((t, c.last_rects))
        except Exception as e:  # noqa: BLE001 - reported by the run
            self.error = f"{self.path}: {e}"
        finally:
            self.connected.set()
            if self.client:
                self.client.close()

    def window(self, t0, t1):
        """Screen equivalents per second and bytes per screen equivalent over (t0, t1]."""
        screen = WIDTH * HEIGHT
        area = sum(a for t, a, _ in self.updates if t0 < t <= t1)
        before = [b for t, _, b in self.updates if t <= t0]
        inside = [b for t, _, b in self.updates if t <= t1]
        if not before or not inside:
            raise Failure(f"{self.path}: no update before the window or in it")
        screens = area / screen
        counts = [n for t, n in self.rects if t0 < t <= t1]
        self.rects_per_update = sum(counts) / len(counts) if counts else None
        return screens / (t1 - t0), ((inside[-1] - before[-1]) / screens if screens else None)


# --- the VMMs -------------------------------------------------------------------------------------------------------

class Env:
    def __init__(self, sv, qemu, guest):
        self.sv, self.qemu, self.guest = sv, qemu, guest

    def ours(self, scenario, heads, size, vnc):
        return [self.sv, "run", "--kernel", self.guest, "--memory", f"{MEMORY_MIB}M", "--serial", "stdio",
                "--cmdline", scenario, "--display", f"heads={heads},size={size[0]}x{size[1]},vnc={vnc}"]

    def qemu_cmd(self, scenario, heads, size, vnc, keys=False):
        argv = [self.qemu, "-enable-kvm", "-M", "q35", "-nodefaults", "-no-user-config", "-display", "none",
                "-serial", "stdio", "-m", str(MEMORY_MIB), "-kernel", self.guest, "-append", scenario,
                "-device", f"virtio-gpu-pci,id=video0,max_outputs={heads},xres={size[0]},yres={size[1]}"]
        if keys:
            argv += ["-device", "virtio-keyboard-pci", "-device", "virtio-tablet-pci"]
        for k in range(heads):
            argv += ["-vnc", f"unix:{vnc_path(vnc, k)},id=vnc{k},display=video0,head={k}"]
        return argv


def vnc_path(base, head):
    """Head 0's socket is `base`, head k's `base.k` (ours' naming; QEMU's -vnc options are given the same)."""
    return base if head == 0 else f"{base}.{head}"


def status_kib(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


FRAMES = re.compile(r"^display: frames (\d+)$")


def guest_fps(proc, t0, t1, t_animating=None):
    """The guest's own frame rate from its `display: frames N` lines stamped in [t0, t1] (None with fewer than 2
    points); with t_animating, the `display: animating` line counts as frame 0."""
    points = [(t_animating, 0)] if t_animating is not None else []
    points += [(t, int(m.group(1))) for t, text, c in proc.snapshot_lines() if c and t0 <= t <= t1
               and (m := FRAMES.match(text))]
    if len(points) < 2:
        return None
    return (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])


def enable_qemu_heads(base, heads, deadline_s=20):
    """QEMU: SetDesktopSize WIDTHxHEIGHT on heads 1..heads-1 so its virtio-gpu reports them enabled."""
    for k in range(1, heads):
        c = Rfb(vnc_path(base, k), [0], timeout=deadline_s)
        # SetDesktopSize: type 251, pad, width, height, 1 screen, pad; screen id 0 at 0,0 WxH, flags 0.
        c.send(struct.pack(">BxHHBxIHHHHI", 251, WIDTH, HEIGHT, 1, 0, 0, 0, WIDTH, HEIGHT, 0))
        time.sleep(0.05)
        c.close()


def fps_run(env, vmm, heads, work, args):
    vnc = os.path.join(work, "vm.vnc")
    scenario = f"display heads={heads} width={WIDTH} height={HEIGHT} hostile=0 animate=1"
    if vmm == "ours":
        argv = env.ours(scenario, heads, (WIDTH, HEIGHT), vnc)
    else:
        argv = env.qemu_cmd(scenario, heads, (WIDTH, HEIGHT), vnc)
    budget = READY_TIMEOUT_S + 60 + len(ENCODINGS) * (args.warmup + args.window + 40)
    proc = Proc(vmm, argv, work, limit=budget)
    try:
        if vmm == "qemu" and heads > 1:
            enable_qemu_heads(vnc, heads)
        t_start = now()
        i = proc.wait_line(lambda t: t.startswith("display: animating"), READY_TIMEOUT_S, what="`display: animating`")
        t_animating = proc.snapshot_lines()[i][0]
        result = {"setup_s": now() - t_start}
        for name, enc in ENCODINGS:
            streamers = [Streamer(vnc_path(vnc, k), enc) for k in range(heads)]
            for s in streamers:
                s.start()
            for s in streamers:
                s.connected.wait(60)
            # The window starts --warmup seconds after every client has had its first update (QEMU's slowest
            # encoders take seconds for one 1080p update when four heads share the machine).
            deadline = now() + 60
            while not all(s.updates or not s.is_alive() for s in streamers) and now() < deadline:
                time.sleep(0.01)
            t0 = now() + args.warmup
            t1 = t0 + args.window
            for s in streamers:
                s.stop_at = t1 + 0.001
            while now() < t1 and all(s.is_alive() for s in streamers):
                time.sleep(0.05)
            mem = status_kib(proc.p.pid)
            for s in streamers:
                s.join(40)
            errors = [s.error for s in streamers if s.error] + [f"{s.path}: client stuck" for s in streamers
                                                                if s.is_alive()]
            if errors:
                raise Failure("; ".join(errors))
            per_head = [s.window(t0, t1) for s in streamers]
            kinds = {}
            for s in streamers:
                for k, v in s.client.tight_kinds.items():
                    kinds[k] = kinds.get(k, 0) + v
            result[name] = {"fps": [f for f, _ in per_head], "bytes_per_screen": [b for _, b in per_head],
                            "guest_fps": guest_fps(proc, t0, t1), "rss_kib": mem.get("VmRSS"),
                            "tight_kinds": kinds, "rects_per_update": [s.rects_per_update for s in streamers]}
            if proc.p.poll() is not None:
                raise Failure(f"{vmm} exited; {proc.tail()}")
        result["guest_fps_all"] = guest_fps(proc, t_animating, now(), t_animating)
        result["hwm_kib"] = status_kib(proc.p.pid).get("VmHWM")
        for text in (t for _, t, _ in proc.snapshot_lines()):
            if "FAIL" in text:
                raise Failure(f"the guest printed {text!r}")
        return result
    finally:
        proc.stop()


KEY = re.compile(r"^input: key (\d+) ([01])$")


def keys_run(env, vmm, work, args):
    vnc = os.path.join(work, "vm.vnc")
    scenario = "display input=200 width=640 height=480 hostile=0"
    if vmm == "ours":
        argv = env.ours(scenario, 1, (640, 480), vnc)
    else:
        argv = env.qemu_cmd(scenario, 1, (640, 480), vnc, keys=True)
    proc = Proc(vmm, argv, work, limit=READY_TIMEOUT_S + 120 + args.presses)
    client = None
    try:
        proc.wait_line(lambda t: t == "input: ready", READY_TIMEOUT_S, what="`input: ready`")
        client = Rfb(vnc, [0])
        drain = threading.Thread(target=lambda: _drain(client), daemon=True)
        drain.start()
        time.sleep(0.5)
        down, up, codes = [], [], set()
        for _ in range(args.presses):
            for pressed, into in ((True, down), (False, up)):
                mark = len(proc.snapshot_lines())
                t0 = now()
                client.key(0x61, pressed)
                i = proc.wait_line(lambda t: (m := KEY.match(t)) is not None and m.group(2) == ("1" if pressed else "0"),
                                   10, start=mark, what=f"the guest's key {'down' if pressed else 'up'} line")
                t, text, _ = proc.snapshot_lines()[i]
                into.append((t - t0) * 1000)
                codes.add(int(KEY.match(text).group(1)))
            time.sleep(0.01)
        return {"down_ms": down, "up_ms": up, "codes": sorted(codes)}
    finally:
        if client:
            client.close()
        proc.stop()


def _drain(client):
    try:
        while True:
            client.message()
    except Exception:  # noqa: BLE001 - the socket closed
        pass


# --- driver -----------------------------------------------------------------------------------------------------------

def summary(r):
    if "down_ms" in r:
        return (f"down median {statistics.median(r['down_ms']):.2f} ms, up median {statistics.median(r['up_ms']):.2f} ms,"
                f" codes {r['codes']}")
    parts = [f"setup {r['setup_s']:.1f} s"]
    for name, _ in ENCODINGS:
        e = r[name]
        parts.append(f"{name}: fps {'/'.join(f'{f:.1f}' for f in e['fps'])}, "
                     f"{fmt(med(e['bytes_per_screen']) / 1e6 if e['bytes_per_screen'][0] else None, 3)} MB/screen, "
                     f"guest {fmt(e['guest_fps'])} fps, rss {e['rss_kib']} KiB {e['tight_kinds'] or ''}")
    parts.append(f"guest overall {fmt(r['guest_fps_all'])} fps, hwm {r['hwm_kib']} KiB")
    return "; ".join(parts)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else None


def cell(values, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def ratio(a, b, digits=2):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.{digits}f}"


def report(args, env, results, began, ended, load_before, load_after, only):
    o = []
    p = o.append
    p("## Display: virtio-gpu + VNC vs QEMU (issue 15)")
    p("")
    o.extend(host_lines(env, began, ended, load_before, load_after))
    p(f"- Runs: {args.runs} per case and VMM, ours and QEMU alternating (ours first in odd runs), one VMM at a time; "
      f"fps counted over {args.window:g} s per encoding after {args.warmup:g} s of streaming")
    p(f"- Command: `{' '.join(['python3', 'bench/display.py', *args.argv])}`")
    p("")
    p("Commands (W = a fresh directory under /tmp per run; SCENARIO per case below):")
    p("")
    p("    ours: " + shell_join(env.ours("SCENARIO", 4, (WIDTH, HEIGHT), "W/vm.vnc")).replace("heads=4", "heads=N"))
    p("    QEMU: " + shell_join(env.qemu_cmd("SCENARIO", 1, (WIDTH, HEIGHT), "W/vm.vnc")).replace(
        "max_outputs=1", "max_outputs=N") + " [-vnc unix:W/vm.vnc.K,id=vncK,display=video0,head=K for K < N]")
    p("    keys: both with 640x480 (size=640x480; xres=640,yres=480) and QEMU with "
      "-device virtio-keyboard-pci -device virtio-tablet-pci after the GPU")
    p("")
    return o


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--only", default="fps1,fps4,keys")
    parser.add_argument("--window", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--out", default=os.path.join(REPO, "artifacts", "bench", "display"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    if args.runs < 1 or args.presses < 1 or args.presses > 99:
        parser.error("-n must be at least 1, --presses 1..99")
    only = [s for s in args.only.split(",") if s]
    unknown = [s for s in only if s not in ("fps1", "fps4", "keys")]
    if unknown:
        parser.error(f"unknown case(s) {unknown}")
    env = prepare(args, "display.py", Env)

    began = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    results = {}
    cases = []
    if "fps1" in only:
        cases.append(("fps1", lambda vmm, w: fps_run(env, vmm, 1, w, args)))
    if "fps4" in only:
        cases.append(("fps4", lambda vmm, w: fps_run(env, vmm, 4, w, args)))
    if "keys" in only:
        cases.append(("keys", lambda vmm, w: keys_run(env, vmm, w, args)))
    try:
        with open(os.path.join(args.out, "runs", "data.jsonl"), "w") as data:
            for key, fn in cases:
                log(f"case {key}")
                for i in range(1, args.runs + 1):
                    order = ["ours", "qemu"] if i % 2 else ["qemu", "ours"]
                    for vmm in order:
                        run_one(f"{key} {vmm}", lambda w, vmm=vmm, fn=fn: fn(vmm, w), args, results, data,
                                describe=summary, prefix="sv-dispbench-")
    except KeyboardInterrupt:
        log("interrupted")
        kill_all()
        sys.exit(130)
    finally:
        kill_all()
    ended = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_after = " ".join(open("/proc/loadavg").read().split()[:3])
    o = report(args, env, results, began, ended, load_before, load_after, only)
    o += tables(results, only)
    print("\n".join(o))


def tables(results, only):
    o = []
    p = o.append

    def runs(label):
        ok, failed = len(results.get(label, [])), len(results.get(label + ":failed", []))
        return f"{ok}/{ok + failed}"

    def per_run(label, fn):
        return [fn(r) for r in results.get(label, [])]

    targets = []
    for key, heads in (("fps1", 1), ("fps4", 4)):
        if key not in only:
            continue
        p(f"### {heads} head{'s' if heads > 1 else ''}, {WIDTH}x{HEIGHT}, full-screen animation: "
          f"`display heads={heads} width={WIDTH} height={HEIGHT} animate=1`")
        p("")
        p(f"Runs ok: ours {runs(key + ' ours')}, QEMU {runs(key + ' qemu')}. Cells: median over runs (min–max)"
          + ("; per run, the median head's fps and the slowest head's." if heads > 1 else "."))
        p("")
        p("| encoding | metric | ours | QEMU | ours/QEMU |")
        p("|---|---|---:|---:|---:|")
        for name, _ in ENCODINGS:
            rows = []
            if heads == 1:
                rows.append(("delivered fps (screens/s)", lambda r: r[name]["fps"][0], 1))
                rows.append(("bytes per frame, MB", lambda r: (r[name]["bytes_per_screen"][0] or 0) / 1e6, 3))
            else:
                rows.append(("delivered fps per head, median head", lambda r: statistics.median(r[name]["fps"]), 1))
                rows.append(("delivered fps per head, slowest head", lambda r: min(r[name]["fps"]), 1))
                rows.append(("bytes per frame, MB (median head)",
                             lambda r: med(r[name]["bytes_per_screen"]) / 1e6, 3))
            rows.append(("rectangles per update (mean; median head)", lambda r: med(r[name]["rects_per_update"]), 1))
            rows.append(("guest's own frames/s (`display: frames N`)", lambda r: r[name]["guest_fps"], 1))
            if heads == 1:
                rows.append(("VMM VmRSS at the window's end, MiB",
                             lambda r: (r[name]["rss_kib"] or 0) / 1024, 1))
            for metric, fn, digits in rows:
                a = per_run(f"{key} ours", fn)
                b = per_run(f"{key} qemu", fn)
                p(f"| {name} | {metric} | {cell(a, digits)} | {cell(b, digits)} | {ratio(med(a), med(b))} |")
            kinds_o = [r[name]["tight_kinds"] for r in results.get(f"{key} ours", [])]
            kinds_q = [r[name]["tight_kinds"] for r in results.get(f"{key} qemu", [])]
            if name == "Tight" and (kinds_o or kinds_q):
                p(f"| Tight | rectangle kinds seen (last run) | {fmt_kinds(kinds_o)} | {fmt_kinds(kinds_q)} | |")
            if heads == 1:
                a = med(per_run(f"{key} ours", lambda r: r[name]["fps"][0]))
                b = med(per_run(f"{key} qemu", lambda r: r[name]["fps"][0]))
                targets.append((f"1 head, {name}: fps ahead of QEMU", f"ours {fmt(a)}, QEMU {fmt(b)}",
                                None if a is None or b is None else a > b))
                a = med(per_run(f"{key} ours", lambda r: r[name]["bytes_per_screen"][0]))
                b = med(per_run(f"{key} qemu", lambda r: r[name]["bytes_per_screen"][0]))
                targets.append((f"1 head, {name}: bytes per frame below QEMU's",
                                f"ours {fmt(a and a / 1e6, 3)} MB, QEMU {fmt(b and b / 1e6, 3)} MB",
                                None if a is None or b is None else a < b))
            else:
                a = med(per_run(f"{key} ours", lambda r: min(r[name]["fps"])))
                b = med(per_run(f"{key} qemu", lambda r: min(r[name]["fps"])))
                targets.append((f"4 heads, {name}: at least 30 fps per head (ours, slowest head)", f"{fmt(a)}",
                                None if a is None else a >= 30))
                targets.append((f"4 heads, {name}: fps ahead of QEMU (slowest head)",
                                f"ours {fmt(a)}, QEMU {fmt(b)}", None if a is None or b is None else a > b))
        hwm_o = per_run(f"{key} ours", lambda r: (r["hwm_kib"] or 0) / 1024)
        hwm_q = per_run(f"{key} qemu", lambda r: (r["hwm_kib"] or 0) / 1024)
        setup_o = per_run(f"{key} ours", lambda r: r["setup_s"])
        setup_q = per_run(f"{key} qemu", lambda r: r["setup_s"])
        g_o = per_run(f"{key} ours", lambda r: r["guest_fps_all"])
        g_q = per_run(f"{key} qemu", lambda r: r["guest_fps_all"])
        p(f"| all | guest's own frames/s from `display: animating` to the last window's end | {cell(g_o)} | {cell(g_q)} | "
          f"{ratio(med(g_o), med(g_q))} |")
        p(f"| all | VMM VmHWM at the run's end, MiB | {cell(hwm_o)} | {cell(hwm_q)} | {ratio(med(hwm_o), med(hwm_q))} |")
        p(f"| all | start to `display: animating`, s | {cell(setup_o)} | {cell(setup_q)} | "
          f"{ratio(med(setup_o), med(setup_q))} |")
        p("")
        for label in (f"{key} ours", f"{key} qemu"):
            for err in results.get(label + ":failed", []):
                p(f"- failed run, {label}: {err}")
        if results.get(f"{key} ours:failed") or results.get(f"{key} qemu:failed"):
            p("")
    if "keys" in only:
        p("### Key press to the guest: `display input=200 width=640 height=480`")
        p("")
        p(f"Runs ok: ours {runs('keys ours')}, QEMU {runs('keys qemu')}. Latencies pooled over all runs' presses.")
        p("")
        p("| metric | ours | QEMU | ours/QEMU |")
        p("|---|---:|---:|---:|")
        for what, key in (("key down", "down_ms"), ("key up", "up_ms"), ("both", None)):
            def pool(label):
                vals = []
                for r in results.get(label, []):
                    vals += r[key] if key else r["down_ms"] + r["up_ms"]
                return vals
            a, b = pool("keys ours"), pool("keys qemu")
            for stat, f in (("median", lambda v: statistics.median(v) if v else None), ("p90", lambda v: pct(v, 90))):
                p(f"| {what}: KeyEvent sent to the guest's line, {stat}, ms (n={len(a)}/{len(b)}) | {fmt(f(a), 2)} | "
                  f"{fmt(f(b), 2)} | {ratio(f(a), f(b))} |")
        codes = lambda label: sorted({c for r in results.get(label, []) for c in r["codes"]})
        p(f"| key code the guest saw for keysym 0x61 ('a') | {codes('keys ours')} | {codes('keys qemu')} | |")
        p("")
        for label in ("keys ours", "keys qemu"):
            for err in results.get(label + ":failed", []):
                p(f"- failed run, {label}: {err}")
        p("")
    p("### Targets (issue 15)")
    p("")
    p("| target (issue) | measured | result |")
    p("|---|---|---|")
    for name, measured, ok in targets:
        p(f"| {name} | {measured} | {'n/a (not measured)' if ok is None else ('PASS' if ok else 'MISS')} |")
    p("")
    return o


def fmt_kinds(kinds):
    if not kinds:
        return "-"
    last = kinds[-1]
    return ", ".join(f"{k} {v}" for k, v in sorted(last.items())) or "none"


if __name__ == "__main__":
    main()
