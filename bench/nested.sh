#!/usr/bin/env bash
# Runs a benchmark script inside a disposable nested KVM host (tools/nested-kvm), for machines without /dev/kvm.
# The script builds here first (SCRIPT --build-only: NativeAOT sharpvisor, guests, kernels), then runs with
# --no-build inside the nested host, where QEMU runs on the same nested /dev/kvm beside us. Under software
# emulation absolute times mean nothing; the ratios against QEMU in the same run are the result.
# The results land where the script always writes them (artifacts/bench/..., the checkout is shared).
#
# usage: bash bench/nested.sh [--cpus N] [--memory SIZE] SCRIPT [ARGS...]
#   SCRIPT   startup.sh, linux-boot.sh, virtio.sh or serve-startup.sh (in bench/)
#   --cpus   vCPUs of the nested host (default 1: one-vCPU hosts are the ones TCG runs without faults,
#            see docs/nested-kvm.md)
#   --memory memory of the nested host (default 6G)
# e.g. bash bench/nested.sh startup.sh -n 10
set -euo pipefail

CPUS=1 MEMORY=6G
while [ $# -gt 0 ]; do
    case "$1" in
        --cpus) CPUS=$2; shift 2 ;;
        --memory) MEMORY=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: bash bench/nested.sh [--cpus N] [--memory SIZE] SCRIPT [ARGS...]" >&2; exit 2; }
case "$1" in
    startup.sh|linux-boot.sh|virtio.sh|serve-startup.sh) SCRIPT=$1; shift ;;
    *) echo "nested.sh: SCRIPT is one of startup.sh, linux-boot.sh, virtio.sh, serve-startup.sh (got '$1')" >&2; exit 2 ;;
esac
case "$CPUS" in ''|*[!0-9]*|0) echo "nested.sh: --cpus takes a positive integer" >&2; exit 2 ;; esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
echo "nested.sh: building here ($SCRIPT --build-only) ..." >&2
bash "bench/$SCRIPT" --build-only "$@"
echo "nested.sh: running $SCRIPT --no-build $* in a nested KVM host ($CPUS vCPU, $MEMORY) ..." >&2
exec tools/nested-kvm/run --cpus "$CPUS" --memory "$MEMORY" -- bash "bench/$SCRIPT" --no-build "$@"
