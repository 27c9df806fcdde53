#!/usr/bin/env bash
# Fetch Debian's own packaged kernel (no build): download the package that
# linux-image-cloud-amd64 (or, failing that, linux-image-amd64) depends on,
# take /boot/vmlinuz-* (a bzImage) out of it, and unpack the bzImage's
# compressed payload into an uncompressed vmlinux ELF, which can be booted
# through its PVH entry if it has one.
#
# Usage: fetch-debian-kernel.sh [cloud|generic]      (default: cloud)
# Output: ${SHARPVISOR_CACHE:-$HOME/.cache/sharpvisor}/debian-kernel/<package>_<version>/
#   bzImage, vmlinux, config (the package's /boot/config-*), info.txt
#   (package, version, payload format, pvh_note=yes|no)
# The last line printed is the output directory.
set -euo pipefail

flavour="${1:-cloud}"
cache_root="${SHARPVISOR_CACHE:-$HOME/.cache/sharpvisor}/debian-kernel"
log() { printf '[fetch-debian-kernel] %s\n' "$*" >&2; }

need_pkgs=()
for p in xz-utils zstd binutils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
apt_opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
if ((${#need_pkgs[@]})); then
    log "installing: ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${need_pkgs[@]}" >&2 \
        || { apt-get update -q >&2; DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${need_pkgs[@]}" >&2; }
fi

# Resolve the meta package to the real image package, e.g.
# linux-image-cloud-amd64 -> linux-image-6.1.0-NN-cloud-amd64.
resolve() {
    apt-cache depends "$1" 2>/dev/null \
        | sed -n -E 's/^[[:space:]]*Depends:[[:space:]]*(linux-image-[0-9][^[:space:]]*)$/\1/p' | head -n1
}
metas=(linux-image-cloud-amd64 linux-image-amd64)
[[ "$flavour" == generic ]] && metas=(linux-image-amd64)
pkg=""
for attempt in 1 2; do
    for meta in "${metas[@]}"; do
        pkg="$(resolve "$meta")"
        [[ -n "$pkg" ]] && break
    done
    [[ -n "$pkg" ]] && break
    ((attempt == 1)) && { log "apt-cache knows no kernel package; running apt-get update"; apt-get update -q >&2; }
done
[[ -n "$pkg" ]] || { log "could not resolve a linux-image package"; exit 1; }
version="$(apt-cache policy "$pkg" | sed -n -E 's/^[[:space:]]*Candidate:[[:space:]]*(.*)$/\1/p')"
[[ -n "$version" && "$version" != "(none)" ]] || { log "no candidate version for $pkg"; exit 1; }
log "$meta -> $pkg $version"

out="$cache_root/${pkg}_${version}"
if [[ -s "$out/vmlinux" && -s "$out/bzImage" && -s "$out/info.txt" ]]; then
    cat "$out/info.txt" >&2
    printf '%s\n' "$out"; exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock-${pkg}_${version}"
flock 9
if [[ -s "$out/vmlinux" && -s "$out/bzImage" && -s "$out/info.txt" ]]; then
    cat "$out/info.txt" >&2
    printf '%s\n' "$out"; exit 0
fi

tmp="$(mktemp -d "$cache_root/.tmp-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$version" >&2 )
deb="$(ls "$tmp"/*.deb)"
dpkg-deb -x "$deb" "$tmp/x"
vmlinuz="$(ls "$tmp"/x/boot/vmlinuz-* | head -n1)"
cp "$vmlinuz" "$tmp/bzImage"
cp "$tmp"/x/boot/config-* "$tmp/config" 2>/dev/null || true

# --- bzImage -> vmlinux ---------------------------------------------------
# The x86 boot protocol header says where the compressed kernel is:
# setup_sects at 0x1f1 (protected-mode code starts at (setup_sects+1)*512),
# payload_offset at 0x248 and payload_length at 0x24c, relative to that start.
u8()  { od -An -t u1 -j "$2" -N 1 "$1" | tr -d ' '; }
u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
bz="$tmp/bzImage"
[[ "$(od -An -c -j 0x202 -N 4 "$bz" | tr -d ' ')" == HdrS ]] || { log "$vmlinuz is not a bzImage"; exit 1; }
setup_sects="$(u8 "$bz" $((0x1f1)))"; ((setup_sects)) || setup_sects=4
pm_start=$(( (setup_sects + 1) * 512 ))
payload_off=$(( pm_start + $(u32 "$bz" $((0x248))) ))
payload_len="$(u32 "$bz" $((0x24c)))"
dd if="$bz" of="$tmp/payload" bs=1M iflag=skip_bytes,count_bytes skip="$payload_off" count="$payload_len" status=none

# Name the format by its magic and decompress with the matching tool. The
# payload ends with the 4-byte uncompressed size, which the tools may call
# trailing garbage, so their exit status is not trusted: the ELF check is.
magic="$(od -An -t x1 -N 6 "$tmp/payload" | tr -d ' \n')"
case "$magic" in
    1f8b*)         fmt=gzip;  dec=(gzip -dc) ;;
    fd377a585a00)  fmt=xz;    dec=(xz -dc --single-stream) ;;
    28b52ffd*)     fmt=zstd;  dec=(zstd -dcq) ;;
    425a68*)       fmt=bzip2; dec=(bzip2 -dc) ;;
    5d0000*)       fmt=lzma;  dec=(xz -dc --format=lzma) ;;
    02214c18*)     fmt=lz4;   dec=(lz4 -dcq) ;;
    894c5a4f*)     fmt=lzo;   dec=(lzop -dc) ;;
    *)             log "unknown payload magic $magic"; exit 1 ;;
esac
"${dec[@]}" < "$tmp/payload" > "$tmp/vmlinux" 2>"$tmp/dec.err" || true
[[ "$(head -c 4 "$tmp/vmlinux" | od -An -t x1 | tr -d ' ')" == 7f454c46 ]] \
    || { cat "$tmp/dec.err" >&2; log "decompressed $fmt payload is not an ELF"; exit 1; }
readelf -h "$tmp/vmlinux" > /dev/null

# PVH entry: a "Xen" ELF note of type 0x12 (XEN_ELFNOTE_PHYS32_ENTRY).
notes="$(readelf -n "$tmp/vmlinux")"
if grep -E '^[[:space:]]*Xen[[:space:]]' <<< "$notes" | grep -iE '0x00000012|PHYS32' > /dev/null; then
    pvh=yes
else
    pvh=no
fi

{
    printf 'meta=%s\npackage=%s\nversion=%s\n' "$meta" "$pkg" "$version"
    printf 'vmlinuz=%s\npayload_format=%s\n' "${vmlinuz#"$tmp"/x}" "$fmt"
    printf 'bzImage_bytes=%s\nvmlinux_bytes=%s\n' "$(stat -c %s "$tmp/bzImage")" "$(stat -c %s "$tmp/vmlinux")"
    printf 'pvh_note=%s\n' "$pvh"
    [[ -f "$tmp/config" ]] && grep -E '^CONFIG_(PVH|XEN_PVH)=' "$tmp/config" | sed 's/^/kconfig: /'
} > "$tmp/info.txt"

mkdir -p "$tmp/out"
mv "$tmp/bzImage" "$tmp/vmlinux" "$tmp/info.txt" "$tmp/out/"
[[ -f "$tmp/config" ]] && mv "$tmp/config" "$tmp/out/"
rm -rf "$out"
mv "$tmp/out" "$out"
cat "$out/info.txt" >&2
printf '%s\n' "$out"
