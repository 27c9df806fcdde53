#!/usr/bin/env bash
# Coverage-guided fuzzing of the VMM's guest-facing code (fuzz/README.md): SharpFuzz instruments a copy of
# Sharpvisor.Vmm.dll, and AFL++ (Debian's afl++, the default) or libFuzzer (through SharpFuzz's libfuzzer-dotnet driver,
# a checkout given by LIBFUZZER_DOTNET_SOURCE) drives
# fuzz/Sharpvisor.Fuzz, one target at a time, each for a fixed time. Per target it prints executions, exec/s, the
# corpus size (paths), coverage, crashes and hangs; it exits 1 when any target found a crash or a hang, and keeps each
# finding with its replayed outcome and stack trace under $OUT/findings/<target>/.
#
# usage: bash bench/fuzz.sh [--seconds-per-target N] [--ci] [--timeout-seconds S] [--engine libfuzzer|afl]
#                           [--resume] [--no-build] [--self-test] [target...]
#   --seconds-per-target N  fuzzing time per target (default 60)
#   --ci                    bounded for CI: 30 s per target (about 3.5 minutes for all six, build included)
#   --timeout-seconds S     an execution running longer is a hang (default 5; one normally takes well under 1 ms)
#   --engine E              afl (default: AFL++ with SharpFuzz's out-of-process fork server, which survives hangs)
#                           or libfuzzer (about twice the exec/s here, see docs/benchmarks.md; needs
#                           LIBFUZZER_DOTNET_SOURCE=path/to/libfuzzer-dotnet.cc, which this repository does not carry)
#   --resume                start from the corpus the last run of each target grew in $OUT/corpus/<target>, not only
#                           from the committed seeds in fuzz/corpus/<target>
#   --no-build              reuse the last build, instrumented copy and driver
#   --self-test             fuzz only the self-test targets, which crash and hang on purpose (selftest-crash,
#                           selftest-hang): exit 0 when both traps are found and replay as such, 1 otherwise
#   target...               queue block net console pci control (default: all, in that order)
# With libFuzzer a run stops at its first finding; the target is then fuzzed again for the rest of its time (at most
# 5 findings per target). Every build and fuzz process runs under nice -n 19, and one target runs at a time.
# Environment: OUT (default <repo>/artifacts/fuzz).
set -euo pipefail

SECONDS_PER=60 TIMEOUT_S=5 ENGINE=afl BUILD=1 RESUME=0 SELF_TEST=0
MAX_FINDINGS_PER_TARGET=5
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds-per-target) SECONDS_PER=${2:-}; shift 2 ;;
        --ci) SECONDS_PER=30; shift ;;
        --timeout-seconds) TIMEOUT_S=${2:-}; shift 2 ;;
        --engine) ENGINE=${2:-}; shift 2 ;;
        --resume) RESUME=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --self-test) SELF_TEST=1; shift ;;
        -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
        *) TARGETS+=("$1"); shift ;;
    esac
done
for v in "$SECONDS_PER" "$TIMEOUT_S"; do
    case "$v" in ''|*[!0-9]*|0) echo "fuzz.sh: --seconds-per-target and --timeout-seconds take positive integers" >&2; exit 2 ;; esac
done
case "$ENGINE" in libfuzzer|afl) ;; *) echo "fuzz.sh: --engine is libfuzzer or afl" >&2; exit 2 ;; esac
ALL_TARGETS=(queue block net console pci control)
if [ "$SELF_TEST" = 1 ]; then
    TARGETS=(selftest-crash selftest-hang)
    MAX_FINDINGS_PER_TARGET=1
elif [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=("${ALL_TARGETS[@]}")
fi
for t in "${TARGETS[@]}"; do
    case " ${ALL_TARGETS[*]} selftest-crash selftest-hang " in *" $t "*) ;; *) echo "fuzz.sh: unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2; exit 2 ;; esac
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/artifacts/fuzz}
BUILD_DIR=$OUT/build
INST=$OUT/instrumented
TOOLS=$OUT/tools
DRIVER=$TOOLS/libfuzzer-dotnet
mkdir -p "$OUT/runs" "$OUT/findings" "$OUT/corpus" "$TOOLS"
log() { echo "$*" >&2; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

apt_install() {
    log "installing $* with apt-get ..."
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; } >"$OUT/apt.log" 2>&1 \
        || { cat "$OUT/apt.log" >&2; exit 1; }
}

# What it needs, installed if missing: the sharpfuzz instrumenter (a dotnet tool, in $TOOLS), and for libFuzzer
# clang with its compiler-rt (Debian's clang and libclang-rt-N-dev) to build the driver, or for AFL++ Debian's afl++.
if [ ! -x "$TOOLS/sharpfuzz" ]; then
    log "installing the sharpfuzz tool into $TOOLS ..."
    nice -n 19 dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$TOOLS" >"$OUT/tool.log" 2>&1 \
        || { cat "$OUT/tool.log" >&2; exit 1; }
fi
if [ "$ENGINE" = libfuzzer ]; then
    command -v clang++ >/dev/null || apt_install clang
    CLANG_MAJOR=$(clang++ --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
    if ! ls /usr/lib/llvm-"$CLANG_MAJOR"/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
        apt_install "libclang-rt-$CLANG_MAJOR-dev"
    fi
    # SharpFuzz's libFuzzer driver is not part of this repository (nor of any registry here): point at a checkout.
    SOURCE=${LIBFUZZER_DOTNET_SOURCE:-}
    if [ -z "$SOURCE" ] || [ ! -f "$SOURCE" ]; then
        echo "fuzz.sh: --engine libfuzzer needs LIBFUZZER_DOTNET_SOURCE=path/to/libfuzzer-dotnet.cc (github.com/Metalnem/libfuzzer-dotnet)" >&2
        exit 2
    fi
    if [ ! -x "$DRIVER" ] || [ "$SOURCE" -nt "$DRIVER" ]; then
        log "building the libFuzzer driver ..."
        nice -n 19 clang++ -O2 -fsanitize=fuzzer "$SOURCE" -o "$DRIVER"
    fi
else
    command -v afl-fuzz >/dev/null || apt_install afl++
fi

if [ "$BUILD" = 1 ]; then
    log "building fuzz/Sharpvisor.Fuzz (Release) ..."
    # Its own artifacts path: the normal build output under src/*/bin and obj is left alone.
    nice -n 19 dotnet build "$REPO/fuzz/Sharpvisor.Fuzz" -c Release -nologo -v quiet \
        -p:UseArtifactsOutput=true -p:ArtifactsPath="$BUILD_DIR" >"$OUT/build.log" 2>&1 \
        || { cat "$OUT/build.log" >&2; exit 1; }
    log "instrumenting a copy of Sharpvisor.Vmm.dll into $INST ..."
    rm -rf "$INST"
    cp -r "$BUILD_DIR/bin/Sharpvisor.Fuzz/release" "$INST"
    nice -n 19 "$TOOLS/sharpfuzz" "$INST/Sharpvisor.Vmm.dll" >"$OUT/instrument.log" 2>&1 \
        || { cat "$OUT/instrument.log" >&2; exit 1; }
    # The self-test target lives in the harness: its type alone is instrumented, so the fuzzer can find its traps.
    nice -n 19 "$TOOLS/sharpfuzz" "$INST/Sharpvisor.Fuzz.dll" Sharpvisor.Fuzz.Targets.SelfTestTarget >>"$OUT/instrument.log" 2>&1 \
        || { cat "$OUT/instrument.log" >&2; exit 1; }
fi
[ -f "$INST/Sharpvisor.Fuzz.dll" ] || { log "fuzz.sh: no instrumented build in $INST (run without --no-build)"; exit 1; }
HARNESS=(dotnet "$INST/Sharpvisor.Fuzz.dll")

FOUND=0
RESULTS=()
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

# Copies a finding into $OUT/findings/<target>/<kind>/ and replays it there for its outcome and stack trace.
keep_finding() {
    local t=$1 kind=$2 file=$3 dest name
    dest=$OUT/findings/$t/$kind
    mkdir -p "$dest"
    name=$STAMP-$(basename "$file" | tr ':,' '--' | cut -c1-60)
    cp "$file" "$dest/$name"
    nice -n 19 timeout --kill-after=5 60 "${HARNESS[@]}" "$t" --run --timeout-seconds 10 "$dest/$name" >"$dest/$name.txt" 2>&1 || true
    log "  $kind: $(head -1 "$dest/$name.txt" | cut -c1-300)"
    FOUND=1
}

# libFuzzer: runs until the target's time is used, starting again after each finding; new inputs go into the corpus.
run_libfuzzer() {
    local t=$1 corpus=$2 start now left rc run=0 crashes=0 hangs=0 execs=0 counted lines ft=0 dict=()
    local artifacts=$OUT/runs/$t/artifacts/
    rm -rf "$OUT/runs/$t" && mkdir -p "$artifacts"
    [ -f "$REPO/fuzz/dict/$t.dict" ] && dict=(-dict="$REPO/fuzz/dict/$t.dict")
    start=$(date +%s)
    while :; do
        now=$(date +%s)
        left=$((start + SECONDS_PER - now))
        [ "$left" -ge 3 ] || break
        run=$((run + 1))
        local runlog=$OUT/runs/$t/run$run.log
        rm -f "$OUT/runs/$t/count"
        rc=0
        SHARPVISOR_FUZZ_COUNT_FILE=$OUT/runs/$t/count nice -n 19 timeout --kill-after=10 $((left + 60)) \
            "$DRIVER" --target_path=dotnet --target_arg="$INST/Sharpvisor.Fuzz.dll" --target_arg="$t" \
            -max_total_time="$left" -timeout="$TIMEOUT_S" -max_len=65536 -print_final_stats=1 \
            -artifact_prefix="$artifacts" "${dict[@]}" "$corpus" >"$runlog" 2>&1 || rc=$?
        # Executions: libFuzzer's final count when it printed one, else its last status line, else the harness's own
        # count (written every 4096 executions), whichever is highest.
        counted=$(sed -n 's/^stat::number_of_executed_units: *//p' "$runlog" | tail -1)
        lines=$(sed -n 's/^#\([0-9]*\)[[:space:]].*/\1/p' "$runlog" | tail -1)
        execs=$((execs + $(printf '%s\n' "${counted:-0}" "${lines:-0}" "$(cat "$OUT/runs/$t/count" 2>/dev/null || echo 0)" | sort -n | tail -1)))
        ft=$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' "$runlog" | tail -1)
        [ "$rc" = 0 ] && break
        local new=0 f
        for f in "$artifacts"crash-* "$artifacts"timeout-* "$artifacts"oom-*; do
            [ -f "$f" ] || continue
            case "$(basename "$f")" in timeout-*) hangs=$((hangs + 1)); keep_finding "$t" hangs "$f" ;; *) crashes=$((crashes + 1)); keep_finding "$t" crashes "$f" ;; esac
            mkdir -p "${artifacts}kept" && mv "$f" "${artifacts}kept/"
            new=1
        done
        if [ "$new" = 0 ]; then
            log "fuzz.sh: libFuzzer stopped on $t without a finding (exit $rc); the end of $runlog:"
            tail -25 "$runlog" >&2
            exit 1
        fi
        [ $((crashes + hangs)) -lt "$MAX_FINDINGS_PER_TARGET" ] || break
    done
    local elapsed=$(( $(date +%s) - start ))
    local paths
    paths=$(find "$corpus" -maxdepth 1 -type f | wc -l)
    RESULTS+=("$(printf '%-14s %12s %8s %6s %9s %7s %5s %4s' "$t" "$execs" "$(( execs / (elapsed > 0 ? elapsed : 1) ))" "$paths" "ft:${ft:-0}" "$crashes" "$hangs" "$run")")
}

# AFL++ through SharpFuzz's out-of-process fork server (a hang kills only the child, which is started again).
run_afl() {
    local t=$1 corpus=$2 rc=0 out=$OUT/runs/$t
    rm -rf "$out"
    AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
        AFL_FAST_CAL=1 AFL_NO_WARN_INSTABILITY=1 nice -n 19 timeout --kill-after=10 $((SECONDS_PER + 120)) \
        afl-fuzz -i "$corpus" -o "$out" -t $((TIMEOUT_S * 1000)) -m none -V "$SECONDS_PER" -- "${HARNESS[@]}" "$t" \
        >"$OUT/runs/$t.log" 2>&1 || rc=$?
    local stats=$out/default/fuzzer_stats
    if [ ! -f "$stats" ]; then
        log "fuzz.sh: afl-fuzz did not start for $t (exit $rc); the end of $OUT/runs/$t.log:"
        tail -25 "$OUT/runs/$t.log" | sed 's/\x1b\[[0-9;]*[a-zA-Z]//g' >&2
        exit 1
    fi
    local execs runtime paths edges crashes=0 hangs=0 f
    execs=$(sed -n 's/^execs_done *: *//p' "$stats")
    runtime=$(sed -n 's/^run_time *: *//p' "$stats")
    paths=$(sed -n 's/^corpus_count *: *//p' "$stats")
    edges=$(sed -n 's/^edges_found *: *//p' "$stats")
    for f in "$out"/default/crashes/id:*; do [ -f "$f" ] && { crashes=$((crashes + 1)); keep_finding "$t" crashes "$f"; }; done
    for f in "$out"/default/hangs/id:*; do [ -f "$f" ] && { hangs=$((hangs + 1)); keep_finding "$t" hangs "$f"; }; done
    find "$out/default/queue" -maxdepth 1 -type f -name 'id:*' -exec cp {} "$corpus/" \;
    RESULTS+=("$(printf '%-14s %12s %8s %6s %9s %7s %5s %4s' "$t" "$execs" "$(( execs / (runtime > 0 ? runtime : 1) ))" "$paths" "edges:$edges" "$crashes" "$hangs" 1)")
}

for t in "${TARGETS[@]}"; do
    seeds=$REPO/fuzz/corpus/$t
    if [ "${t#selftest}" != "$t" ]; then
        seeds=$OUT/selftest-seeds/$t
        rm -rf "$seeds"
        "${HARNESS[@]}" "$t" --seeds "$seeds" >/dev/null
    fi
    [ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ] || { log "fuzz.sh: no seeds in $seeds"; exit 1; }
    # The working corpus: the committed seeds, plus with --resume what earlier runs grew.
    corpus=$OUT/corpus/$t
    if [ "$RESUME" = 0 ] || [ ! -d "$corpus" ]; then
        rm -rf "$corpus"
        mkdir -p "$corpus"
    fi
    cp "$seeds"/* "$corpus/"
    log "fuzzing $t for ${SECONDS_PER} s with $ENGINE ($(find "$corpus" -maxdepth 1 -type f | wc -l) inputs to start from) ..."
    if [ "$ENGINE" = libfuzzer ]; then run_libfuzzer "$t" "$corpus"; else run_afl "$t" "$corpus"; fi
done

echo
echo "fuzz.sh: $ENGINE, ${SECONDS_PER} s per target, timeout ${TIMEOUT_S} s, SharpFuzz 2.3.0, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
printf '%-14s %12s %8s %6s %9s %7s %5s %4s\n' target executions exec/s paths coverage crashes hangs runs
total=0
for line in "${RESULTS[@]}"; do
    echo "$line"
    total=$((total + $(echo "$line" | awk '{ print $2 }')))
done
echo "total executions: $total"

if [ "$SELF_TEST" = 1 ]; then
    c=$(find "$OUT/findings/selftest-crash/crashes" -type f -name "$STAMP-*.txt" 2>/dev/null | wc -l)
    h=$(find "$OUT/findings/selftest-hang/hangs" -type f -name "$STAMP-*.txt" 2>/dev/null | wc -l)
    if [ "$c" -gt 0 ] && [ "$h" -gt 0 ] && grep -q "FINDING.*self-test crash" "$OUT"/findings/selftest-crash/crashes/"$STAMP"-*.txt \
        && grep -q "HANG" "$OUT"/findings/selftest-hang/hangs/"$STAMP"-*.txt; then
        echo "self-test: the planted crash and hang were both found and replayed: PASS"
        exit 0
    fi
    echo "self-test: crashes $c, hangs $h (both should be found and replay as such): FAIL"
    exit 1
fi
if [ "$FOUND" = 1 ]; then
    echo "findings (each input beside a .txt with its replayed outcome): $OUT/findings/"
    exit 1
fi
echo "no crash or hang found"
