#!/usr/bin/env bash
# virtio benchmark: Sharpvisor's virtio-pci devices against QEMU's (virtio-blk-pci, virtio-net-pci with a TAP
# backend and no vhost), both driven by the same test-guest driver on the same /dev/kvm.
#   blk: sequential read and write of MIB MiB in 1 MiB requests, 8 in flight, on one raw image whose pages
#        are in the host page cache (written just before, read once); MB/s = bytes / guest-reported span.
#   net: the guest transmits FRAMES 60-byte frames as fast as the ring allows to a TAP inside a private
#        network namespace; frames/s.
# The span is measured on the host: the time between the guest's serial lines BENCH-START and BENCH-END,
# each stamped with $EPOCHREALTIME as bash reads it, so boot and exit costs are left out.
#
# usage: bash bench/virtio.sh [-n N] [--mib M] [--frames F] [--no-build | --build-only] [--only blk|net]
#   -n N        runs per VMM and test (default 5; VMMs alternate, order rotating)
#   --mib M     MiB moved per blk run (default 256: at 64 a run lasts ~0.1 s in a nested host and the runs split
#               into two clusters twice apart)
#   --frames F  frames per net run (default 20000)
# Environment: OUT (default <repo>/artifacts/bench/virtio), QEMU (default qemu-system-x86_64),
#              QEMU_MACHINE (default q35: QEMU boots the PVH test guest through SeaBIOS, which places BARs)
set -euo pipefail

RUNS_PER=5 MIB=256 FRAMES=20000 BUILD=1 BUILD_ONLY=0 ONLY=
while [ $# -gt 0 ]; do
    case "$1" in
        -n) RUNS_PER=$2; shift 2 ;;
        --mib) MIB=$2; shift 2 ;;
        --frames) FRAMES=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "virtio.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
for v in "$RUNS_PER" "$MIB" "$FRAMES"; do
    case "$v" in ''|*[!0-9]*|0) echo "virtio.sh: -n, --mib and --frames take positive integers" >&2; exit 2 ;; esac
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/artifacts/bench/virtio}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MACHINE=${QEMU_MACHINE:-q35}
NS=svbench-$$
TAP=svbench0
mkdir -p "$OUT"
log() { echo "$*" >&2; }

if [ "$BUILD" = 1 ]; then
    log "building sharpvisor (NativeAOT) and the test guest ..."
    dotnet publish "$REPO/src/Sharpvisor.Cli" -c Release -r linux-x64 -o "$OUT/aot" -nologo -v quiet >"$OUT/publish.log" 2>&1 \
        || { cat "$OUT/publish.log" >&2; exit 1; }
    make -s -C "$REPO/guests/testguest" OUT="$OUT/tg" >/dev/null
fi
[ "$BUILD_ONLY" = 0 ] || exit 0
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { log "virtio.sh: /dev/kvm is not accessible (bench/nested.sh virtio.sh runs it in a nested KVM host)"; exit 1; }
command -v "$QEMU" >/dev/null || { log "virtio.sh: $QEMU not found (apt-get install qemu-system-x86)"; exit 1; }
SV=$OUT/aot/sharpvisor
GUEST=$OUT/tg/testguest.elf
IMG=$OUT/disk.img

ip netns add "$NS"
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ip -n "$NS" tuntap add dev "$TAP" mode tap
ip -n "$NS" link set "$TAP" up

# Ours and QEMU's command for one test; $1 = blk|net, $2 = the guest command line.
ours_cmd() {
    case "$1" in
        blk) echo "$SV run --memory 256M --disk $IMG --cmdline '$2'" ;;
        net) echo "ip netns exec $NS $SV run --memory 256M --net tap=$TAP --cmdline '$2'" ;;
    esac
}
qemu_cmd() {
    local base="$QEMU -enable-kvm -M $QEMU_MACHINE -cpu host -m 256 -nodefaults -no-user-config -display none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel $GUEST -append '$2'"
    case "$1" in
        blk) echo "$base -drive file=$IMG,if=none,format=raw,id=d0,cache=writeback,aio=threads -device virtio-blk-pci,drive=d0,disable-legacy=on" ;;
        net) echo "ip netns exec $NS $base -netdev tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off -device virtio-net-pci,netdev=n0,disable-legacy=on" ;;
    esac
}

# run_one <vmm> <test> <guest cmdline> -> prints "<seconds between BENCH-START and BENCH-END> <amount>" or "fail"
run_one() {
    local cmd log=$OUT/$1-$2.log
    cmd=$([ "$1" = ours ] && ours_cmd "$2" "$3" || qemu_cmd "$2" "$3")
    echo "$cmd" >"$log.cmd"
    timeout 900 bash -c "$cmd" </dev/null 2>&1 | while IFS= read -r line; do echo "$EPOCHREALTIME ${line%$'\r'}"; done >"$log" || true
    awk '/BENCH-START/ && !s { s = $1 } /BENCH-END/ && s { printf "%.6f %s\n", $1 - s, $NF; ok = 1; exit } END { if (!ok) print "fail" }' "$log"
}

declare -A RESULTS
measure() { # measure <test> <label> <guest cmdline> <unit divisor>
    local test=$1 label=$2 cmdline=$3 i k vmm r order=(ours qemu)
    for ((i = 0; i < RUNS_PER; i++)); do
        for ((k = 0; k < 2; k++)); do
            vmm=${order[(k + i) % 2]}
            r=$(run_one "$vmm" "$test" "$cmdline")
            log "  $label $vmm run $((i + 1)): $r"
            RESULTS[$label.$vmm]+="$r;"
        done
    done
}
median_rate() { # median of amount/seconds over the runs that finished
    tr ';' '\n' <<<"${RESULTS[$1]}" | awk 'NF == 2 && $1 > 0 { print $2 / $1 }' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ok_runs() { tr ';' '\n' <<<"${RESULTS[$1]}" | awk 'NF == 2' | wc -l; }

date_start=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$ONLY" != net ]; then
    log "blk: image of $((MIB + 1)) MiB, in the page cache ..."
    dd if=/dev/urandom of="$IMG" bs=1M count=$((MIB + 1)) status=none
    cat "$IMG" >/dev/null
    measure blk blk-read "virtio-blk-bench op=read mib=$MIB reqkib=1024 depth=8"
    measure blk blk-write "virtio-blk-bench op=write mib=$MIB reqkib=1024 depth=8"
fi
if [ "$ONLY" != blk ]; then
    measure net net-tx "virtio-net-bench count=$FRAMES"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

fmt() { [ "$1" = - ] && echo - || awk -v v="$1" -v d="$2" 'BEGIN { printf "%.1f", v / d }'; }
ratio() { { [ "$1" = - ] || [ "$2" = - ]; } && echo - || awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { # row <label> <unit> <divisor>
    local o q
    o=$(median_rate "$1.ours"); q=$(median_rate "$1.qemu")
    echo "| $1 | $(fmt "$o" "$3") $2 ($(ok_runs "$1.ours")/$RUNS_PER) | $(fmt "$q" "$3") $2 ($(ok_runs "$1.qemu")/$RUNS_PER) | $(ratio "$o" "$q") |"
}
cat <<EOF
## virtio: block throughput and packet rate

- Date: $date_start; load average $load_before before, $load_after after; $(nproc) cores; $("$QEMU" --version | head -n 1)
- sharpvisor at commit $(git -C "$REPO" rev-parse --short HEAD) (NativeAOT); QEMU machine $QEMU_MACHINE; $RUNS_PER runs each, alternating
- Command: \`bash bench/virtio.sh -n $RUNS_PER --mib $MIB --frames $FRAMES${ONLY:+ --only $ONLY}\`; per-run logs and commands in \`$OUT\`

| test | ours (median, runs ok) | QEMU (median, runs ok) | ours / QEMU |
|---|---:|---:|---:|
$( [ "$ONLY" != net ] && row blk-read MB/s 1000000 && row blk-write MB/s 1000000 )
$( [ "$ONLY" != blk ] && row net-tx frames/s 1 )

Target (issue): at least QEMU's throughput in both, i.e. ratio >= 1.00.
EOF
