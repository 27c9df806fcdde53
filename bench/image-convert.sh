#!/usr/bin/env bash
# Image conversion benchmark: `sharpvisor image convert` (NativeAOT) against `qemu-img convert` (Debian's QEMU 7.2) on
# the same files in the same run, alternating who goes first. The source is a 1 GiB raw disk, half of it data (every
# other MiB filled with seeded pseudo-random bytes, which neither compresses nor is zero) and half holes; the cases:
#   raw -> qcow2     (the usual import of a disk)
#   qcow2 -> raw     (an export)
#   chain -> qcow2   (flattening a raw template plus a qcow2 overlay holding every fourth MiB rewritten)
# Both flush their output to the disk before they exit (qemu-img with -t writeback; its default, unsafe, does not).
# Every output is checked with `qemu-img compare` against the source (and `qemu-img check` for qcow2); a run whose
# output differs fails the benchmark. The page cache is warm for both (each case reads its source once first).
#
# usage: bash bench/image-convert.sh [-n N] [--no-build]
#   -n N        runs per case and tool (default 5)
# Environment: OUT (default <repo>/artifacts/bench/image)
# Output: a markdown table on stdout (median and min-max seconds, MB/s of virtual size, ours/QEMU), progress on stderr.
set -euo pipefail

RUNS=5 BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        -n) RUNS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "image-convert.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$RUNS" in ''|*[!0-9]*|0) echo "image-convert.sh: -n takes a positive integer" >&2; exit 2 ;; esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/artifacts/bench/image}
AOT=$OUT/aot
mkdir -p "$OUT"
log() { echo "$*" >&2; }
command -v qemu-img >/dev/null || { log "image-convert.sh: qemu-img missing (apt-get install qemu-utils)"; exit 1; }

if [ "$BUILD" = 1 ]; then
    log "publishing sharpvisor (NativeAOT) into $AOT ..."
    dotnet publish "$REPO/src/Sharpvisor.Cli" -c Release -r linux-x64 -o "$AOT" -nologo -v quiet >"$OUT/publish.log" 2>&1 \
        || { cat "$OUT/publish.log" >&2; exit 1; }
fi
SV=$AOT/sharpvisor
[ -x "$SV" ] || { log "image-convert.sh: $SV missing (run without --no-build)"; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/sv-image-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
log "making the source images in $W ..."
python3 - "$W" <<'PY'
import os, random, sys
w = sys.argv[1]
mib = 1 << 20
rng = random.Random(20261207)
with open(os.path.join(w, "src.raw"), "wb") as f:
    f.truncate(1024 * mib)
    for i in range(0, 1024, 2):
        f.seek(i * mib)
        f.write(rng.randbytes(mib))
PY
qemu-img convert -f raw -O qcow2 "$W/src.raw" "$W/src.qcow2"
qemu-img create -q -f qcow2 -F raw -b "$W/src.raw" "$W/overlay.qcow2"
for ((i = 0; i < 1024; i += 4)); do echo "write -P $((i % 251)) ${i}M 1M"; done | qemu-io -f qcow2 "$W/overlay.qcow2" >/dev/null

# case NAME SRC SRC_FORMAT OUT_FORMAT
CASES=("raw->qcow2 src.raw raw qcow2" "qcow2->raw src.qcow2 qcow2 raw" "chain->qcow2 overlay.qcow2 qcow2 qcow2")
RESULTS=$OUT/results.txt
: >"$RESULTS"

# run_one TOOL SRC SRCFMT OUTFMT DST -> seconds on stdout
run_one() {
    local tool=$1 src=$2 sf=$3 of=$4 dst=$5 t0 t1
    rm -f "$dst"
    t0=$EPOCHREALTIME
    if [ "$tool" = ours ]; then
        "$SV" image convert -f "$sf" -O "$of" "$src" "$dst" >/dev/null
    else
        # -t writeback: flushed to the disk at the end, as ours is (qemu-img convert's own default, "unsafe", never
        # flushes, so its output may still be in the page cache when it exits).
        qemu-img convert -t writeback -f "$sf" -O "$of" "$src" "$dst"
    fi
    t1=$EPOCHREALTIME
    qemu-img compare -q -f "$sf" -F "$of" "$src" "$dst" || { log "image-convert.sh: $tool's $dst differs from $src"; exit 1; }
    if [ "$of" = qcow2 ]; then
        qemu-img check -q "$dst" || { log "image-convert.sh: qemu-img check of $tool's $dst failed"; exit 1; }
    fi
    python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "${t0/,/.}" "${t1/,/.}"
}

for c in "${CASES[@]}"; do
    read -r name src sf of <<<"$c"
    cat "$W/$src" >/dev/null # warm the page cache for both tools
    for ((r = 1; r <= RUNS; r++)); do
        if ((r % 2)); then order="ours qemu"; else order="qemu ours"; fi
        for tool in $order; do
            s=$(run_one "$tool" "$W/$src" "$sf" "$of" "$W/out.$of")
            size=$(stat -c %b "$W/out.$of")
            echo "$name $tool $s $((size * 512))" >>"$RESULTS"
            log "$name run $r $tool: $s s, output $((size * 512 / 1048576)) MiB on disk"
        done
    done
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, tool, seconds, allocated = line.split()
    rows.setdefault(name, {}).setdefault(tool, []).append((float(seconds), int(allocated)))
print("| case | ours, s | QEMU, s | ours/QEMU | ours, MB/s | QEMU, MB/s | output on disk, MiB (ours / QEMU) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, tools in rows.items():
    o = [s for s, _ in tools["ours"]]; q = [s for s, _ in tools["qemu"]]
    mo, mq = statistics.median(o), statistics.median(q)
    ao = statistics.median(a for _, a in tools["ours"]) / 2**20
    aq = statistics.median(a for _, a in tools["qemu"]) / 2**20
    print(f"| {name} | {mo:.2f} ({min(o):.2f}-{max(o):.2f}) | {mq:.2f} ({min(q):.2f}-{max(q):.2f}) | {mo / mq:.2f} "
          f"| {1024 * 1.048576 / mo:.0f} | {1024 * 1.048576 / mq:.0f} | {ao:.0f} / {aq:.0f} |")
PY
