#!/usr/bin/env bash
# Start-up benchmark: Sharpvisor's built-in `hello` scenario against QEMU -M microvm
# booting the same test guest ELF. Whole process, exec to exit, for each VMM.
#
# usage: bash bench/startup.sh [-n N] [--no-build | --build-only] [--no-install] [--keep]
#   -n N          iterations (default 15; or ITERATIONS=N in the environment)
#   --no-build    reuse $OUT/aot/sharpvisor and $OUT/guest/testguest.elf from an earlier run
#   --build-only  build them and stop (what bench/nested.sh does before running the rest in a nested host)
#   --no-install  do not apt-get install missing tools (fail instead)
#   --keep        keep the per-run output files (in $OUT/runs)
# Environment: ITERATIONS, OUT (default <repo>/artifacts/bench/startup), QEMU (default qemu-system-x86_64),
#              MEMORY_MIB (default 128).
#
# Each iteration runs both VMMs once, in alternating order (ours first on odd iterations, QEMU
# first on even ones), so machine noise and cache effects hit both equally. One untimed warm-up
# run of each comes first. Every run must exit with status 1 (the guest wrote 0 to the
# isa-debug-exit port) and print `PASS hello`, or the script aborts.
#
# Measured per run:
#   wall  - bash's $EPOCHREALTIME (microseconds) read just before and just after the command;
#           includes fork/exec of GNU time (the harness overhead, measured separately below).
#   rss   - peak resident set size of the VMM process, GNU time's %M (KiB).
#   cpu   - user+sys CPU of the child processes from bash's `time` keyword (ms resolution;
#           includes GNU time's own, well under 1 ms).
set -euo pipefail

ITERATIONS=${ITERATIONS:-15}
BUILD=1
BUILD_ONLY=0
INSTALL=1
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) ITERATIONS=$2; shift 2 ;;
        -n*) ITERATIONS=${1#-n}; shift ;;
        --iterations=*) ITERATIONS=${1#*=}; shift ;;
        --no-build) BUILD=0; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --no-install) INSTALL=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "startup.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$ITERATIONS" in ''|*[!0-9]*|0) echo "startup.sh: iterations must be a positive integer" >&2; exit 2 ;; esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/artifacts/bench/startup}
QEMU=${QEMU:-qemu-system-x86_64}
MEMORY_MIB=${MEMORY_MIB:-128}
AOT_DIR=$OUT/aot
GUEST_DIR=$OUT/guest
RUNS=$OUT/runs
mkdir -p "$OUT" "$RUNS"

log() { echo "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
need_pkgs=()
command -v "$QEMU" >/dev/null 2>&1 || need_pkgs+=(qemu-system-x86)
[ -x /usr/bin/time ] || need_pkgs+=(time)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    [ "$INSTALL" = 1 ] || { log "startup.sh: missing packages: ${need_pkgs[*]}"; exit 1; }
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    log "installing ${need_pkgs[*]} ..."
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
command -v dotnet >/dev/null 2>&1 || [ "$BUILD" = 0 ] || { log "startup.sh: dotnet SDK not found"; exit 1; }

# --- build -------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
    log "building sharpvisor (NativeAOT) into $AOT_DIR ..."
    dotnet publish "$REPO/src/Sharpvisor.Cli" -c Release -r linux-x64 -o "$AOT_DIR" -nologo -v quiet >"$OUT/publish.log" 2>&1 \
        || { cat "$OUT/publish.log" >&2; exit 1; }
    log "building the test guest into $GUEST_DIR ..."
    make -s -C "$REPO/guests/testguest" OUT="$GUEST_DIR" >"$OUT/guest.log" 2>&1 \
        || { cat "$OUT/guest.log" >&2; exit 1; }
fi
[ "$BUILD_ONLY" = 0 ] || exit 0
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { log "startup.sh: /dev/kvm is not accessible (bench/nested.sh startup.sh runs it in a nested KVM host)"; exit 1; }
SV=$AOT_DIR/sharpvisor
GUEST=$GUEST_DIR/testguest.elf
[ -x "$SV" ] || { log "startup.sh: $SV missing (run without --no-build)"; exit 1; }
[ -f "$GUEST" ] || { log "startup.sh: $GUEST missing (run without --no-build)"; exit 1; }

OURS_CMD=("$SV" run --serial stdio --memory "${MEMORY_MIB}M")
QEMU_CMD=("$QEMU" -enable-kvm -M microvm -nodefaults -no-user-config -display none -serial stdio
          -device isa-debug-exit,iobase=0xf4,iosize=4 -m "$MEMORY_MIB" -kernel "$GUEST" -append hello)

# --- one measured run --------------------------------------------------------------------
# run_one <name> <check:1|0> <cmd...>; appends "name wall_us rss_kib cpu_ms" to $RUNS/data.txt
TIMEFORMAT='%3U %3S'
run_one() {
    local name=$1 check=$2; shift 2
    local o=$RUNS/$name.out e=$RUNS/$name.err m=$RUNS/$name.time c=$RUNS/$name.cpu
    local t0 t1
    t0=$EPOCHREALTIME
    { time /usr/bin/time -f '%x %M' -o "$m" "$@" </dev/null >"$o" 2>"$e"; } 2>"$c" || true
    t1=$EPOCHREALTIME
    local status rss
    # GNU time writes "Command exited with non-zero status N" first, then our format line.
    status=$(tail -n 1 "$m" | cut -d' ' -f1); rss=$(tail -n 1 "$m" | cut -d' ' -f2)
    if [ "$check" = 1 ]; then
        if [ "$status" != 1 ] || ! grep -qx 'PASS hello' "$o"; then
            log "startup.sh: $name run failed: exit status $status (want 1), output:"
            cat "$o" "$e" >&2
            exit 1
        fi
    fi
    local us=$(( 10#${t1//[.,]/} - 10#${t0//[.,]/} ))
    local cpu_ms; cpu_ms=$(awk '{printf "%d", ($1 + $2) * 1000 + 0.5}' "$c")
    echo "$name $us $rss $cpu_ms" >>"$RUNS/data.txt"
    [ "$KEEP" = 1 ] && cp "$o" "$RUNS/$name.$(date +%s%N).out" || true
}
# stdin for the VMMs is /dev/null: no terminal, so neither switches a terminal to raw mode.

: >"$RUNS/data.txt"
log "warm-up ..."
run_one warm-ours 1 "${OURS_CMD[@]}"
run_one warm-qemu 1 "${QEMU_CMD[@]}"
run_one warm-true 0 true
: >"$RUNS/data.txt"

log "running $ITERATIONS iterations ..."
for ((i = 1; i <= ITERATIONS; i++)); do
    if (( i % 2 )); then
        run_one ours 1 "${OURS_CMD[@]}"; run_one qemu 1 "${QEMU_CMD[@]}"
    else
        run_one qemu 1 "${QEMU_CMD[@]}"; run_one ours 1 "${OURS_CMD[@]}"
    fi
    run_one harness 0 true   # what the measuring itself costs: GNU time running /bin/true
done

# --- report ------------------------------------------------------------------------------
stats() { # stats <name> <column: 2 wall_us, 3 rss_kib, 4 cpu_ms> -> "median min max"
    awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$RUNS/data.txt" | sort -n | awk '
        { v[NR] = $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}
read -r ow_med ow_min ow_max <<<"$(stats ours 2)"
read -r qw_med qw_min qw_max <<<"$(stats qemu 2)"
read -r or_med or_min or_max <<<"$(stats ours 3)"
read -r qr_med qr_min qr_max <<<"$(stats qemu 3)"
read -r oc_med oc_min oc_max <<<"$(stats ours 4)"
read -r qc_med qc_min qc_max <<<"$(stats qemu 4)"
read -r hw_med hw_min hw_max <<<"$(stats harness 2)"
read -r hr_med hr_min hr_max <<<"$(stats harness 3)"

ms() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }'; }          # us -> ms
mib() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }         # KiB -> MiB
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t) ? "PASS" : "MISS" }'; }

wall_ratio=$(ratio "$ow_med" "$qw_med")
rss_ratio=$(ratio "$or_med" "$qr_med")
cpu_ratio=$(ratio "$oc_med" "$qc_med")
wall_ratio_net=$(awk -v a="$ow_med" -v b="$qw_med" -v h="$hw_med" 'BEGIN { printf "%.3f", (a - h) / (b - h) }')

cores=$(nproc)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
kvm_mod=$( [ -d /sys/module/kvm_pvm ] && echo "kvm_pvm (PVM, software; no vmx/svm)" || { [ -d /sys/module/kvm_intel ] && echo kvm_intel; } || { [ -d /sys/module/kvm_amd ] && echo kvm_amd; } || echo unknown)
qemu_ver=$("$QEMU" --version | head -n 1)
dotnet_ver=$(dotnet --version 2>/dev/null || echo "n/a")
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "n/a")
dirty=$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with local changes)" || true)

fmtcmd() { # shell-quoted only where needed; paths inside the repository shown relative to it
    local out= a
    for a in "$@"; do
        a=${a#"$REPO/"}
        [[ $a =~ ^[A-Za-z0-9_./,=:+@%-]+$ ]] || a=$(printf '%q' "$a")
        out+="${out:+ }$a"
    done
    echo "$out"
}

cat <<EOF
## Start-up: hello scenario vs QEMU microvm

- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- Host: \`uname -r\` = $(uname -r); $cores cores ($cpu_model); KVM module: $kvm_mod
- Versions: sharpvisor at commit $commit$dirty, .NET SDK $dotnet_ver; $qemu_ver
- Iterations: $ITERATIONS per VMM (after one warm-up run each), alternating order within each iteration
- Guest: the test guest's \`hello\` scenario, ${MEMORY_MIB} MiB, 1 vCPU; every run checked for exit status 1 and \`PASS hello\`

Commands (stdin from /dev/null, stdout and stderr to files):

    ours: $(fmtcmd "${OURS_CMD[@]}")
    qemu: $(fmtcmd "${QEMU_CMD[@]}")

Each wrapped as \`/usr/bin/time -f '%x %M' -o FILE CMD\`, wall time from bash \`\$EPOCHREALTIME\` around it.

| metric                 | ours median | ours min | ours max | QEMU median | QEMU min | QEMU max | ours/QEMU (medians) |
|------------------------|------------:|---------:|---------:|------------:|---------:|---------:|--------------------:|
| wall, ms               | $(ms "$ow_med") | $(ms "$ow_min") | $(ms "$ow_max") | $(ms "$qw_med") | $(ms "$qw_min") | $(ms "$qw_max") | $wall_ratio |
| peak RSS, MiB          | $(mib "$or_med") | $(mib "$or_min") | $(mib "$or_max") | $(mib "$qr_med") | $(mib "$qr_min") | $(mib "$qr_max") | $rss_ratio |
| CPU user+sys, ms       | $oc_med | $oc_min | $oc_max | $qc_med | $qc_min | $qc_max | $cpu_ratio |

Harness overhead (GNU time running \`true\`, same measurement): wall median $(ms "$hw_med") ms (min $(ms "$hw_min"), max $(ms "$hw_max")), peak RSS $(mib "$hr_med") MiB.
Wall ratio with that overhead subtracted from both medians: $wall_ratio_net.

| target (issue)                    | measured ratio | result |
|-----------------------------------|---------------:|--------|
| wall time <= 1/5 of QEMU's (0.200) | $wall_ratio | $(verdict "$wall_ratio" 0.2) |
| peak RSS  <= 1/3 of QEMU's (0.333) | $rss_ratio | $(verdict "$rss_ratio" 0.3333333) |
EOF

[ "$KEEP" = 1 ] || rm -f "$RUNS"/{ours,qemu,harness,warm-*}.{out,err,time,cpu}
log "raw data (name wall_us rss_kib cpu_ms): $RUNS/data.txt"
