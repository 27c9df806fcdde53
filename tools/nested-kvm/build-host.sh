#!/usr/bin/env bash
# Build the disposable nested KVM host's boot files: Debian's stock kernel (the package that
# linux-image-amd64 depends on) and an initramfs holding Debian's static busybox, the kernel
# modules the host needs (9p root share, overlay, kvm_amd, tun/veth/bridge for test networks ...)
# and this folder's init.
#
# Output: ${SHARPVISOR_CACHE:-$HOME/.cache/sharpvisor}/nested-kvm/<hash>/{vmlinuz,initramfs.cpio.gz,build-info.txt}
# where <hash> covers the kernel package and version, the busybox-static version, this script, init and
# guests/linux/lib.sh. Only Debian packages are used; nothing else is downloaded. Needs root (mknod).
# The last line printed is the path of the initramfs (its directory holds the rest).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib="$here/../../guests/linux/lib.sh"
cache_root="${SHARPVISOR_CACHE:-$HOME/.cache/sharpvisor}/nested-kvm"

log() { printf '[nested-kvm] %s\n' "$*" >&2; }

# shellcheck source=../../guests/linux/lib.sh
source "$lib"

# The modules the host loads at boot, by name; their dependencies are found with modinfo.
# 9p + virtio: the machine's root and the job folder; overlay: a writable root over the read-only share;
# kvm_amd: the point of it all; tun, veth, bridge, af_packet: the tests' own networks inside namespaces;
# loop, ext4: disk images mounted by tests; virtio_net: the NIC of `run --forward`.
modules=(virtio_pci 9pnet_virtio 9p overlay kvm_amd tun veth bridge af_packet loop ext4 virtio_net)

apt_need cpio gzip kmod
bb_version="$(busybox_version)"

# Resolve the meta package to the real image package (linux-image-6.1.0-NN-amd64), updating the lists once if
# apt knows none.
resolve() {
    apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n -E 's/^[[:space:]]*Depends:[[:space:]]*(linux-image-[0-9][^[:space:]]*)$/\1/p' | head -n1
}
pkg="$(resolve)"
if [[ -z "$pkg" ]]; then
    apt-get update -q >&2
    pkg="$(resolve)"
fi
[[ -n "$pkg" ]] || { log "apt knows no linux-image-amd64"; exit 1; }
version="$(apt-cache policy "$pkg" | sed -n -E 's/^[[:space:]]*Candidate:[[:space:]]*(.*)$/\1/p')"
[[ -n "$version" && "$version" != "(none)" ]] || { log "no candidate version for $pkg"; exit 1; }

hash="$( { printf '%s %s\nbusybox-static %s\nmodules %s\n' "$pkg" "$version" "$bb_version" "${modules[*]}"
           sha256sum < "${BASH_SOURCE[0]}"; sha256sum < "$here/init"; sha256sum < "$lib"; } | sha256sum | cut -c1-16)"
out="$cache_root/$hash"

claim_cache "$cache_root" "$hash" initramfs.cpio.gz
log "building the host for $pkg $version (busybox $bb_version)"

mkdir -p "$stage"
( cd "$stage" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$version" >&2 )
dpkg-deb -x "$stage"/*.deb "$stage/x"
kver="${pkg#linux-image-}"
moddir="$stage/x/lib/modules/$kver"
[[ -d "$moddir" ]] || { log "$pkg holds no lib/modules/$kver"; exit 1; }
depmod -b "$stage/x" "$kver" # the package leaves modules.dep to its postinst; modinfo needs it

root="$stage/root"
busybox_tree "$root"

# Copy each module and, depth first, what it depends on (modinfo names them); depmod then writes modules.dep so
# busybox's modprobe can load them by name.
declare -A copied=()
copy_module() {
    local name=$1 file dep
    [[ -n "${copied[$name]:-}" ]] && return 0
    copied[$name]=1
    file="$(modinfo -b "$stage/x" -k "$kver" -F filename "$name" 2>/dev/null)" || true
    if [[ -z "$file" || "$file" == "(builtin)" || ! -f "$file" ]]; then
        grep -qE "/${name//_/[-_]}\.ko" "$moddir/modules.builtin" && return 0
        log "module $name is neither a file nor built in"; return 1
    fi
    mkdir -p "$root/lib/modules/$kver/$(dirname "${file#"$moddir"/}")"
    cp "$file" "$root/lib/modules/$kver/${file#"$moddir"/}"
    for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
        copy_module "$dep"
    done
}
for m in "${modules[@]}"; do copy_module "$m"; done
cp "$moddir"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/"
depmod -b "$root" "$kver"
printf '%s\n' "${modules[@]}" > "$root/etc/modules"

install -m 0755 "$here/init" "$root/init"

find "$root" -exec touch -h -d @0 {} +
( cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z \
    | cpio --null -o -H newc -R 0:0 --reproducible --quiet ) | gzip -1 -n > "$stage/initramfs.cpio.gz"
cp "$stage/x/boot/vmlinuz-$kver" "$stage/vmlinuz"
printf 'hash=%s\nkernel=%s %s\nbusybox_static=%s\nmodules=%s\n' "$hash" "$pkg" "$version" "$bb_version" \
    "$(find "$root/lib/modules" -name '*.ko' | wc -l)" > "$stage/build-info.txt"

rm -rf "$out"
mkdir -p "$out"
mv "$stage/vmlinuz" "$stage/build-info.txt" "$out/"
mv "$stage/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
log "host ready: $(cat "$out/build-info.txt" | tr '\n' ' ')"
printf '%s\n' "$out/initramfs.cpio.gz"
