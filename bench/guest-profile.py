#!/usr/bin/env python3
"""Guest RIP profiles of a Sharpvisor VM: record one, then list the hottest guest functions in a time window.

  record: runs `sharpvisor run ... --profile-guest DIR/samples.txt,MS`, stamps every serial line with the
          seconds since exec (DIR/serial.log, the format of bench/linux-boot.sh's logs) and stops the VMM
          (SIGTERM) at the first line matching --until (or when it exits, or after --timeout seconds).
      bench/guest-profile.py record -o DIR [--interval MS] [--until REGEX] [--timeout S] -- SHARPVISOR run ARGS...

  report: symbolizes the samples against the guest kernel (nm -n) and prints the top functions of the window
          between the first serial line matching --from and the next matching --to (default: the whole run).
      bench/guest-profile.py report DIR --vmlinux VMLINUX [--from REGEX] [--to REGEX] [--vcpu N] [--top N] [--lines]

Sample lines are `<ns since profiler start> <vcpu> <rip hex>`; the first line names the profiler's start on
CLOCK_MONOTONIC, the clock serial.log's header names exec on, so the two line up.
"""
import argparse
import bisect
import collections
import os
import re
import signal
import subprocess
import sys
import time


def record(args):
    os.makedirs(args.out, exist_ok=True)
    samples = os.path.join(args.out, "samples.txt")
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        sys.exit("record: no command after --")
    cmd += ["--profile-guest", f"{samples},{args.interval}"]
    until = re.compile(args.until) if args.until else None
    with open(os.path.join(args.out, "serial.log"), "w", buffering=1) as log:
        t0 = time.monotonic_ns()
        log.write(f"# exec CLOCK_MONOTONIC {t0} ns\n")
        vm = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = t0 + int(args.timeout * 1e9)
        try:
            for raw in vm.stdout:
                now = time.monotonic_ns()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                log.write(f"{(now - t0) / 1e9:.6f} {line}\n")
                if (until and until.search(line)) or now > deadline:
                    break
        finally:
            if vm.poll() is None:
                vm.send_signal(signal.SIGTERM)
            try:
                vm.wait(timeout=10)
            except subprocess.TimeoutExpired:
                vm.kill()
                vm.wait()
    print(f"{args.out}: serial.log, samples.txt ({sum(1 for _ in open(samples)) - 1} samples)")


def read_samples(path):
    start, rows = None, []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                m = re.search(r"CLOCK_MONOTONIC (\d+)", line)
                if m and start is None:
                    start = int(m.group(1))
                continue
            ns, vcpu, rip = line.split()
            rows.append((int(ns), int(vcpu), int(rip, 16)))
    return start, rows


def read_serial(path):
    exec_ns, lines = None, []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                m = re.search(r"CLOCK_MONOTONIC (\d+)", line)
                if m:
                    exec_ns = int(m.group(1))
                continue
            t, _, text = line.rstrip("\n").partition(" ")
            lines.append((float(t), text))
    return exec_ns, lines


def symbols(vmlinux):
    """Text symbols by address, plus each executable section's start under the name [section]: code in
    sections without symbols of their own (.altinstr_aux, .altinstr_replacement) then is not charged to the
    last symbol before it."""
    out = subprocess.run(["nm", "-n", vmlinux], check=True, capture_output=True, text=True).stdout
    table = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            table.append((int(parts[0], 16), parts[2]))
    sections = subprocess.run(["readelf", "-SW", vmlinux], check=True, capture_output=True, text=True).stdout
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]{16})\s+\S+\s+([0-9a-f]+)\s+\S+\s+(\S*X\S*)\s", sections):
        name, start, size = m.group(1), int(m.group(2), 16), int(m.group(3), 16)
        if start:
            table.append((start, f"[{name}]"))
            table.append((start + size, "[after {name}]".format(name=name)))
    # At one address a section's name wins over a symbol (such as _einittext, the end marker of the section
    # before), except for the sections that begin with a real function.
    def rank(name):
        if name.startswith("[after "):
            return 2
        return 0 if name.startswith("[") and name not in ("[.text]", "[.init.text]") else 1
    table.sort(key=lambda e: (e[0], rank(e[1])))
    addrs, names = [], []
    for addr, name in table:
        if addrs and addrs[-1] == addr:
            continue
        addrs.append(addr)
        names.append(name)
    return addrs, names


def report(args):
    prof_start, rows = read_samples(os.path.join(args.dir, "samples.txt"))
    exec_ns, serial = read_serial(os.path.join(args.dir, "serial.log"))
    offset = (prof_start - exec_ns) / 1e9 if prof_start and exec_ns else 0.0  # profiler start, in s since exec

    lo, hi = float("-inf"), float("inf")
    if args.from_re:
        hits = [t for t, text in serial if re.search(args.from_re, text)]
        if not hits:
            sys.exit(f"report: no serial line matches --from {args.from_re!r}")
        lo = hits[0]
    if args.to_re:
        hits = [t for t, text in serial if re.search(args.to_re, text) and t >= lo]
        if not hits:
            sys.exit(f"report: no serial line after the start matches --to {args.to_re!r}")
        hi = hits[0]

    addrs, names = symbols(args.vmlinux)
    counts, rips = collections.Counter(), collections.Counter()
    total = 0
    for ns, vcpu, rip in rows:
        t = ns / 1e9 + offset
        if not (lo <= t <= hi) or (args.vcpu is not None and vcpu != args.vcpu):
            continue
        total += 1
        i = bisect.bisect_right(addrs, rip) - 1
        name = names[i] if i >= 0 and rip < 0xffffffffffffffff and rip >= 0xffffffff80000000 else f"[{rip:#x}]"
        counts[name] += 1
        rips[rip] += 1
    span = "whole run" if lo == float("-inf") and hi == float("inf") else f"{lo:.3f} s .. {hi:.3f} s since exec ({hi - lo:.3f} s)"
    print(f"window: {span}; {total} samples" + (f" of vCPU {args.vcpu}" if args.vcpu is not None else ""))
    for name, n in counts.most_common(args.top):
        print(f"{n:7d} {100.0 * n / max(total, 1):6.1f}%  {name}")
    if args.lines and rips:
        top = [r for r, _ in rips.most_common(args.top)]
        print("\nhottest addresses (addr2line -f -i: function (file:line), innermost inlined frame first):")
        for r in top:
            res = subprocess.run(["addr2line", "-f", "-i", "-e", args.vmlinux, f"{r:#x}"], capture_output=True, text=True).stdout.split("\n")
            frames = [f"{res[k]} ({os.path.basename(res[k + 1])})" for k in range(0, len(res) - 1, 2)]
            print(f"{rips[r]:7d}  {r:#x}  " + " <- ".join(frames))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("-o", "--out", required=True)
    r.add_argument("--interval", type=float, default=10.0, help="sampling interval, ms (default 10)")
    r.add_argument("--until", help="stop at the first serial line matching this regex")
    r.add_argument("--timeout", type=float, default=600.0)
    r.add_argument("command", nargs=argparse.REMAINDER)
    q = sub.add_parser("report")
    q.add_argument("dir")
    q.add_argument("--vmlinux", required=True)
    q.add_argument("--from", dest="from_re")
    q.add_argument("--to", dest="to_re")
    q.add_argument("--vcpu", type=int)
    q.add_argument("--top", type=int, default=25)
    q.add_argument("--lines", action="store_true", help="also the hottest addresses with their source lines")
    a = p.parse_args()
    record(a) if a.cmd == "record" else report(a)


if __name__ == "__main__":
    main()
