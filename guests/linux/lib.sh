# Shared by the guests/linux build scripts (sourced, not run): package installs and
# the busybox tree that both the initramfs and the root file system image hold.
# Callers source it after `set -euo pipefail` and define log().

# apt_need PKG...: installs the Debian packages among PKG that are not installed yet
# (apt-get update only when an install fails).
apt_need() {
    local p need=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
    done
    ((${#need[@]})) || return 0
    log "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local apt_opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
    if ! apt-get install "${apt_opts[@]}" "${need[@]}" >&2; then
        apt-get update -q -o DPkg::Lock::Timeout=600 >&2
        apt-get install "${apt_opts[@]}" "${need[@]}" >&2
    fi
}

# busybox_version: installs Debian's static busybox if missing, checks it is static and
# prints its package version (part of the callers' cache keys).
busybox_version() {
    apt_need busybox-static
    if file /bin/busybox 2>/dev/null | grep -q 'dynamically linked'; then
        log "/bin/busybox is not static"; return 1
    fi
    dpkg-query -W -f='${Version}' busybox-static
}

# busybox_tree ROOT: the usual directories, /bin/busybox, one symlink per applet at the
# place busybox names, and /dev/console + /dev/null (the kernel opens /dev/console for
# init's stdio before init can mount devtmpfs). Needs root for mknod.
busybox_tree() {
    local root=$1 applet
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,root}
    chmod 1777 "$root/tmp"
    install -m 0755 /bin/busybox "$root/bin/busybox"
    /bin/busybox --list-full | while read -r applet; do
        [[ "$applet" == bin/busybox ]] && continue
        ln -sf /bin/busybox "$root/$applet"
    done
    mknod -m 0600 "$root/dev/console" c 5 1
    mknod -m 0666 "$root/dev/null" c 1 3
}

# claim_cache ROOT HASH FILE: if ROOT/HASH/FILE was built already, print its path and end the script; otherwise
# take the per-hash lock (fd 9, held until the script ends), look again (another build may just have finished),
# then make a fresh staging directory ROOT/.stage-HASH, removed on exit, and set $stage to it.
claim_cache() {
    local root=$1 hash=$2 file=$3
    if [[ -s "$root/$hash/$file" ]]; then printf '%s\n' "$root/$hash/$file"; exit 0; fi
    mkdir -p "$root"
    exec 9>"$root/.lock-$hash"
    flock 9
    if [[ -s "$root/$hash/$file" ]]; then printf '%s\n' "$root/$hash/$file"; exit 0; fi
    [[ $(id -u) == 0 ]] || { log "must run as root (mknod /dev/console)"; exit 1; }
    stage="$root/.stage-$hash"
    rm -rf "$stage"
    trap 'rm -rf "$stage"' EXIT
}
