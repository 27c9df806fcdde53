#!/usr/bin/env bash
# Manager benchmark: `sharpvisor serve` (NativeAOT) with 100 defined VMs, 50 of them running the test guest's
# idle scenario: API list latency p50/p99, start-to-running, daemon RSS, and the VMM's own start-up beside
# QEMU microvm's in the same run (bench/manager.py says what exactly is timed).
#
# usage: bash bench/manager.sh [--no-build] [manager.py options: --runs N --defined N --running N --lists N]
# Environment: OUT (default <repo>/artifacts/bench/manager), QEMU (default qemu-system-x86_64).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/artifacts/bench/manager}
QEMU=${QEMU:-qemu-system-x86_64}
BUILD=1
[ "${1:-}" = --no-build ] && { BUILD=0; shift; }
mkdir -p "$OUT"
command -v "$QEMU" >/dev/null || { echo "manager.sh: $QEMU not found (apt-get install qemu-system-x86)" >&2; exit 1; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "manager.sh: /dev/kvm is not accessible" >&2; exit 1; }

if [ "$BUILD" = 1 ]; then
    echo "building sharpvisor (NativeAOT) and the test guest into $OUT ..." >&2
    # sharpvisor (the VMMs, and `serve`, which hands over to) sharpvisor-serve, the daemon: both NativeAOT, side by side.
    for project in Sharpvisor.Cli Sharpvisor.Serve; do
        dotnet publish "$REPO/src/$project" -c Release -r linux-x64 -o "$OUT/aot" -nologo -v quiet >"$OUT/publish.log" 2>&1 \
            || { cat "$OUT/publish.log" >&2; exit 1; }
    done
    make -s -C "$REPO/guests/testguest" OUT="$OUT/guest" >"$OUT/guest.log" 2>&1 || { cat "$OUT/guest.log" >&2; exit 1; }
fi

echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); sharpvisor at commit $(git -C "$REPO" rev-parse --short HEAD); $("$QEMU" --version | head -n 1)"
echo "- Command: bash bench/manager.sh $*"
python3 "$REPO/bench/manager.py" --sharpvisor "$OUT/aot/sharpvisor" --guest "$OUT/guest/testguest.elf" --qemu "$QEMU" --out "$OUT" "$@"
