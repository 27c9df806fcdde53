#!/usr/bin/env bash
# Build the Sharpvisor Linux guest kernel from Debian's linux-source-6.1:
# `make tinyconfig` + config.fragment, out of tree, into a cache directory
# outside the repository keyed by a hash of the inputs.
#
# Outputs in ${SHARPVISOR_CACHE:-$HOME/.cache/sharpvisor}/linux/<hash>/:
#   vmlinux          ELF with the PVH entry note (boot this through PVH)
#   bzImage          the same kernel as a bzImage (LZ4 payload)
#   .config          the final kernel configuration
#   vmlinux-noint3   the same source with the boot-time int3 self-test call
#   bzImage-noint3   removed (for QEMU on PVM hosts; see README.md)
#   System.map, config-check.txt, build-info.txt
#
# With --variant NAME, config.NAME.fragment is merged last (its lines win) and
# only vmlinux, bzImage and .config are built: e.g. --variant minimal, our
# kernel without ACPI and without MSI (a differently configured guest that must
# still find the PCI bus and its interrupts).
#
# Environment: SHARPVISOR_CACHE (cache root), JOBS (make -j, default 2),
#              KEEP_BUILD=1 (keep the extracted source and object tree).
# The last line printed is the output directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fragment="$here/config.fragment"
self="$here/$(basename "${BASH_SOURCE[0]}")"
variant=""
if [[ "${1:-}" == --variant ]]; then
    variant="${2:?--variant needs a name}"
    [[ "$variant" =~ ^[a-z0-9-]+$ ]] || { echo "build-kernel.sh: bad variant name '$variant'" >&2; exit 2; }
    shift 2
fi
(($# == 0)) || { echo "usage: build-kernel.sh [--variant NAME]" >&2; exit 2; }
variant_fragment=""
if [[ -n "$variant" ]]; then
    variant_fragment="$here/config.$variant.fragment"
    [[ -f "$variant_fragment" ]] || { echo "build-kernel.sh: no $variant_fragment" >&2; exit 2; }
fi
jobs="${JOBS:-2}"
cache_root="${SHARPVISOR_CACHE:-$HOME/.cache/sharpvisor}/linux"
src_pkg=linux-source-6.1
src_tarball=/usr/src/linux-source-6.1.tar.xz

log() { printf '[build-kernel] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- dependencies
need_pkgs=()
for p in "$src_pkg" bc flex bison libelf-dev libssl-dev make gcc cpio xz-utils lz4; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
    log "installing build dependencies: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
    if ! apt-get install "${apt_opts[@]}" "${need_pkgs[@]}" >&2; then
        log "install failed; running apt-get update first"
        apt-get update -q -o DPkg::Lock::Timeout=600 >&2
        apt-get install "${apt_opts[@]}" "${need_pkgs[@]}" >&2
    fi
fi
[[ -f "$src_tarball" ]] || { log "missing $src_tarball"; exit 1; }

# ---------------------------------------------------------------- cache key
src_version="$(dpkg-query -W -f='${Version}' "$src_pkg")"
hash="$( { printf 'linux-source-6.1 %s\n' "$src_version"
           sha256sum < "$fragment"
           sha256sum < "$self"
           if [[ -n "$variant" ]]; then printf 'variant %s\n' "$variant"; sha256sum < "$variant_fragment"; fi
         } | sha256sum | cut -c1-16)"
out="$cache_root/$hash"
outputs=(vmlinux bzImage .config vmlinux-noint3 bzImage-noint3)
[[ -z "$variant" ]] || outputs=(vmlinux bzImage .config)

have_outputs() {
    local f
    for f in "${outputs[@]}"; do [[ -s "$out/$f" ]] || return 1; done
}
report() {
    local f
    for f in "${outputs[@]}"; do printf '%s\n' "$out/$f"; done
    printf '%s\n' "$out"
}

if have_outputs; then report; exit 0; fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock-$hash"
if ! flock -n 9; then
    log "another build of $hash is running; waiting for it"
    flock 9
fi
if have_outputs; then report; exit 0; fi

# ---------------------------------------------------------------- build
work="$cache_root/.work-$hash"
stage="$cache_root/.stage-$hash"
rm -rf "$work" "$stage"
mkdir -p "$work" "$stage"
cleanup() { [[ "${KEEP_BUILD:-0}" == 1 ]] || rm -rf "$work"; rm -rf "$stage"; }
trap cleanup EXIT

t0=$(date +%s)
log "hash $hash (linux-source-6.1 $src_version); extracting source"
tar -C "$work" -xf "$src_tarball"
src="$work/linux-source-6.1"
obj="$work/obj"
mkdir -p "$obj"
kmake() { nice -n 10 make -C "$src" O="$obj" -j"$jobs" "$@"; }

log "configuring: tinyconfig + config.fragment${variant:+ + config.$variant.fragment}"
kmake -s tinyconfig >&2
"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment" $variant_fragment > "$stage/merge-config.log" 2>&1 \
    || { cat "$stage/merge-config.log" >&2; exit 1; }
kmake -s olddefconfig >&2

# Every option line of the fragments must hold in the final .config; where both
# name an option, the variant's line is the one that counts.
check="$stage/config-check.txt"
expected="$stage/expected-options.txt"
{
    if [[ -n "$variant" ]]; then
        overridden="$(grep -oE 'CONFIG_[A-Za-z0-9_]+' "$variant_fragment" | sort -u)"
        grep -vwFf <(printf '%s\n' "$overridden") "$fragment" || true
        cat "$variant_fragment"
    else
        cat "$fragment"
    fi
} > "$expected"
bad=0
while IFS= read -r line; do
    if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
        opt="${BASH_REMATCH[1]}"; want="${BASH_REMATCH[2]}"
    elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
        opt="${BASH_REMATCH[1]}"; want=n
    else
        continue
    fi
    got="$(grep -E "^${opt}=" "$obj/.config" | head -n1 | cut -d= -f2- || true)"
    [[ -n "$got" ]] || got=n
    if [[ "$got" == "$want" ]]; then
        printf 'ok    %-40s = %s\n' "$opt" "$got"
    else
        printf 'FAIL  %-40s = %s (wanted %s)\n' "$opt" "$got" "$want"; bad=1
    fi
done < "$expected" > "$check"
cat "$check" >&2
if ((bad)); then log "config check failed (see above)"; exit 1; fi

t1=$(date +%s)
log "building vmlinux + bzImage (make -j$jobs)"
kmake vmlinux bzImage > "$stage/build.log" 2>&1 || { tail -n 50 "$stage/build.log" >&2; exit 1; }
cp "$obj/vmlinux" "$stage/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$stage/bzImage"
cp "$obj/.config" "$stage/.config"
cp "$obj/System.map" "$stage/System.map"
t2=$(date +%s)
t3=$t2

if [[ -z "$variant" ]]; then
# Variant without the int3 self-test: QEMU on a PVM host cannot run a ring-0
# int3, so that boot stops at the self-test. Same source, same object tree;
# only alternative.c is recompiled.
log "building the noint3 variant"
alt="$src/arch/x86/kernel/alternative.c"
grep -qE '^[[:space:]]*int3_selftest\(\);' "$alt" || { log "int3_selftest(); call not found in $alt"; exit 1; }
sed -i -E 's|^([[:space:]]*)int3_selftest\(\);|\1/* int3_selftest(); -- removed for the Sharpvisor noint3 variant */|' "$alt"
kmake vmlinux bzImage > "$stage/build-noint3.log" 2>&1 || { tail -n 50 "$stage/build-noint3.log" >&2; exit 1; }
if nm "$obj/vmlinux" | grep -c ' int3_selftest$' > /dev/null; then
    log "noint3 variant still has int3_selftest"; exit 1
fi
cp "$obj/vmlinux" "$stage/vmlinux-noint3"
cp "$obj/arch/x86/boot/bzImage" "$stage/bzImage-noint3"
t3=$(date +%s)
fi

# The PVH entry point is a "Xen" ELF note of type 0x12 (XEN_ELFNOTE_PHYS32_ENTRY).
for f in "${outputs[@]}"; do
    [[ "$f" == vmlinux* ]] || continue
    notes="$(readelf -n "$stage/$f")"
    grep -E '^[[:space:]]*Xen[[:space:]]' <<< "$notes" | grep -iE '0x00000012|PHYS32' > /dev/null \
        || { log "$f has no PVH (XEN_ELFNOTE_PHYS32_ENTRY) note"; exit 1; }
done

{
    printf 'hash=%s\nlinux_source_version=%s\nvariant=%s\n' "$hash" "$src_version" "${variant:-default}"
    printf 'fragment_sha256=%s\n' "$(sha256sum < "$fragment" | cut -d' ' -f1)"
    printf 'script_sha256=%s\n' "$(sha256sum < "$self" | cut -d' ' -f1)"
    printf 'jobs=%s\nconfigure_seconds=%s\nbuild_seconds=%s\nnoint3_seconds=%s\ntotal_seconds=%s\n' \
        "$jobs" $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $((t3 - t0))
    printf 'built=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$stage/build-info.txt"

rm -rf "$out"
mv "$stage" "$out"
log "done in $((t3 - t0)) s"
report
