#!/usr/bin/env python3
"""Live migration and snapshots: Sharpvisor against QEMU 7.2 microvm, same test guest, same host, same run.

usage: python3 bench/migration.py [-n RUNS] [--no-build] [--only CASE,...] [--out DIR] [--keep]
  -n RUNS      runs per case and VMM (default 5), ours and QEMU alternating (ours first in odd runs)
  --no-build   reuse OUT/aot/sharpvisor and OUT/guest/testguest.elf from an earlier run
  --only       a comma-separated subset of: idle, dirty100, fast, kvmclock, kvmclock1, snapshot
  --out        where builds, raw data and failed runs' logs go (default <repo>/artifacts/bench/migration)
  --keep       keep every run's logs (default: only failed runs')
Environment: QEMU (default qemu-system-x86_64).

Cases (every guest 1 GiB; ours: `sharpvisor run`, the built-in test guest; QEMU: -M microvm,rtc=on on the same ELF,
so the idle guest's CMOS reads find an RTC as they do in ours):
  idle      `idle`, 1 vCPU
  dirty100  `generation mib=100 period_ms=1000 every=1` (100 MiB dirtied per second), 1 vCPU
  fast      `generation mib=64 cpus=2 every=1`, 2 vCPUs (the guest dirties about 400 MiB/s here), both VMMs capped
            at 32 MiB/s (33554432 bytes/s) with auto-converge on
  kvmclock  `kvmclock every=10`: the guest prints its kvmclock every 10 ms; the gap it sees across the switch
  kvmclock1 `kvmclock every=1`: the same every 1 ms (the host-side gap to 1 ms instead of 10)
  snapshot  ours `snapshot` on the control socket, QEMU stop + migrate to `exec:cat > FILE` + cont; restore is
            exec to the first line the restored guest prints (ours `run --restore FILE`, QEMU
            `-incoming "exec:cat FILE"`, then `cont` over QMP once loaded: the stream says the VM was stopped when
            saved, so QEMU does not start it by itself); two guests:
            `generation mib=100 every=1` and `kvmclock every=1` (prints within 1 ms of running: a first-instruction
            proxy)

Migration, ours: destination `sharpvisor run --incoming W/in.sock`, source `sharpvisor run --control W/ctl.sock`,
`{"command":"migrate","path":"W/out.sock","downtime_ms":300,...}` on the control socket; this script connects to
out.sock and in.sock and relays the bytes both ways (two threads): the relay is in ours' measured path.
QEMU: destination `-incoming unix:W/in.sock`, source driven over QMP (downtime-limit 300 ms; max-bandwidth 10^13
bytes/s, i.e. unlimited like ours, where not capped; QEMU's own default would be 32 MiB/s), migrating straight to
the destination's socket. Every run is checked: ours' source exits 0, the destination's guest goes on (new
`generation` / `kvmclock` lines with no FAIL and no fresh boot; the idle guest: state running, and for ours exit
counters still climbing). Prints a markdown section for docs/benchmarks.md on stdout; progress on stderr.
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
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY_MIB = 1024
DOWNTIME_MS = 300
UNLIMITED_QEMU_BW = 10 ** 13          # bytes/s: QEMU has no "unlimited", its default is 32 MiB/s
CAP_BW = 32 * 1024 * 1024             # case "fast": both VMMs
PROCESS_LIMIT_S = 900                 # hard limit on every process this script starts
ALL_PROCS = []
STOPPING = threading.Event()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def now():
    return time.monotonic()


class Failure(Exception):
    pass


class TimedOut(Failure):
    pass


# --- processes ----------------------------------------------------------------------------------------------------

class Proc:
    """A VMM process: stdin /dev/null, stdout a pipe read by a thread that timestamps every line, stderr to a file.
    Its own session (process group); a watchdog kills the group after `limit` seconds whatever happens."""

    def __init__(self, name, argv, work, limit=PROCESS_LIMIT_S):
        self.name = name
        self.argv = argv
        self.err_path = os.path.join(work, name + ".err")
        self.out_path = os.path.join(work, name + ".out")
        self.lines = []            # (monotonic time the line's end arrived, text, complete)
        self.first_byte = None
        self.cond = threading.Condition()
        self.eof = False
        with open(self.err_path, "wb") as err:
            self.t_exec = now()
            self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                      start_new_session=True)
        ALL_PROCS.append(self)
        self.watchdog = threading.Timer(limit, self.kill)
        self.watchdog.daemon = True
        self.watchdog.start()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        fd = self.p.stdout.fileno()
        partial, partial_t = b"", None
        with open(self.out_path, "wb") as raw:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                t = now()
                if not chunk:
                    break
                raw.write(chunk)
                with self.cond:
                    if self.first_byte is None:
                        self.first_byte = t
                    partial += chunk
                    while b"\n" in partial:
                        line, partial = partial.split(b"\n", 1)
                        self.lines.append((t, line.decode("utf-8", "replace"), True))
                    if partial:
                        partial_t = t          # when the unfinished line's last bytes came
                    self.cond.notify_all()
        with self.cond:
            if partial:
                self.lines.append((partial_t, partial.decode("utf-8", "replace"), False))
            self.eof = True
            self.cond.notify_all()

    def wait_line(self, predicate, timeout, start=0, what="a line"):
        """Index of the first complete line at or after `start` for which predicate(text) holds."""
        deadline = now() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    t, text, complete = self.lines[i]
                    if complete and predicate(text):
                        return i
                    i += 1
                if self.eof:
                    raise Failure(f"{self.name}: output ended (exit {self.p.poll()}) before {what}; {self.tail()}")
                left = deadline - now()
                if left <= 0:
                    raise Failure(f"{self.name}: timed out after {timeout} s waiting for {what}; {self.tail()}")
                self.cond.wait(min(left, 0.5))

    def snapshot_lines(self):
        with self.cond:
            return list(self.lines)

    def tail(self, n=3):
        with self.cond:
            out = " | ".join(text for _, text, _ in self.lines[-n:])
        try:
            with open(self.err_path, "rb") as f:
                err = f.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        except OSError:
            err = []
        return f"last output: [{out}] stderr: [{' | '.join(err)}]"

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"{self.name}: still running {timeout} s later; {self.tail()}")

    def stop(self, grace=10):
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit status."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
        self.finish()
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def finish(self):
        self.watchdog.cancel()
        self.reader.join(timeout=5)
        if self in ALL_PROCS and self.p.poll() is not None:
            ALL_PROCS.remove(self)


def kill_all():
    for p in list(ALL_PROCS):
        p.kill()
        p.finish()


# --- sockets: ours' control socket, QMP, the relay ----------------------------------------------------------------

def connect_unix(path, timeout, poll=0.001):
    deadline = now() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if now() > deadline:
                raise Failure(f"could not connect to {path} within {timeout} s")
            time.sleep(poll)


class LineSocket:
    def __init__(self, path, timeout=30):
        self.s = connect_unix(path, timeout, poll=0.005)
        self.buf = b""

    def send(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")

    def recv(self, timeout):
        deadline = now() + timeout
        while b"\n" not in self.buf:
            left = deadline - now()
            if left <= 0:
                raise TimedOut(f"no reply within {timeout} s")
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                raise TimedOut(f"no reply within {timeout} s")
            if not chunk:
                raise Failure("the socket closed before a reply")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj, timeout=30):
        self.send(obj)
        reply = self.recv(timeout)
        if not reply.get("ok"):
            raise Failure(f"{obj.get('command')}: {reply.get('error')}")
        return reply["result"]

    def close(self):
        self.s.close()


class Qmp(LineSocket):
    def __init__(self, path, timeout=30):
        super().__init__(path, timeout)
        self.events = []
        greeting = self.recv(timeout)
        if "QMP" not in greeting:
            raise Failure(f"not a QMP greeting: {greeting}")
        self.execute("qmp_capabilities")

    def execute(self, command, arguments=None, timeout=30):
        message = {"execute": command}
        if arguments is not None:
            message["arguments"] = arguments
        self.send(message)
        deadline = now() + timeout
        while True:
            reply = self.recv(max(0.001, deadline - now()))
            if "event" in reply:
                self.events.append(reply)
            elif "error" in reply:
                raise Failure(f"QMP {command}: {reply['error'].get('desc')}")
            elif "return" in reply:
                return reply["return"]

    def wait_event(self, name, predicate, timeout):
        deadline = now() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and predicate(e.get("data", {})):
                    del self.events[:i + 1]
                    return e
            self.events.clear()
            reply = self.recv(max(0.001, deadline - now()))
            if "event" in reply:
                self.events.append(reply)


class Relay:
    """Connects to the source's and the destination's sockets and carries bytes both ways, as socat would."""

    def __init__(self, source_path, destination_path, timeout):
        self.a = connect_unix(source_path, 60)
        self.b = connect_unix(destination_path, 60)
        self.bytes = [0, 0]
        for s in (self.a, self.b):
            s.settimeout(timeout)
        self.threads = [threading.Thread(target=self._pump, args=(self.a, self.b, 0), daemon=True),
                        threading.Thread(target=self._pump, args=(self.b, self.a, 1), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, src, dst, index):
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        try:
            while True:
                n = src.recv_into(buf)
                if n == 0:
                    break
                dst.sendall(view[:n])
                self.bytes[index] += n
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self, timeout=10):
        for t in self.threads:
            t.join(timeout)
        for s in (self.a, self.b):
            s.close()


# --- the guests and VMM command lines -----------------------------------------------------------------------------

class Env:
    def __init__(self, sv, qemu, guest):
        self.sv = sv
        self.qemu = qemu
        self.guest = guest

    def ours_run(self, cpus, *extra):
        return [self.sv, "run", "--memory", f"{MEMORY_MIB // 1024}G", "--cpus", str(cpus), *extra]

    def qemu_run(self, cpus, scenario, *extra):
        return [self.qemu, "-enable-kvm", "-M", "microvm,rtc=on", "-nodefaults", "-no-user-config", "-display", "none",
                "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-m", str(MEMORY_MIB),
                "-smp", str(cpus), "-kernel", self.guest, "-append", scenario, *extra]


GEN = re.compile(r"^generation: (\d+)$")
CLOCK = re.compile(r"^kvmclock: (\d+)$")


def generation_of(text):
    m = GEN.match(text)
    return int(m.group(1)) if m else None


class Case:
    def __init__(self, key, title, scenario, cpus, ready, settle=0.0, bandwidth=None, auto_converge=False,
                 limit=300, clock_period_ms=None):
        self.key, self.title, self.scenario, self.cpus = key, title, scenario, cpus
        self.clock_period_ms = clock_period_ms
        self.ready, self.settle = ready, settle
        self.bandwidth, self.auto_converge, self.limit = bandwidth, auto_converge, limit


def ready_generation(g):
    return lambda text: (generation_of(text) or 0) >= g


def ready_count(n, pattern):
    seen = [0]

    def predicate(text):
        if pattern.match(text):
            seen[0] += 1
        return seen[0] >= n
    return predicate


CASES = {
    "idle": Case("idle", "idle guest", "idle", 1, lambda t: t == "idle: ready", settle=1.0),
    "dirty100": Case("dirty100", "guest dirtying 100 MiB/s", "generation mib=100 period_ms=1000 every=1", 1,
                     ready_generation(3)),
    "fast": Case("fast", "guest dirtying faster than a 32 MiB/s link, auto-converge",
                 "generation mib=64 cpus=2 every=1",
                 2, ready_generation(5), bandwidth=CAP_BW, auto_converge=True, limit=600),
    "kvmclock": Case("kvmclock", "kvmclock guest printing every 10 ms", "kvmclock every=10", 1,
                     ready_count(50, CLOCK), clock_period_ms=10),
    "kvmclock1": Case("kvmclock1", "kvmclock guest printing every 1 ms", "kvmclock every=1", 1,
                      ready_count(200, CLOCK), clock_period_ms=1),
}


# --- checks after a migration ------------------------------------------------------------------------------------

def check_destination(case, src, dst, ours, dst_control):
    """The guest goes on at the destination: raises Failure otherwise; returns extra metrics (kvmclock gaps)."""
    extra = {}
    if case.key == "idle":
        if ours:
            ctl = LineSocket(dst_control, 20)
            try:
                st = ctl.request({"id": 1, "command": "status"})
                m1 = ctl.request({"id": 2, "command": "metrics"})["total_exits"]
                time.sleep(0.5)
                m2 = ctl.request({"id": 3, "command": "metrics"})["total_exits"]
            finally:
                ctl.close()
            if st.get("state") != "running" or m2 <= m1:
                raise Failure(f"destination not running the guest: status {st}, exits {m1} -> {m2}")
        else:
            q = Qmp(dst_control, 20)
            try:
                deadline = now() + 20
                while q.execute("query-status").get("status") != "running":
                    if now() > deadline:
                        raise Failure("destination QEMU not running 20 s after the migration")
                    time.sleep(0.05)
                time.sleep(0.5)
                if q.execute("query-status").get("status") != "running" or dst.p.poll() is not None:
                    raise Failure("destination QEMU stopped running")
            finally:
                q.close()
    elif case.key in ("dirty100", "fast"):
        last = max((g for g in (generation_of(t) for _, t, c in src.snapshot_lines() if c) if g is not None), default=0)
        dst.wait_line(lambda t: (generation_of(t) or 0) > last, 60, what=f"a generation after {last}")
    elif case.clock_period_ms:
        dst.wait_line(ready_count(20, CLOCK), 30, what="20 kvmclock lines")
        extra = kvmclock_gaps(src.snapshot_lines(), dst.snapshot_lines(), case.clock_period_ms)
    for _, text, _ in dst.snapshot_lines():
        if "FAIL" in text or "window" in text or text.startswith("kvmclock: on") or text == "idle: ready":
            raise Failure(f"destination printed {text!r} (a failure or a fresh boot)")
    return extra


def kvmclock_gaps(src_lines, dst_lines, period_ms):
    """Guest: the jump between the last kvmclock value the source printed and the first the destination printed,
    and the largest jump between consecutive values within 20 lines of the switch, each minus the print period.
    Host: time between the last line from the source and the first from the destination, minus the period."""
    src_vals = [(t, int(m.group(1))) for t, text, c in src_lines if c and (m := CLOCK.match(text))]
    dst = list(dst_lines)
    # A line cut by the switch: the source's unfinished tail and the destination's first line are one line, whose
    # value the guest read on the source; its host time is when the source's part of it came.
    if src_lines and not src_lines[-1][2] and dst:
        t_tail, tail, _ = src_lines[-1]
        m = CLOCK.match(tail + dst[0][1])
        if m:
            src_vals.append((t_tail, int(m.group(1))))
            dst = dst[1:]
    dst_vals = [(t, int(m.group(1))) for t, text, c in dst if c and (m := CLOCK.match(text))]
    if len(src_vals) < 2 or len(dst_vals) < 2:
        raise Failure(f"too few kvmclock lines around the switch ({len(src_vals)} / {len(dst_vals)})")
    window = src_vals[-20:] + dst_vals[:20]
    jumps = [b[1] - a[1] for a, b in zip(window, window[1:])]
    host_delta = (dst_vals[0][0] - src_vals[-1][0]) * 1000
    guest_delta = (dst_vals[0][1] - src_vals[-1][1]) / 1e6
    return {"guest_gap_ms": max(jumps) / 1e6 - period_ms, "clock_lag_ms": host_delta - guest_delta,
            "switch_jump_ms": guest_delta - period_ms, "host_gap_ms": host_delta - period_ms}


# --- one migration run ---------------------------------------------------------------------------------------------

def migrate_ours(env, case, work):
    inc, out, sctl, dctl = (os.path.join(work, n) for n in ("in.sock", "out.sock", "ctl.sock", "dst-ctl.sock"))
    dst = Proc("dst", env.ours_run(case.cpus, "--incoming", inc, "--control", dctl), work, case.limit + 300)
    src = Proc("src", env.ours_run(case.cpus, "--cmdline", case.scenario, "--control", sctl), work, case.limit + 300)
    procs = [dst, src]
    try:
        src.wait_line(case.ready, 120, what="the guest's steady state")
        time.sleep(case.settle)
        ctl = LineSocket(sctl)
        request = {"id": 1, "command": "migrate", "path": out, "downtime_ms": DOWNTIME_MS}
        if case.bandwidth:
            request["max_bandwidth"] = case.bandwidth
        if case.auto_converge:
            request["auto_converge"] = True
        t0 = now()
        ctl.send(request)
        relay = Relay(out, inc, case.limit)
        reply = ctl.recv(case.limit)
        t1 = now()
        ctl.close()
        if not reply.get("ok"):
            raise Failure(f"migrate: {reply.get('error')}")
        r = reply["result"]
        status = src.wait_exit(30)
        relay.close()
        src.finish()
        if status != 0:
            raise Failure(f"the source exited {status} after migrating")
        extra = check_destination(case, src, dst, True, dctl)
        return dict(downtime_ms=r["downtime_ms"], total_ms=r["total_ms"], wall_ms=(t1 - t0) * 1000,
                    bytes=r["bytes_sent"], rounds=r["rounds"], relayed=relay.bytes[0],
                    throttle=r.get("throttle_percent"), **extra)
    finally:
        for p in procs:
            p.stop()


def qemu_final_info(q, event):
    """query-migrate once QEMU has filled in its totals: the `completed` event comes before the migration thread
    computes total-time and downtime (until then they read 0)."""
    deadline = now() + 10
    while True:
        info = q.execute("query-migrate")
        if event["data"]["status"] != "completed":
            raise Failure(f"QEMU migration {event['data']['status']}: {info}")
        if info.get("total-time"):
            return info
        if now() > deadline:
            raise Failure(f"QEMU's query-migrate has no total-time 10 s after completing: {info}")
        time.sleep(0.005)


def migrate_qemu(env, case, work):
    inc, sq, dq = (os.path.join(work, n) for n in ("in.sock", "src.qmp", "dst.qmp"))
    qmp = lambda path: ["-qmp", f"unix:{path},server=on,wait=off"]
    dst = Proc("dst", env.qemu_run(case.cpus, case.scenario, "-incoming", f"unix:{inc}", *qmp(dq)), work,
               case.limit + 300)
    src = Proc("src", env.qemu_run(case.cpus, case.scenario, *qmp(sq)), work, case.limit + 300)
    procs = [dst, src]
    try:
        src.wait_line(case.ready, 120, what="the guest's steady state")
        time.sleep(case.settle)
        deadline = now() + 30
        while not os.path.exists(inc):
            if now() > deadline:
                raise Failure("the destination QEMU never listened")
            time.sleep(0.01)
        q = Qmp(sq)
        q.execute("migrate-set-capabilities", {"capabilities": [
            {"capability": "events", "state": True},
            {"capability": "auto-converge", "state": case.auto_converge}]})
        q.execute("migrate-set-parameters", {"downtime-limit": DOWNTIME_MS,
                                             "max-bandwidth": case.bandwidth or UNLIMITED_QEMU_BW})
        t0 = now()
        q.execute("migrate", {"uri": f"unix:{inc}"})
        throttle = 0
        while True:
            try:
                e = q.wait_event("MIGRATION", lambda d: d.get("status") in ("completed", "failed", "cancelled"),
                                 0.5 if case.auto_converge else case.limit)
                break
            except TimedOut:
                if now() - t0 > case.limit:
                    raise Failure(f"QEMU's migration did not end within {case.limit} s")
                throttle = max(throttle, q.execute("query-migrate").get("cpu-throttle-percentage", 0))
        t1 = now()
        info = qemu_final_info(q, e)
        try:
            q.execute("quit")
        except Failure:
            pass
        q.close()
        src.wait_exit(30)
        src.finish()
        extra = check_destination(case, src, dst, False, dq)
        ram = info["ram"]
        return dict(downtime_ms=info["downtime"], total_ms=info["total-time"], wall_ms=(t1 - t0) * 1000,
                    bytes=ram["transferred"], rounds=ram.get("dirty-sync-count"), setup_ms=info.get("setup-time"),
                    throttle=throttle if case.auto_converge else None, **extra)
    finally:
        for p in procs:
            p.stop()


# --- one snapshot run ------------------------------------------------------------------------------------------------

SNAP_GUESTS = {
    "gen": ("generation mib=100 every=1", ready_generation(3),
            lambda t: GEN.match(t) is not None),
    "clock": ("kvmclock every=1", ready_count(100, CLOCK), lambda t: CLOCK.match(t) is not None),
}


def file_sizes(path):
    st = os.stat(path)
    return st.st_size, st.st_blocks * 512


def restore_and_check(proc, line_ok):
    """Time from exec to the first line the restored guest prints; then a second line, and no failure."""
    first = proc.wait_line(lambda t: True, 60, what="the restored guest's first line")
    t_first = proc.snapshot_lines()[first][0]
    proc.wait_line(line_ok, 30, start=first + 1, what="a second line from the restored guest")
    for _, text, _ in proc.snapshot_lines():
        if "FAIL" in text or "window" in text or text in ("kvmclock: on", "idle: ready"):
            raise Failure(f"restored guest printed {text!r}")
    return (t_first - proc.t_exec) * 1000, (proc.first_byte - proc.t_exec) * 1000


def snapshot_ours(env, kind, work):
    scenario, ready, line_ok = SNAP_GUESTS[kind]
    ctl_path, snap = os.path.join(work, "ctl.sock"), os.path.join(work, "vm.snap")
    src = Proc("src", env.ours_run(1, "--cmdline", scenario, "--control", ctl_path), work, 300)
    try:
        src.wait_line(ready, 120, what="the guest's steady state")
        ctl = LineSocket(ctl_path)
        t0 = now()
        result = ctl.request({"id": 1, "command": "snapshot", "path": snap}, timeout=120)
        t1 = now()
        ctl.close()
        mark = len(src.snapshot_lines())
        src.wait_line(line_ok, 30, start=mark, what="a line after the snapshot")
    finally:
        src.stop()
    apparent, disk = file_sizes(snap)
    restored = Proc("restore", env.ours_run(1, "--restore", snap), work, 300)
    try:
        first_line_ms, first_byte_ms = restore_and_check(restored, line_ok)
    finally:
        restored.stop()
    return dict(pause_ms=(t1 - t0) * 1000, apparent=apparent, disk=disk, restore_ms=first_line_ms,
                restore_byte_ms=first_byte_ms, ram_bytes=result.get("ram_bytes"))


def snapshot_qemu(env, kind, work):
    scenario, ready, line_ok = SNAP_GUESTS[kind]
    qmp_path, snap = os.path.join(work, "src.qmp"), os.path.join(work, "vm.snap")
    src = Proc("src", env.qemu_run(1, scenario, "-qmp", f"unix:{qmp_path},server=on,wait=off"), work, 300)
    try:
        src.wait_line(ready, 120, what="the guest's steady state")
        q = Qmp(qmp_path)
        q.execute("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
        q.execute("migrate-set-parameters", {"max-bandwidth": UNLIMITED_QEMU_BW})
        t0 = now()
        q.execute("stop")
        q.execute("migrate", {"uri": f"exec:cat > {snap}"})
        e = q.wait_event("MIGRATION", lambda d: d.get("status") in ("completed", "failed", "cancelled"), 120)
        # The event comes before the migration thread has finished ("Migration is not finalized yet"): retry.
        deadline = now() + 30
        while True:
            try:
                q.execute("cont")
                break
            except Failure:
                if now() > deadline or e["data"]["status"] != "completed":
                    raise
                time.sleep(0.001)
        t1 = now()
        info = qemu_final_info(q, e)
        mark = len(src.snapshot_lines())
        src.wait_line(line_ok, 30, start=mark, what="a line after the snapshot")
        q.close()
    finally:
        src.stop()
    apparent, disk = file_sizes(snap)
    # The stream says the VM was paused when saved (the `stop` above), so QEMU loads it and stays paused: `cont`
    # as soon as query-status leaves "inmigrate" (polled every 2 ms).
    rq = os.path.join(work, "restore.qmp")
    restored = Proc("restore", env.qemu_run(1, scenario, "-incoming", f"exec:cat {snap}", "-qmp",
                                            f"unix:{rq},server=on,wait=off"), work, 300)
    try:
        q = Qmp(rq)
        deadline = now() + 60
        while (state := q.execute("query-status")["status"]) == "inmigrate":
            if now() > deadline:
                raise Failure("QEMU still loading the snapshot after 60 s")
            time.sleep(0.002)
        t_loaded = now()
        if state != "running":
            q.execute("cont")
        first_line_ms, first_byte_ms = restore_and_check(restored, line_ok)
        q.close()
    finally:
        restored.stop()
    return dict(pause_ms=(t1 - t0) * 1000, apparent=apparent, disk=disk, restore_ms=first_line_ms,
                restore_byte_ms=first_byte_ms, loaded_ms=(t_loaded - restored.t_exec) * 1000,
                qemu_total_ms=info.get("total-time"))


# --- driver --------------------------------------------------------------------------------------------------------

def describe_run(r):
    return ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())


def run_one(label, fn, args, results, data_file, describe=describe_run, prefix="sv-migbench-"):
    """One run of a case in a fresh /tmp directory: its result recorded (or its failure), every VMM killed after it,
    the VMMs' output kept under OUT/runs when it failed (or with --keep)."""
    work = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    t = now()
    ok = False
    try:
        r = fn(work)
        ok = True
        results.setdefault(label, []).append(r)
        log(f"  {label}: ok in {now() - t:.1f} s: {describe(r)}")
        data_file.write(json.dumps({"run": label, "ok": True, **r}) + "\n")
    except Failure as e:
        results.setdefault(label + ":failed", []).append(str(e))
        log(f"  {label}: FAILED after {now() - t:.1f} s: {e}")
        data_file.write(json.dumps({"run": label, "ok": False, "error": str(e)}) + "\n")
    finally:
        kill_all()
        data_file.flush()
        if args.keep or not ok:
            dest = os.path.join(args.out, "runs", f"{label.replace(' ', '-')}-{int(time.time() * 1000)}")
            os.makedirs(dest, exist_ok=True)
            for name in os.listdir(work):
                if name.endswith((".out", ".err")):
                    shutil.copy(os.path.join(work, name), dest)
        shutil.rmtree(work, ignore_errors=True)


def prepare(args, script, env_class):
    """What every run of a benchmark script starts with: OUT/runs, SIGTERM as an interrupt, the build (AOT sharpvisor
    and the test guest under OUT), its Env (env_class(sharpvisor, qemu, guest)), and /dev/kvm checked."""
    args.out = os.path.abspath(args.out)
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)

    def on_signal(signum, frame):
        STOPPING.set()
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    build(args)
    env = env_class(os.path.join(args.out, "aot", "sharpvisor"), os.environ.get("QEMU", "qemu-system-x86_64"),
                    os.path.join(args.out, "guest", "testguest.elf"))
    for path in (env.sv, env.guest):
        if not os.path.exists(path):
            sys.exit(f"{script}: {path} missing (run without --no-build)")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit(f"{script}: /dev/kvm is not accessible")
    return env


def build(args):
    need = [pkg for tool, pkg in ((os.environ.get("QEMU", "qemu-system-x86_64"), "qemu-system-x86"), ("make", "make"),
                                   ("gcc", "gcc")) if shutil.which(tool) is None]
    if need:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        log(f"installing {' '.join(need)} ...")
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL, timeout=600)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=1200)
    if args.no_build:
        return
    steps = [("sharpvisor (NativeAOT)", ["dotnet", "publish", os.path.join(REPO, "src", "Sharpvisor.Cli"), "-c",
                                         "Release", "-r", "linux-x64", "-o", os.path.join(args.out, "aot"),
                                         "-nologo", "-v", "quiet"], "publish.log"),
             ("the test guest", ["make", "-s", "-C", os.path.join(REPO, "guests", "testguest"),
                                 "OUT=" + os.path.join(args.out, "guest")], "guest.log")]
    # What the binaries are built from (the tree may move on while the benchmark runs).
    info = {"commit": command_output(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]),
            "dirty": bool(command_output(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])),
            "built": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for what, cmd, logname in steps:
        log(f"building {what} ...")
        with open(os.path.join(args.out, logname), "wb") as f:
            r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=1800)
        if r.returncode != 0:
            with open(os.path.join(args.out, logname), "rb") as f:
                sys.stderr.write(f.read().decode("utf-8", "replace"))
            sys.exit(1)
    with open(os.path.join(args.out, "aot", "build-info.json"), "w") as f:
        json.dump(info, f)


def stats(values):
    return statistics.median(values), min(values), max(values)


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def cell(values, scale=1.0, digits=1):
    if not values:
        return "-"
    med, lo, hi = stats([v * scale for v in values])
    return f"{med:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def ratio(a, b):
    if not a or not b:
        return None
    ma, mb = statistics.median(a), statistics.median(b)
    return ma / mb if mb else None


def shell_join(argv):
    out = []
    for a in argv:
        a = a.replace(REPO + "/", "")
        out.append(a if re.fullmatch(r"[A-Za-z0-9_./,=:+@%-]+", a) else "'" + a.replace("'", "'\\''") + "'")
    return " ".join(out)


def command_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "n/a"


def host_lines(env, began, ended, load_before, load_after):
    """A benchmark section's first lines: when, on what host and KVM, and which builds of ours and QEMU."""
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    kvm = ("kvm_pvm (PVM, software; no vmx/svm)" if os.path.isdir("/sys/module/kvm_pvm") else
           "kvm_intel" if os.path.isdir("/sys/module/kvm_intel") else
           "kvm_amd" if os.path.isdir("/sys/module/kvm_amd") else "unknown")
    try:
        with open(os.path.join(os.path.dirname(env.sv), "build-info.json")) as f:
            info = json.load(f)
        built = (f"built {info['built']} from commit {info['commit']}"
                 + (" with the working tree's uncommitted changes" if info["dirty"] else ""))
    except (OSError, ValueError, KeyError):
        built = ("from an earlier build (no build-info.json); HEAD is now "
                 + command_output(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]))
    return [f"- Date: {began} to {ended} (`date -u`)",
            f"- Host: `uname -r` = {platform.release()}; {os.cpu_count()} cores ({cpu_model}); KVM module: {kvm}; "
            f"load average (1/5/15 min) {load_before} before, {load_after} after (other work shares the machine)",
            f"- Versions: sharpvisor {built} (NativeAOT), .NET SDK {command_output(['dotnet', '--version'])}; "
            f"{command_output([env.qemu, '--version']).splitlines()[0]}; Python {platform.python_version()}"]


def report(args, env, results, began, ended, load_before, load_after, cases, do_snapshot):
    n = args.runs
    o = []
    p = o.append
    p("## Live migration and snapshots vs QEMU microvm (issue 14)")
    p("")
    o.extend(host_lines(env, began, ended, load_before, load_after))
    p(f"- Runs: {n} per case and VMM, ours and QEMU alternating (ours first in odd runs), one VM pair at a time; "
      f"every guest {MEMORY_MIB} MiB; downtime limit {DOWNTIME_MS} ms for both")
    p(f"- Command: `{' '.join(['python3', 'bench/migration.py', *args.argv])}`")
    p("")
    p("Commands (W = a fresh directory under /tmp per run; SCENARIO, C per case below):")
    p("")
    p("    ours destination: " + shell_join(env.ours_run(1, "--incoming", "W/in.sock", "--control", "W/dst-ctl.sock"))
      .replace("--cpus 1", "--cpus C"))
    p("    ours source:      " + shell_join(env.ours_run(1, "--cmdline", "SCENARIO", "--control", "W/ctl.sock"))
      .replace("--cpus 1", "--cpus C"))
    p('    ours migrate:     {"id":1,"command":"migrate","path":"W/out.sock","downtime_ms":300'
      '[,"max_bandwidth":33554432,'
      '"auto_converge":true]}   then W/out.sock <-> W/in.sock relayed by the script (two threads)')
    p("    QEMU destination: " + shell_join(env.qemu_run(1, "SCENARIO", "-incoming", "unix:W/in.sock", "-qmp",
                                                        "unix:W/dst.qmp,server=on,wait=off")).replace("-smp 1", "-smp C"))
    p("    QEMU source:      " + shell_join(env.qemu_run(1, "SCENARIO", "-qmp", "unix:W/src.qmp,server=on,wait=off"))
      .replace("-smp 1", "-smp C"))
    p("    QEMU migrate:     migrate-set-capabilities events=on, auto-converge=off|on; migrate-set-parameters "
      f"downtime-limit={DOWNTIME_MS}, max-bandwidth={UNLIMITED_QEMU_BW} (or 33554432); migrate uri=unix:W/in.sock; "
      "wait for the MIGRATION event 'completed'; query-migrate")
    p("")
    p("Every migration run was checked: ours' source exited 0; at the destination the guest went on (a `generation` "
      "line past the source's last, or 20 more `kvmclock` lines; the idle guest: `status` running with exit counters "
      "still climbing for ours, `query-status` running for QEMU), with no FAIL line and no fresh boot.")
    p("")
    p("What each VMM reports: ours' downtime is the source's clock from the vCPUs parked to the destination's "
      "`RUNNING` "
      "(destination start included); QEMU's `downtime` is from the stop to the end of sending on the source (the "
      "destination's loading of the last state and start are not in it). Ours' total is from the start of the first "
      "round after the relay connected; QEMU's `total-time` from the `migrate` command. Wall = the script's clock from "
      "sending the command to the reply (ours) or the `completed` event (QEMU). Bytes: ours `bytes_sent`, QEMU "
      "`ram.transferred`. Rounds: ours `rounds`, QEMU `ram.dirty-sync-count`. Ratios are ours/QEMU of the medians. "
      "Cells: median (min–max).")
    p("")

    def runs_ok(label):
        return len(results.get(label, [])), len(results.get(label + ":failed", []))

    for case in cases:
        ours = results.get(f"{case.key} ours", [])
        qemu = results.get(f"{case.key} qemu", [])
        (ok_o, f_o), (ok_q, f_q) = runs_ok(f"{case.key} ours"), runs_ok(f"{case.key} qemu")
        p(f"### {case.title}: `{case.scenario}`, {case.cpus} vCPU{'s' if case.cpus > 1 else ''}"
          + (f", max bandwidth {CAP_BW} bytes/s, auto-converge on (both)" if case.bandwidth else ""))
        p("")
        p("| metric | ours | QEMU | ours/QEMU |")
        p("|---|---:|---:|---:|")
        p(f"| runs ok | {ok_o}/{ok_o + f_o} | {ok_q}/{ok_q + f_q} | |")
        rows = [("downtime, ms (VMM-reported)", "downtime_ms", 1, 1),
                ("total time, ms (VMM-reported)", "total_ms", 1, 0),
                ("wall, command to completion, ms", "wall_ms", 1, 0),
                ("bytes sent, MiB", "bytes", 1 / 1048576, 1),
                ("rounds", "rounds", 1, 0)]
        if case.auto_converge:
            rows.append(("highest vCPU throttle, % (QEMU: polled every 0.5 s)", "throttle", 1, 0))
        if case.clock_period_ms:
            per = case.clock_period_ms
            rows += [(f"guest: kvmclock jump across the switch − {per} ms, ms", "switch_jump_ms", 1, 1),
                     (f"guest: largest kvmclock jump within 20 lines of the switch − {per} ms, ms", "guest_gap_ms",
                      1, 1),
                     (f"host: last source line to first destination line − {per} ms, ms", "host_gap_ms", 1, 1),
                     ("guest clock behind the host's after the switch (host gap − kvmclock jump), ms",
                      "clock_lag_ms", 1, 1)]
        for name, key, scale, digits in rows:
            a = [r[key] for r in ours if r.get(key) is not None]
            b = [r[key] for r in qemu if r.get(key) is not None]
            rt = ratio(a, b)
            p(f"| {name} | {cell(a, scale, digits)} | {cell(b, scale, digits)} | {fmt(rt, 2)} |")
        p("")
        for label in (f"{case.key} ours", f"{case.key} qemu"):
            for err in results.get(label + ":failed", []):
                p(f"- failed run, {label}: {err}")
        if results.get(f"{case.key} ours:failed") or results.get(f"{case.key} qemu:failed"):
            p("")

    if do_snapshot:
        p("### Snapshots and restore, 1 vCPU")
        p("")
        p("Ours: `{\"id\":1,\"command\":\"snapshot\",\"path\":\"W/vm.snap\"}` on the control socket of "
          "`" + shell_join(env.ours_run(1, "--cmdline", "SCENARIO", "--control", "W/ctl.sock")) + "`; restore: `"
          + shell_join(env.ours_run(1, "--restore", "W/vm.snap")) + "`.")
        p("QEMU: over QMP `stop`, `migrate` uri `exec:cat > W/vm.snap` (max-bandwidth "
          f"{UNLIMITED_QEMU_BW}), wait for `completed`, `cont`; restore: `"
          + shell_join(env.qemu_run(1, "SCENARIO", "-incoming", "exec:cat W/vm.snap", "-qmp",
                                    "unix:W/restore.qmp,server=on,wait=off"))
          + "`, then `query-status` every 2 ms until it leaves `inmigrate`, then `cont` (the stream records that the "
          "VM was stopped when saved, so QEMU does not start it by itself).")
        p("Pause = the script's clock around the `snapshot` request (ours) or from `stop` to `cont`'s reply (QEMU): "
          "how long the guest stood still. Disk = allocated blocks (`du`; ours' RAM image is sparse), apparent = "
          "file size. Restore = exec of the VMM to the first complete line the restored guest prints on the serial "
          "port; a second line and no FAIL were checked. The `generation` guest prints only when its 100 MiB sweep "
          "ends, so its first line also includes faulting in what is left of the sweep; the `kvmclock every=1` guest "
          "prints within 1 ms of guest time of running: its figure is the first-instruction proxy.")
        p("")
        p("| guest | metric | ours | QEMU | ours/QEMU |")
        p("|---|---|---:|---:|---:|")
        for kind, guest in (("gen", "`generation mib=100 every=1`"), ("clock", "`kvmclock every=1`")):
            ours = results.get(f"snapshot-{kind} ours", [])
            qemu = results.get(f"snapshot-{kind} qemu", [])
            (ok_o, f_o), (ok_q, f_q) = runs_ok(f"snapshot-{kind} ours"), runs_ok(f"snapshot-{kind} qemu")
            p(f"| {guest} | runs ok | {ok_o}/{ok_o + f_o} | {ok_q}/{ok_q + f_q} | |")
            for name, key, scale, digits in (("pause for the snapshot, ms", "pause_ms", 1, 1),
                                             ("file, apparent size, MiB", "apparent", 1 / 1048576, 1),
                                             ("file on disk (du), MiB", "disk", 1 / 1048576, 1),
                                             ("restore: exec to first line, ms", "restore_ms", 1, 1)):
                a = [r[key] for r in ours]
                b = [r[key] for r in qemu]
                p(f"| {guest} | {name} | {cell(a, scale, digits)} | {cell(b, scale, digits)} | {fmt(ratio(a, b), 2)} |")
        p("")
        for kind in ("gen", "clock"):
            for label in (f"snapshot-{kind} ours", f"snapshot-{kind} qemu"):
                for err in results.get(label + ":failed", []):
                    p(f"- failed run, {label}: {err}")

    # Targets
    if o[-1] != "":
        p("")
    p("### Targets (issue 14)")
    p("")
    p("| target (issue) | measured | result |")
    p("|---|---|---|")

    def med(label, key):
        v = [r[key] for r in results.get(label, []) if r.get(key) is not None]
        return statistics.median(v) if v else None

    def verdict(ok):
        return "n/a (not measured)" if ok is None else ("PASS" if ok else "MISS")

    keys = [c.key for c in cases]
    if "idle" in keys:
        d = med("idle ours", "downtime_ms")
        mx = max((r["downtime_ms"] for r in results.get("idle ours", [])), default=None)
        p(f"| idle guest: downtime <= 50 ms (ours, VMM-reported, median) | {fmt(d)} ms (max {fmt(mx)}) | "
          f"{verdict(None if d is None else d <= 50)} |")
    for key in ("dirty100", "fast", "kvmclock", "kvmclock1"):
        if key not in keys:
            continue
        metrics = [("downtime (VMM-reported)", "downtime_ms"), ("total time", "total_ms")]
        if CASES[key].clock_period_ms:
            metrics.append((f"gap seen from the host ({CASES[key].clock_period_ms} ms resolution)", "host_gap_ms"))
        for name, m in metrics:
            a, b = med(f"{key} ours", m), med(f"{key} qemu", m)
            ok = None if a is None or b is None else a <= b
            p(f"| {CASES[key].title}: {name} no worse than QEMU | ours {fmt(a)} ms, QEMU {fmt(b)} ms | {verdict(ok)} |")
    if do_snapshot:
        r = med("snapshot-clock ours", "restore_ms")
        p(f"| restore to running < 50 ms (ours, exec to the `kvmclock every=1` guest's first line, median) | "
          f"{fmt(r)} ms | {verdict(None if r is None else r < 50)} |")
        r = med("snapshot-gen ours", "restore_ms")
        p(f"| (same, `generation mib=100` guest: first line after finishing its sweep) | {fmt(r)} ms | "
          f"{verdict(None if r is None else r < 50)} |")
    p("")
    p(f"Raw per-run data: `{os.path.relpath(os.path.join(args.out, 'runs', 'data.jsonl'), REPO)}`.")
    return "\n".join(o)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--only", default="idle,dirty100,fast,kvmclock,kvmclock1,snapshot")
    parser.add_argument("--out", default=os.path.join(REPO, "artifacts", "bench", "migration"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    if args.runs < 1:
        parser.error("-n must be at least 1")
    only = [s for s in args.only.split(",") if s]
    unknown = [s for s in only if s not in CASES and s != "snapshot"]
    if unknown:
        parser.error(f"unknown case(s) {unknown}")
    env = prepare(args, "migration.py", Env)

    cases = [CASES[k] for k in CASES if k in only]
    began = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    results = {}
    try:
        with open(os.path.join(args.out, "runs", "data.jsonl"), "w") as data:
            for case in cases:
                log(f"case {case.key}: {case.scenario}")
                for i in range(1, args.runs + 1):
                    order = [("ours", migrate_ours), ("qemu", migrate_qemu)]
                    if i % 2 == 0:
                        order.reverse()
                    for vmm, fn in order:
                        run_one(f"{case.key} {vmm}", lambda w, fn=fn, case=case: fn(env, case, w), args, results, data)
            if "snapshot" in only:
                for kind in ("gen", "clock"):
                    log(f"case snapshot-{kind}: {SNAP_GUESTS[kind][0]}")
                    for i in range(1, args.runs + 1):
                        order = [("ours", snapshot_ours), ("qemu", snapshot_qemu)]
                        if i % 2 == 0:
                            order.reverse()
                        for vmm, fn in order:
                            run_one(f"snapshot-{kind} {vmm}", lambda w, fn=fn, kind=kind: fn(env, kind, w), args,
                                    results, data)
    except KeyboardInterrupt:
        log("interrupted")
        kill_all()
        sys.exit(130)
    finally:
        kill_all()
    ended = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_after = " ".join(open("/proc/loadavg").read().split()[:3])
    print(report(args, env, results, began, ended, load_before, load_after, cases, "snapshot" in only))


if __name__ == "__main__":
    main()
