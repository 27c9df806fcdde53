#!/usr/bin/env bash
# Linux boot benchmark: Sharpvisor against QEMU -M microvm and QEMU -M q35, all booting the same
# kernel (our small 6.1 build, the variant without the int3 self-test) and the same initramfs.
# Measured from exec: wall time until the kernel's first message (`Linux version`) and until
# `Run /init as init process` appears on the serial output; the VM is killed as soon as that is seen.
#
# usage: bash bench/linux-boot.sh [-n N] [--ours-runs N] [--microvm-runs N] [--q35-runs N]
#                                 [--timeout S] [--no-build | --build-only] [--keep]
#   -n N              runs per VMM (default 3; or ITERATIONS=N)
#   --ours-runs N, --microvm-runs N, --q35-runs N
#                     runs for one VMM (default: N; 0 leaves that VMM out)
#   --timeout S       per-run limit in seconds (default 600); a run that hits it is recorded as a timeout
#   --no-build        reuse $OUT/aot/sharpvisor from an earlier run
#   --build-only      build it and the guest images and stop (bench/nested.sh runs the rest nested)
#   --keep            keep every run's timestamped serial log (default: only the last one per VMM)
# Environment: OUT (default <repo>/artifacts/bench/linux), QEMU (default qemu-system-x86_64),
#              SV_WORKAROUNDS (on|off, default off), MICROVM_CPU / Q35_CPU (a -cpu model, default host;
#              empty = QEMU's default model), Q35_KERNEL (vmlinux|bzImage, default vmlinux),
#              CLEARCPUID (default: the list from /work/shared/ENVIRONMENT.md).
#
# Runs alternate between the VMMs (the order rotates every iteration), one VM at a time. Each VMM's
# standard output and error go through a perl filter that stamps each line with the wall clock as it
# arrives; the start stamp is bash's $EPOCHREALTIME just before the fork that execs the VMM.
set -euo pipefail

ITERATIONS=${ITERATIONS:-3}
OURS_RUNS= MICROVM_RUNS= Q35_RUNS=
TIMEOUT_S=600
BUILD=1
BUILD_ONLY=0
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) ITERATIONS=$2; shift 2 ;;
        -n*) ITERATIONS=${1#-n}; shift ;;
        --ours-runs) OURS_RUNS=$2; shift 2 ;;
        --microvm-runs) MICROVM_RUNS=$2; shift 2 ;;
        --q35-runs) Q35_RUNS=$2; shift 2 ;;
        --timeout) TIMEOUT_S=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "linux-boot.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
OURS_RUNS=${OURS_RUNS:-$ITERATIONS}; MICROVM_RUNS=${MICROVM_RUNS:-$ITERATIONS}; Q35_RUNS=${Q35_RUNS:-$ITERATIONS}
for v in "$OURS_RUNS" "$MICROVM_RUNS" "$Q35_RUNS" "$TIMEOUT_S"; do
    case "$v" in ''|*[!0-9]*) echo "linux-boot.sh: run counts and timeout must be integers" >&2; exit 2 ;; esac
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/artifacts/bench/linux}
QEMU=${QEMU:-qemu-system-x86_64}
SV_WORKAROUNDS=${SV_WORKAROUNDS:-off}
MICROVM_CPU=${MICROVM_CPU-host}
Q35_CPU=${Q35_CPU-host}
Q35_KERNEL=${Q35_KERNEL:-vmlinux}
CLEARCPUID=${CLEARCPUID:-cx16,smap,smep,pku,umip,popcnt,avx,avx2,avx512f,bmi1,bmi2,movbe,rdrand,rdseed,fsgsbase,aes,pclmulqdq,sha_ni,xsave,fma,f16c,abm,adx,rdpid,gfni,vaes,vpclmulqdq,invpcid,pcid}
AOT_DIR=$OUT/aot
RUNS=$OUT/runs
mkdir -p "$OUT" "$RUNS"
log() { echo "$*" >&2; }

perl -MTime::HiRes -e 1 2>/dev/null || {
    log "installing perl (Time::HiRes stamps the serial lines) ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends perl >/dev/null \
        || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends perl >/dev/null; }
}
command -v "$QEMU" >/dev/null 2>&1 || {
    log "installing qemu-system-x86 ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null \
        || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null; }
}

# --- images and build ---------------------------------------------------------------------
log "locating/building the kernel (guests/linux/build-kernel.sh) ..."
KDIR=$("$REPO/guests/linux/build-kernel.sh" 2>"$OUT/build-kernel.log" | tail -n 1) || { cat "$OUT/build-kernel.log" >&2; exit 1; }
log "locating/building the initramfs (guests/linux/build-initramfs.sh) ..."
INITRD_GZ=$("$REPO/guests/linux/build-initramfs.sh" 2>"$OUT/build-initramfs.log" | tail -n 1) || { cat "$OUT/build-initramfs.log" >&2; exit 1; }
KERNEL=$KDIR/vmlinux-noint3
BZIMAGE=$KDIR/bzImage-noint3
INITRD=$(dirname "$INITRD_GZ")/initramfs.cpio
for f in "$KERNEL" "$BZIMAGE" "$INITRD"; do [ -f "$f" ] || { log "linux-boot.sh: $f missing"; exit 1; }; done

if [ "$BUILD" = 1 ]; then
    log "building sharpvisor (NativeAOT) into $AOT_DIR ..."
    dotnet publish "$REPO/src/Sharpvisor.Cli" -c Release -r linux-x64 -o "$AOT_DIR" -nologo -v quiet >"$OUT/publish.log" 2>&1 \
        || { cat "$OUT/publish.log" >&2; exit 1; }
fi
[ "$BUILD_ONLY" = 0 ] || exit 0
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { log "linux-boot.sh: /dev/kvm is not accessible (bench/nested.sh linux-boot.sh runs it in a nested KVM host)"; exit 1; }
SV=$AOT_DIR/sharpvisor
[ -x "$SV" ] || { log "linux-boot.sh: $SV missing (run without --no-build)"; exit 1; }

ARGS="console=ttyS0 earlyprintk=ttyS0 panic=-1 noxsave nowatchdog clearcpuid=$CLEARCPUID"
Q35_IMAGE=$KERNEL; [ "$Q35_KERNEL" = bzImage ] && Q35_IMAGE=$BZIMAGE
OURS_CMD=("$SV" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 256M --cmdline "$ARGS"
          --emulation-workarounds "$SV_WORKAROUNDS")
MICROVM_CMD=("$QEMU" -enable-kvm -M microvm,rtc=on ${MICROVM_CPU:+-cpu "$MICROVM_CPU"} -smp 2 -m 256 -nodefaults
             -no-user-config -display none -serial stdio -kernel "$KERNEL" -initrd "$INITRD" -append "$ARGS")
Q35_CMD=("$QEMU" -enable-kvm -M q35 ${Q35_CPU:+-cpu "$Q35_CPU"} -smp 2 -m 256 -nodefaults
         -no-user-config -display none -serial stdio -kernel "$Q35_IMAGE" -initrd "$INITRD" -append "$ARGS")

# --- one measured run ---------------------------------------------------------------------
# run_one <name> <iteration> <cmd...>
# Appends "name iteration result first_us init_us" to $RUNS/data.txt; result is ok, timeout,
# emulation-failure (QEMU printed `KVM internal error`) or exit:<status> (the VMM ended before
# `Run /init`); a milestone not reached is "-".
now_us() { local t=$EPOCHREALTIME; echo $(( 10#${t//[.,]/} )); }
run_one() {
    local name=$1 iter=$2; shift 2
    local log=$RUNS/$name.$iter.log
    local t0 first=- init=- result= line now left status emu=0
    local deadline
    : >"$log"
    t0=$(now_us); deadline=$(( t0 + TIMEOUT_S * 1000000 ))
    # perl stamps each line as it arrives (bash reads a pipe a byte at a time, too slowly to stamp a burst of boot
    # output on time: under software emulation it fell seconds behind); bash only reads the stamped lines.
    coproc VM { exec "$@" </dev/null > >(exec perl -MTime::HiRes=time -ne 'BEGIN { $| = 1 } printf "%d %s", time() * 1e6, $_') 2>&1; }
    local pid=$VM_PID fd
    # A copy of the read end: bash closes the coproc's own when the VMM exits, even with lines still unread.
    exec {fd}<&"${VM[0]}"
    while :; do
        now=$(now_us); left=$(( deadline - now ))
        if (( left <= 0 )); then result=timeout; (( emu )) && result=emulation-failure; break; fi
        line=
        if IFS= read -r -t "$(( left / 1000000 )).$(printf '%06d' $(( left % 1000000 )))" -u "$fd" line; then
            now=${line%% *}; line=${line#* }; line=${line%$'\r'}
            printf '%d.%06d %s\n' $(( (now - t0) / 1000000 )) $(( (now - t0) % 1000000 )) "$line" >>"$log"
            if [ "$first" = - ] && [[ $line == *"Linux version"* ]]; then first=$(( now - t0 )); fi
            if [[ $line == *"Run /init as init process"* ]]; then init=$(( now - t0 )); result=ok; break; fi
            # QEMU reports an instruction KVM could not emulate and then waits, paused, for ever:
            # keep its register dump (1 s more of output), then stop it.
            if (( ! emu )) && [[ $line == *"KVM internal error"* ]]; then emu=1; deadline=$(( now + 1000000 )); fi
        else
            status=$?
            if (( status > 128 )); then result=timeout; (( emu )) && result=emulation-failure; break; fi   # read timed out
            [ -n "$line" ] && printf '%s (no newline at the end)\n' "$line" >>"$log"
            result=exit; break                                       # end of file: the VMM ended
        fi
    done
    if [ "$result" = exit ]; then
        wait "$pid" && status=0 || status=$?
        result=exit:$status; (( emu )) && result=emulation-failure
    else
        kill -TERM "$pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    exec {fd}<&-
    echo "$name $iter $result $first $init" >>"$RUNS/data.txt"
    log "  $name run $iter: $result, first message $(fmt_s "$first") s, Run /init $(fmt_s "$init") s"
    [ "$result" = ok ] || { log "  last lines of $log:"; tail -n 5 "$log" >&2; }
}
fmt_s() { [ "$1" = - ] && echo - || awk -v v="$1" 'BEGIN { printf "%.1f", v / 1e6 }'; }

declare -A COUNT=([ours]=$OURS_RUNS [microvm]=$MICROVM_RUNS [q35]=$Q35_RUNS)
run_vmm() {
    case "$1" in
        ours) run_one ours "$2" "${OURS_CMD[@]}" ;;
        microvm) run_one microvm "$2" "${MICROVM_CMD[@]}" ;;
        q35) run_one q35 "$2" "${Q35_CMD[@]}" ;;
    esac
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
date_start=$(date -u '+%Y-%m-%d %H:%M UTC')
: >"$RUNS/data.txt"
max=$OURS_RUNS; (( MICROVM_RUNS > max )) && max=$MICROVM_RUNS; (( Q35_RUNS > max )) && max=$Q35_RUNS
order=(ours microvm q35)
for ((i = 1; i <= max; i++)); do
    for ((k = 0; k < 3; k++)); do
        v=${order[(k + i - 1) % 3]}
        (( i <= COUNT[$v] )) || continue
        log "iteration $i: $v ..."
        run_vmm "$v" "$i"
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
date_end=$(date -u '+%H:%M UTC')

# --- report -------------------------------------------------------------------------------
median() { # median <name> <column: 4 first_us, 5 init_us> over the runs that reached Run /init
    awk -v n="$1" -v c="$2" '$1 == n && $3 == "ok" { print $c }' "$RUNS/data.txt" | sort -n | awk '
        { v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { { [ "$1" = - ] || [ "$2" = - ]; } && echo - || awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
runs_of() { # "12.3 / 45.6; ..." per run, with results other than ok named
    awk -v n="$1" '$1 == n {
        f = ($4 == "-") ? "-" : sprintf("%.1f", $4 / 1e6); i = ($5 == "-") ? "-" : sprintf("%.1f", $5 / 1e6)
        s = s (s == "" ? "" : "; ") f " / " i ($3 == "ok" ? "" : " (" $3 ")") }
        END { print (s == "") ? "(not run)" : s }' "$RUNS/data.txt"
}
SAFE_WORD='^[A-Za-z0-9_./,=:+@%$-]+$'
fmtcmd() {
    local out= a
    for a in "$@"; do
        case "$a" in "$KDIR"/*) a=\$K/${a#"$KDIR/"} ;; "$(dirname "$INITRD")"/*) a=\$I/${a#"$(dirname "$INITRD")/"} ;; esac
        a=${a#"$REPO/"}
        [[ $a =~ $SAFE_WORD ]] || a=\"$a\"
        out+="${out:+ }$a"
    done
    echo "$out"
}
declare -A MF MI
for v in ours microvm q35; do MF[$v]=$(median "$v" 4); MI[$v]=$(median "$v" 5); done
ok_count() { awk -v n="$1" '$1 == n && $3 == "ok"' "$RUNS/data.txt" | wc -l; }
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
kvm_mod=$( [ -d /sys/module/kvm_pvm ] && echo "kvm_pvm (PVM, software emulation; no vmx/svm)" || { [ -d /sys/module/kvm_intel ] && echo kvm_intel; } || { [ -d /sys/module/kvm_amd ] && echo kvm_amd; } || echo unknown)
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo n/a)
dirty=$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with local changes)" || true)

cat <<EOF
## Linux boot: time to first message and to Run /init

- Date: $date_start to $date_end
- Host: \`uname -r\` = $(uname -r); $(nproc) cores ($cpu_model); KVM module: $kvm_mod;
  load average (1/5/15 min) $load_before before, $load_after after (other work shares the machine)
- Versions: sharpvisor at commit $commit$dirty (NativeAOT), .NET SDK $(dotnet --version 2>/dev/null || echo n/a); $("$QEMU" --version | head -n 1)
- Guest: our 6.1 kernel from \`guests/linux/build-kernel.sh\` without the int3 self-test
  (\`K=$KDIR\`), the initramfs from \`guests/linux/build-initramfs.sh\` uncompressed
  (\`I=$(dirname "$INITRD")\`), 2 vCPUs, 256 MiB; one VM at a time, VMMs alternating
- Per run: wall time from exec (bash \`\$EPOCHREALTIME\` before the fork) to the serial line containing
  \`Linux version\` and to the one containing \`Run /init as init process\`; the VM is then killed.
  Timeout ${TIMEOUT_S} s per run.

Commands (stdin /dev/null, stdout+stderr through a perl filter that stamps each line as it arrives):

    ours:    $(fmtcmd "${OURS_CMD[@]}")
    microvm: $(fmtcmd "${MICROVM_CMD[@]}")
    q35:     $(fmtcmd "${Q35_CMD[@]}")

| VMM | runs reaching Run /init | per run: first message / Run /init, s | median first message, s | median Run /init, s |
|---|---:|---|---:|---:|
| ours | $(ok_count ours)/$OURS_RUNS | $(runs_of ours) | $(fmt_s "${MF[ours]}") | $(fmt_s "${MI[ours]}") |
| QEMU microvm | $(ok_count microvm)/$MICROVM_RUNS | $(runs_of microvm) | $(fmt_s "${MF[microvm]}") | $(fmt_s "${MI[microvm]}") |
| QEMU q35 | $(ok_count q35)/$Q35_RUNS | $(runs_of q35) | $(fmt_s "${MF[q35]}") | $(fmt_s "${MI[q35]}") |

| ratio of medians | first message | Run /init |
|---|---:|---:|
| ours / QEMU microvm | $(ratio "${MF[ours]}" "${MF[microvm]}") | $(ratio "${MI[ours]}" "${MI[microvm]}") |
| ours / QEMU q35 | $(ratio "${MF[ours]}" "${MF[q35]}") | $(ratio "${MI[ours]}" "${MI[q35]}") |

Target (issue): ours not slower than QEMU microvm, i.e. ratio <= 1.00 to Run /init: $(
    r=$(ratio "${MI[ours]}" "${MI[microvm]}"); [ "$r" = - ] && echo "not measured" || awk -v r="$r" 'BEGIN { print (r <= 1.0) ? "PASS" : "MISS" }').
EOF

# Keep the last log of each VMM (or all with --keep) for the record.
if [ "$KEEP" = 0 ]; then
    for v in ours microvm q35; do
        last=$(ls "$RUNS"/$v.*.log 2>/dev/null | sort -t. -k2 -n | tail -n 1 || true)
        for f in "$RUNS"/$v.*.log; do [ -e "$f" ] && [ "$f" != "$last" ] && rm -f "$f"; done
    done
fi
log "raw data (name iteration result first_us init_us): $RUNS/data.txt; serial logs in $RUNS"
