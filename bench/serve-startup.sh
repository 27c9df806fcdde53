#!/usr/bin/env bash
# Daemon start-up benchmark: `sharpvisor-serve` from exec until it has bound its port and written serve.json
# (what `sharpvisor vm ...` and the tests wait for), published with NativeAOT (how tools/nested-kvm runs it) against
# the framework-dependent build (JIT, what `dotnet run`/`dotnet build` give). Each run gets a fresh data directory
# (a new SQLite inventory, a new token), listens on 127.0.0.1:0 and is stopped with SIGTERM once serve.json exists.
#
# usage: bash bench/serve-startup.sh [-n N] [--no-build | --build-only]
#   -n N          runs per build (default 7), alternating AOT and JIT
# Environment: OUT (default <repo>/artifacts/bench/serve)
set -euo pipefail

RUNS_PER=7 BUILD=1 BUILD_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) RUNS_PER=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "serve-startup.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$RUNS_PER" in ''|*[!0-9]*|0) echo "serve-startup.sh: -n takes a positive integer" >&2; exit 2 ;; esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/artifacts/bench/serve}
AOT=$OUT/aot JIT=$OUT/jit
mkdir -p "$OUT"
log() { echo "$*" >&2; }

if [ "$BUILD" = 1 ]; then
    log "building sharpvisor-serve: NativeAOT into $AOT, framework-dependent (Release) into $JIT ..."
    for project in Sharpvisor.Cli Sharpvisor.Serve; do
        dotnet publish "$REPO/src/$project" -c Release -r linux-x64 -o "$AOT" -nologo -v quiet >"$OUT/publish.log" 2>&1 \
            || { cat "$OUT/publish.log" >&2; exit 1; }
    done
    dotnet build "$REPO/src/Sharpvisor.Cli" -c Release -o "$JIT" -nologo -v quiet >"$OUT/build.log" 2>&1 \
        || { cat "$OUT/build.log" >&2; exit 1; }
fi
[ "$BUILD_ONLY" = 0 ] || exit 0
for f in "$AOT/sharpvisor-serve" "$JIT/sharpvisor-serve.dll"; do
    [ -e "$f" ] || { log "serve-startup.sh: $f missing (run without --no-build)"; exit 1; }
done

# run_one <cmd...> -> prints the milliseconds from exec to serve.json
run_one() {
    local dir t0 t1 pid
    # A local file system: SQLite's WAL needs shared memory maps, which a 9p or NFS share (the nested host's
    # checkout) may refuse.
    dir=$(mktemp -d "${TMPDIR:-/tmp}/sv-serve.XXXXXX")
    t0=$EPOCHREALTIME
    "$@" --listen 127.0.0.1:0 --data-dir "$dir" >"$dir/out" 2>&1 &
    pid=$!
    # Polling costs a little of the machine's time; 10 ms steps bound the error at 10 ms.
    while [ ! -s "$dir/serve.json" ]; do
        kill -0 "$pid" 2>/dev/null || { log "serve-startup.sh: the daemon exited early:"; cat "$dir/out" >&2; exit 1; }
        (( ${EPOCHREALTIME/[.,]/} - ${t0/[.,]/} < 600000000 )) || { kill -KILL "$pid"; log "serve-startup.sh: no serve.json in 600 s"; exit 1; }
        sleep 0.01
    done
    t1=$EPOCHREALTIME
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
    echo $(( (10#${t1//[.,]/} - 10#${t0//[.,]/}) / 1000 ))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$OUT/data.txt"
for i in $(seq "$RUNS_PER"); do
    if (( i % 2 )); then order="aot jit"; else order="jit aot"; fi
    for kind in $order; do
        if [ "$kind" = aot ]; then ms=$(run_one "$AOT/sharpvisor-serve"); else ms=$(run_one dotnet "$JIT/sharpvisor-serve.dll"); fi
        echo "$kind $ms" >>"$OUT/data.txt"
        log "  $kind run $i: $ms ms"
    done
done
aot=$(awk '$1 == "aot" { print $2 }' "$OUT/data.txt" | median)
jit=$(awk '$1 == "jit" { print $2 }' "$OUT/data.txt" | median)
cat <<REPORT
## Daemon start-up: exec to serve.json

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; kernel $(uname -r); sharpvisor at commit $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo " (with local changes)")
- Command: \`bash bench/serve-startup.sh -n $RUNS_PER\`; $RUNS_PER runs each, alternating

| build | median, ms | runs (ms) |
|---|---:|---|
| NativeAOT | $aot | $(awk '$1 == "aot" { printf "%s ", $2 }' "$OUT/data.txt") |
| JIT (framework-dependent) | $jit | $(awk '$1 == "jit" { printf "%s ", $2 }' "$OUT/data.txt") |

AOT / JIT: $(awk -v a="$aot" -v j="$jit" 'BEGIN { printf "%.2f", a / j }')
REPORT
