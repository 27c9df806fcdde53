#!/usr/bin/env python3
"""Manager benchmark: `sharpvisor serve` with 100 defined VMs of which 50 run the test guest's idle scenario.

Measures, through the REST API (one keep-alive HTTP connection, as a script or the web UI would hold):
  - list latency: GET /api/v1/vms, p50 and p99 over --lists requests (after a warm-up);
  - start-to-running: POST /api/v1/vms/{id}/start, which answers once the VMM's control socket says running;
  - the daemon's resident memory (VmRSS, VmHWM) with the 50 VMs running.
And, in the same run, the VMM's own start-up to the same point, so the manager's share can be told apart:
  - ours:  `sharpvisor run --cmdline idle --control S` until `status` answers on S;
  - QEMU:  `qemu-system-x86_64 -M microvm ... -append idle -qmp unix:S` until `query-status` answers on S.
Prints a markdown block for docs/benchmarks.md. Runs --runs times (fresh data dir and daemon each) and reports
medians over runs. Called by bench/manager.sh, which builds what it needs.
"""
import argparse
import http.client
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Api:
    def __init__(self, url, token):
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise RuntimeError(f"timed out waiting for {what}")


def start_daemon(sv, data_dir, log):
    process = subprocess.Popen([sv, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    serve_json = os.path.join(data_dir, "serve.json")

    def ready():
        if process.poll() is not None:
            raise RuntimeError(f"the daemon exited with status {process.returncode} (see {log.name})")
        try:
            with open(serve_json) as f:
                return json.load(f)["url"]
        except (OSError, ValueError, KeyError):
            return None

    url = wait_for(ready, 60, "the daemon's serve.json")
    with open(os.path.join(data_dir, "token")) as f:
        token = f.read().strip()
    return process, url, token


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def line_request(path, request, timeout=0.2):
    """One newline-delimited JSON request on a unix socket; None when nobody answers yet."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                data += chunk
            return json.loads(data)
    except (OSError, ValueError):
        return None


def ours_vmm_startup(sv, work):
    sock = os.path.join(work, "vmm.sock")
    t0 = time.perf_counter()
    process = subprocess.Popen([sv, "run", "--cmdline", "idle", "--memory", "64M", "--serial", "none", "--control", sock],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (line_request(sock, {"id": 1, "command": "status"}) or {}).get("ok"), 30, "the VMM's status")
        elapsed = time.perf_counter() - t0
        line_request(sock, {"id": 2, "command": "stop"}, timeout=5)
        process.wait(timeout=30)
        return elapsed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def qmp_status(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(path)
            stream = s.makefile("rwb")
            json.loads(stream.readline())  # greeting
            for command in ("qmp_capabilities", "query-status"):
                stream.write(json.dumps({"execute": command}).encode() + b"\n")
                stream.flush()
                while True:
                    reply = json.loads(stream.readline())
                    if "return" in reply or "error" in reply:
                        break
            return reply.get("return", {}).get("status")
    except (OSError, ValueError):
        return None


def qemu_vmm_startup(qemu, guest, work):
    sock = os.path.join(work, "qmp.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    t0 = time.perf_counter()
    process = subprocess.Popen([qemu, "-enable-kvm", "-M", "microvm", "-nodefaults", "-no-user-config", "-display", "none",
                                "-serial", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-m", "64",
                                "-kernel", guest, "-append", "idle", "-qmp", f"unix:{sock},server=on,wait=off"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: qmp_status(sock) == "running", 30, "QEMU's query-status")
        return time.perf_counter() - t0
    finally:
        process.kill()
        process.wait()


def one_run(args, run_index):
    data_dir = tempfile.mkdtemp(prefix="sv-bench-manager-", dir="/tmp")
    log_path = os.path.join(args.out, f"daemon-{run_index}.log")
    with open(log_path, "w") as log:
        daemon, url, token = start_daemon(args.sharpvisor, data_dir, log)
        api = Api(url, token)
        ids = []
        try:
            for vm in api.call("GET", "/api/v1/vms"):      # the default VM: 100 defined means 100
                api.call("DELETE", f"/api/v1/vms/{vm['id']}")
            for i in range(args.defined):
                vm = api.call("POST", "/api/v1/vms", {"name": f"bench-{i:03d}", "builtInGuest": "idle", "vcpus": 1, "memoryMiB": 64})
                ids.append(vm["id"])
            starts = []
            for vm_id in ids[:args.running]:
                t0 = time.perf_counter()
                vm = api.call("POST", f"/api/v1/vms/{vm_id}/start")
                starts.append(time.perf_counter() - t0)
                if vm["state"] != "running":
                    raise RuntimeError(f"started VM is {vm['state']}: {vm.get('exitReason')}")
            time.sleep(1)
            for _ in range(50):
                api.call("GET", "/api/v1/vms")
            lists = []
            for _ in range(args.lists):
                t0 = time.perf_counter()
                vms = api.call("GET", "/api/v1/vms")
                lists.append(time.perf_counter() - t0)
            running = sum(1 for vm in vms if vm["state"] == "running")
            if len(vms) != args.defined or running != args.running:
                raise RuntimeError(f"list shows {len(vms)} VMs, {running} running")
            rss, hwm = rss_kib(daemon.pid, "VmRSS"), rss_kib(daemon.pid, "VmHWM")
            work = tempfile.mkdtemp(prefix="sv-bench-vmm-", dir="/tmp")
            ours, qemu = [], []
            for i in range(args.vmm_samples):
                pair = [lambda: ours.append(ours_vmm_startup(args.sharpvisor, work)),
                        lambda: qemu.append(qemu_vmm_startup(args.qemu, args.guest, work))]
                for measure in (pair if i % 2 == 0 else reversed(pair)):
                    measure()
            shutil.rmtree(work, ignore_errors=True)
        finally:
            for vm_id in ids[:args.running]:
                try:
                    api.call("POST", f"/api/v1/vms/{vm_id}/kill")
                except (RuntimeError, OSError):
                    pass
            daemon.terminate()
            daemon.wait(timeout=30)
            shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "list_p50_ms": percentile(lists, 50) * 1000,
        "list_p99_ms": percentile(lists, 99) * 1000,
        "start_median_ms": statistics.median(starts) * 1000,
        "start_p90_ms": percentile(starts, 90) * 1000,
        "vmm_ours_ms": statistics.median(ours) * 1000,
        "vmm_qemu_ms": statistics.median(qemu) * 1000,
        "rss_mib": rss / 1024,
        "hwm_mib": hwm / 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sharpvisor", required=True)
    parser.add_argument("--guest", required=True, help="the test guest ELF, for QEMU")
    parser.add_argument("--qemu", default="qemu-system-x86_64")
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--defined", type=int, default=100)
    parser.add_argument("--running", type=int, default=50)
    parser.add_argument("--lists", type=int, default=2000)
    parser.add_argument("--vmm-samples", type=int, default=9)
    args = parser.parse_args()
    if not 0 < args.running <= args.defined:
        parser.error("--running must be between 1 and --defined")

    results = []
    for run_index in range(1, args.runs + 1):
        print(f"run {run_index}/{args.runs} ...", file=sys.stderr)
        result = one_run(args, run_index)
        print("  " + ", ".join(f"{k} {v:.2f}" for k, v in result.items()), file=sys.stderr)
        results.append(result)

    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    overhead = med["start_median_ms"] - med["vmm_ours_ms"]
    per_run = lambda k: " / ".join(f"{r[k]:.2f}" for r in results)
    print(f"""
| measure ({args.defined} defined, {args.running} running idle) | median of {args.runs} runs | each run | target |
|---|---|---|---|
| list p50 (GET /api/v1/vms, {args.lists} requests) | {med['list_p50_ms']:.2f} ms | {per_run('list_p50_ms')} | |
| list p99 | {med['list_p99_ms']:.2f} ms | {per_run('list_p99_ms')} | < 10 ms: {'PASS' if med['list_p99_ms'] < 10 else 'MISS'} |
| start to running (POST start, median of {args.running}) | {med['start_median_ms']:.1f} ms | {per_run('start_median_ms')} | |
| start to running, p90 | {med['start_p90_ms']:.1f} ms | {per_run('start_p90_ms')} | |
| VMM's own start-up to control-socket ready (ours, median of {args.vmm_samples}) | {med['vmm_ours_ms']:.1f} ms | {per_run('vmm_ours_ms')} | |
| QEMU microvm to QMP `running` (median of {args.vmm_samples}) | {med['vmm_qemu_ms']:.1f} ms | {per_run('vmm_qemu_ms')} | |
| manager's share (start to running minus VMM start-up) | {overhead:.1f} ms | | < 100 ms: {'PASS' if overhead < 100 else 'MISS'} |
| daemon RSS with {args.running} running (VmRSS / VmHWM) | {med['rss_mib']:.1f} / {med['hwm_mib']:.1f} MiB | {per_run('rss_mib')} | |
""")


if __name__ == "__main__":
    main()
