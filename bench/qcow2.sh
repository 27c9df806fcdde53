#!/usr/bin/env bash
# qcow2 benchmark: Sharpvisor's virtio-blk on a raw image, a standalone qcow2 and a qcow2 overlay over a raw backing
# file, against QEMU's virtio-blk-pci on the same files, both driven by the same test-guest driver on the same /dev/kvm.
#   raw:     a raw image of MIB+1 MiB of random data, whose pages are in the host page cache;
#   qcow2:   the same data converted to a standalone qcow2 (qemu-img convert, 64 KiB clusters, every cluster allocated);
#   backing: an empty qcow2 overlay over the raw image (qemu-img create -b), made afresh before every run, so reads
#            come from the backing file and writes allocate clusters in the overlay (copying the rest of each cluster
#            from the backing file when a request covers only part of it).
# The tests (virtio-blk-bench):
#   seq:   read and write of MIB MiB in 1 MiB requests, 8 in flight;
#   small: read and write of SMALL_MIB MiB in 4 KiB requests, 32 in flight (per-request cost: L2 lookups, allocation).
# MB/s = bytes / the span between the guest's serial lines BENCH-START and BENCH-END, each stamped on the host with
# $EPOCHREALTIME as bash reads it, so boot and exit costs are left out. The goal (issue 16): qcow2 within 10% of raw.
#
# usage: bash bench/qcow2.sh [-n N] [--mib M] [--small-mib M] [--no-build | --build-only] [--only seq|small]
#   -n N           runs per VMM, test and layout (default 5; VMMs alternate, order rotating)
#   --mib M        MiB moved per seq run, and the image size less 1 MiB (default 256)
#   --small-mib M  MiB moved per small run, at most --mib (default 32)
#   --only T       only the seq or only the small tests
# Environment: OUT (default <repo>/artifacts/bench/qcow2), QEMU (default qemu-system-x86_64),
#              QEMU_MACHINE (default q35: QEMU boots the PVH test guest through SeaBIOS, which places BARs),
#              QEMU_CPU (default host,-arch-capabilities: QEMU 7.2 with plain -cpu host aborts on PVM hosts whose KVM
#              lists IA32_ARCH_CAPABILITIES but refuses to set it, "failed to set MSR 0x10a"; the bit is about
#              speculation mitigations, nothing the block path uses), TIMEOUT (seconds a run may take, default 600)
set -euo pipefail

RUNS_PER=5 MIB=256 SMALL_MIB=32 BUILD=1 BUILD_ONLY=0 ONLY=
usage() { echo "qcow2.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -n|--mib|--small-mib|--only) [ $# -ge 2 ] || usage "$1 needs a value" ;;
    esac
    case "$1" in
        -n) RUNS_PER=$2; shift 2 ;;
        --mib) MIB=$2; shift 2 ;;
        --small-mib) SMALL_MIB=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) usage "unknown argument '$1'" ;;
    esac
done
for v in "$RUNS_PER" "$MIB" "$SMALL_MIB"; do
    case "$v" in ''|*[!0-9]*|0*) usage "-n, --mib and --small-mib take positive integers" ;; esac
done
[ "$SMALL_MIB" -le "$MIB" ] || usage "--small-mib ($SMALL_MIB) must not exceed --mib ($MIB), the image size less 1 MiB"
case "$ONLY" in ''|seq|small) ;; *) usage "--only takes seq or small" ;; esac
[ "$BUILD" = 1 ] || [ "$BUILD_ONLY" = 0 ] || usage "--no-build and --build-only exclude each other"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/artifacts/bench/qcow2}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MACHINE=${QEMU_MACHINE:-q35}
QEMU_CPU=${QEMU_CPU:-host,-arch-capabilities}
TIMEOUT=${TIMEOUT:-600}
case "$TIMEOUT" in ''|*[!0-9]*|0*) usage "TIMEOUT takes a positive integer (seconds)" ;; esac
mkdir -p "$OUT"
log() { echo "$*" >&2; }

if [ "$BUILD" = 1 ]; then
    log "building sharpvisor (NativeAOT) and the test guest ..."
    dotnet publish "$REPO/src/Sharpvisor.Cli" -c Release -r linux-x64 -o "$OUT/aot" -nologo -v quiet >"$OUT/publish.log" 2>&1 \
        || { cat "$OUT/publish.log" >&2; exit 1; }
    make -s -C "$REPO/guests/testguest" OUT="$OUT/tg" >/dev/null
fi
[ "$BUILD_ONLY" = 0 ] || exit 0
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { log "qcow2.sh: /dev/kvm is not accessible (bench/nested.sh qcow2.sh runs it in a nested KVM host)"; exit 1; }
command -v "$QEMU" >/dev/null || { log "qcow2.sh: $QEMU not found (apt-get install qemu-system-x86)"; exit 1; }
command -v qemu-img >/dev/null || { log "qcow2.sh: qemu-img not found (apt-get install qemu-utils)"; exit 1; }
SV=$OUT/aot/sharpvisor
GUEST=$OUT/tg/testguest.elf
[ -x "$SV" ] && [ -r "$GUEST" ] || { log "qcow2.sh: $SV or $GUEST missing (run without --no-build)"; exit 1; }
RAW=$OUT/disk.raw
QCOW=$OUT/disk.qcow2
OVERLAY=$OUT/overlay.qcow2
cleanup() { rm -f "$RAW" "$QCOW" "$OVERLAY"; }
trap cleanup EXIT

LAYOUTS=(raw qcow2 backing)
image_of() { case "$1" in raw) echo "$RAW" ;; qcow2) echo "$QCOW" ;; backing) echo "$OVERLAY" ;; esac; }
format_of() { [ "$1" = raw ] && echo raw || echo qcow2; }
# A fresh, empty overlay over the raw image (absolute backing name, so either VMM resolves it the same way).
new_overlay() {
    rm -f "$OVERLAY"
    qemu-img create -q -f qcow2 -o cluster_size=65536 -F raw -b "$RAW" "$OVERLAY"
}

# Ours and QEMU's command for one layout; $1 = layout, $2 = the guest command line.
ours_cmd() {
    local fmt=
    [ "$1" = raw ] || fmt=,format=qcow2
    echo "$SV run --memory 256M --disk $(image_of "$1")$fmt --cmdline '$2'"
}
qemu_cmd() {
    echo "$QEMU -enable-kvm -M $QEMU_MACHINE -cpu $QEMU_CPU -m 256 -nodefaults -no-user-config -display none -serial stdio" \
        "-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel $GUEST -append '$2'" \
        "-drive file=$(image_of "$1"),if=none,format=$(format_of "$1"),id=d0,cache=writeback,aio=threads" \
        "-device virtio-blk-pci,drive=d0,disable-legacy=on"
}

# run_one <vmm> <test> <layout> <guest cmdline> <run> -> prints "<seconds between BENCH-START and BENCH-END> <bytes>"
# or "fail"; the log (every line stamped with the host's $EPOCHREALTIME) and the command stay in $OUT.
run_one() {
    local cmd log=$OUT/$2-$3-$1-$5.log
    [ "$3" != backing ] || new_overlay
    cmd=$([ "$1" = ours ] && ours_cmd "$3" "$4" || qemu_cmd "$3" "$4")
    echo "$cmd" >"$log.cmd"
    timeout "$TIMEOUT" bash -c "$cmd" </dev/null 2>&1 | while IFS= read -r line; do echo "$EPOCHREALTIME ${line%$'\r'}"; done >"$log" || true
    awk '/BENCH-START/ && !s { s = $1 } /BENCH-END/ && s { printf "%.6f %s\n", $1 - s, $NF; ok = 1; exit } END { if (!ok) print "fail" }' "$log"
}

declare -A RESULTS
measure() { # measure <test> <guest cmdline>: every layout, RUNS_PER runs per VMM, the VMMs alternating
    local test=$1 cmdline=$2 i k layout vmm r order=(ours qemu)
    for layout in "${LAYOUTS[@]}"; do
        for ((i = 0; i < RUNS_PER; i++)); do
            for ((k = 0; k < 2; k++)); do
                vmm=${order[(k + i) % 2]}
                r=$(run_one "$vmm" "$test" "$layout" "$cmdline" $((i + 1)))
                log "  $test $layout $vmm run $((i + 1)): $r"
                RESULTS[$test.$layout.$vmm]+="$r;"
            done
        done
    done
}
median_rate() { # median of bytes/seconds over the runs that finished
    tr ';' '\n' <<<"${RESULTS[$1]-}" | awk 'NF == 2 && $1 > 0 { print $2 / $1 }' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ok_runs() { tr ';' '\n' <<<"${RESULTS[$1]-}" | awk 'NF == 2' | wc -l; }

date_start=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "images: raw of $((MIB + 1)) MiB of random data, its qcow2 copy (64 KiB clusters), an overlay over it; in the page cache ..."
dd if=/dev/urandom of="$RAW" bs=1M count=$((MIB + 1)) status=none
rm -f "$QCOW"
qemu-img convert -f raw -O qcow2 -o cluster_size=65536 "$RAW" "$QCOW"
cat "$RAW" "$QCOW" >/dev/null
TESTS=()
if [ "$ONLY" != small ]; then
    measure seq-read "virtio-blk-bench op=read mib=$MIB reqkib=1024 depth=8"
    measure seq-write "virtio-blk-bench op=write mib=$MIB reqkib=1024 depth=8"
    TESTS+=(seq-read seq-write)
fi
if [ "$ONLY" != seq ]; then
    measure small-read "virtio-blk-bench op=read mib=$SMALL_MIB reqkib=4 depth=32"
    measure small-write "virtio-blk-bench op=write mib=$SMALL_MIB reqkib=4 depth=32"
    TESTS+=(small-read small-write)
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
failed=0
for k in "${!RESULTS[@]}"; do [ "$(ok_runs "$k")" = "$RUNS_PER" ] || failed=1; done

fmt() { [ "$1" = - ] && echo - || awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000000 }'; }
ratio() { { [ "$1" = - ] || [ "$2" = - ]; } && echo - || awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
rows() {
    local t l o q
    for t in "${TESTS[@]}"; do
        for l in "${LAYOUTS[@]}"; do
            o=$(median_rate "$t.$l.ours"); q=$(median_rate "$t.$l.qemu")
            echo "| $t | $l | $(fmt "$o") ($(ok_runs "$t.$l.ours")/$RUNS_PER) | $(fmt "$q") ($(ok_runs "$t.$l.qemu")/$RUNS_PER) | $(ratio "$o" "$q") | $(ratio "$o" "$(median_rate "$t.raw.ours")") |"
        done
    done
}
cat <<EOF
## Storage: qcow2 against raw, ours against QEMU

- Date: $date_start; load average $load_before before, $load_after after; $(nproc) cores; $("$QEMU" --version | head -n 1)
- sharpvisor at commit $(git -C "$REPO" rev-parse --short HEAD) (NativeAOT); QEMU machine $QEMU_MACHINE, -cpu $QEMU_CPU, cache=writeback, aio=threads; $RUNS_PER runs each, alternating
- Images: raw of $((MIB + 1)) MiB of random data in the page cache; qcow2 = its \`qemu-img convert\` copy (64 KiB clusters); backing = an empty qcow2 overlay over the raw image, made afresh before every run
- Tests: seq = $MIB MiB in 1 MiB requests, 8 in flight; small = $SMALL_MIB MiB in 4 KiB requests, 32 in flight
- Command: \`bash bench/qcow2.sh -n $RUNS_PER --mib $MIB --small-mib $SMALL_MIB${ONLY:+ --only $ONLY}\`; per-run logs and commands in \`$OUT\`

| test | layout | ours MB/s (median, runs ok) | QEMU MB/s (median, runs ok) | ours / QEMU | ours layout / raw |
|---|---|---:|---:|---:|---:|
$(rows)

Targets (issue 16): qcow2 and backing within 10% of raw (ours layout / raw >= 0.90), and at least QEMU's throughput (ours / QEMU >= 1.00).
EOF
[ "$failed" = 0 ] || { log "qcow2.sh: some runs failed; see the logs in $OUT"; exit 1; }
