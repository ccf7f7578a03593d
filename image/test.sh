#!/usr/bin/env bash
# make image-test: boot build/image/dentra-edge.raw headless under qemu (TCG, OVMF) and wait for each
# enabled service's ready marker ("dentra-ready: dentra-voice") on the serial console.
#   Boot 1 is the first boot of a freshly flashed box on a disk bigger than the image (the data
#   partition is grown, encrypted and the store created); then an ACPI power-off, and boot 2 checks
#   that an ordinary boot unlocks the data partition by itself and starts the services again.
# The image file is never written: the guest's disk is a qcow2 overlay, deleted afterwards.
# Settings: IMAGE_TEST_TIMEOUT (s per boot, default 1200), IMAGE_TEST_DISK_GIB (default 8),
#           IMAGE_TEST_BOOTS (1 or 2, default 2), IMAGE_TEST_CPU (qemu -cpu, default Nehalem).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build/image
IMAGE=$OUT/dentra-edge.raw
OVERLAY=$OUT/test-disk.qcow2
MONITOR=$OUT/test-monitor.sock
TIMEOUT=${IMAGE_TEST_TIMEOUT:-1200}
DISK_GIB=${IMAGE_TEST_DISK_GIB:-8}
BOOTS=${IMAGE_TEST_BOOTS:-2}
CPU=${IMAGE_TEST_CPU:-Nehalem}
OVMF=/usr/share/ovmf/OVMF.fd
QEMU_PID=""

say() { printf 'image-test: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

host_tools() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    command -v qemu-img >/dev/null || missing+=(qemu-utils)
    [ -f "$OVMF" ] || missing+=(ovmf)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing host tools: ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    [ -f "$IMAGE" ] || die "no image at $IMAGE; run make image first"
    [ -s "$OUT/markers" ] || die "$OUT/markers is missing or empty: which services to wait for is written by make image"
}

stop_qemu() {
    if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then kill "$QEMU_PID"; wait "$QEMU_PID" || true; fi
    QEMU_PID=""
}
cleanup() { stop_qemu; rm -f "$OVERLAY" "$MONITOR"; }
trap cleanup EXIT

start_qemu() {  # start_qemu SERIAL_LOG
    rm -f "$1" "$MONITOR"
    # KVM is not available in these sandboxes (nested), so TCG. The CPU model matters: offered AVX2
    # (-cpu max), onnxruntime and CTranslate2 pick AVX2 kernels, which TCG emulates so slowly that
    # Piper's first phrase took over 5 minutes (60 s with SSE4.2 kernels, 0.6 s on the host); a
    # Nehalem (SSE4.2) guest makes them pick SSE. The box itself has AVX2.
    # The NIC is qemu's user network with restrict=on: DHCP for the guest, no traffic out of it.
    qemu-system-x86_64 -machine q35,accel=tcg -cpu "$CPU" -smp 2 -m 4096 \
        -bios "$OVMF" \
        -drive "file=$OVERLAY,format=qcow2,if=virtio" \
        -nic user,model=virtio-net-pci,restrict=on \
        -display none -serial "file:$1" -monitor "unix:$MONITOR,server,nowait" \
        -no-reboot &
    QEMU_PID=$!
}

power_off() {  # an ACPI power button press, as a clinic's IT would, then wait for the guest to stop
    python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"system_powerdown\n"); time.sleep(1)' "$MONITOR"
    local waited=0
    while kill -0 "$QEMU_PID" 2>/dev/null && [ $waited -lt 300 ]; do sleep 2; waited=$((waited + 2)); done
    kill -0 "$QEMU_PID" 2>/dev/null && { say "the guest did not power off within 300 s"; stop_qemu; return 1; }
    wait "$QEMU_PID" || true
    QEMU_PID=""
    say "powered off cleanly in ${waited} s"
}

wait_for_markers() {  # wait_for_markers SERIAL_LOG BOOT_NAME: prints seconds to the last marker
    local log=$1 name=$2 t0=$SECONDS unit pending
    mapfile -t pending <"$OUT/markers"
    while [ ${#pending[@]} -gt 0 ]; do
        local still=()
        for unit in "${pending[@]}"; do
            if grep -qa "dentra-ready: $unit\b" "$log" 2>/dev/null; then
                say "$name: $unit ready after $((SECONDS - t0)) s"
            else
                still+=("$unit")
            fi
        done
        pending=("${still[@]}")
        [ ${#pending[@]} -eq 0 ] && break
        if grep -qaE "Failed to start (dentra|Dentra)|dentra-firstboot: .*(failed|no partition)" "$log" 2>/dev/null; then
            grep -aiE "dentra|fail" "$log" | tail -n 30 >&2
            die "$name: a dentra unit failed (serial log: $log)"
        fi
        kill -0 "$QEMU_PID" 2>/dev/null || { tail -n 30 "$log" >&2; die "$name: qemu stopped (serial log: $log)"; }
        [ $((SECONDS - t0)) -lt "$TIMEOUT" ] || { tail -n 40 "$log" >&2; die "$name: still waiting for ${pending[*]} after $TIMEOUT s"; }
        sleep 2
    done
    echo $((SECONDS - t0))
}

guest_journal() {
    # The services' journal, read back from the guest's disk after it stopped, without mounting:
    # the root partition is cut out of the overlay and /var/log/journal copied out with debugfs.
    local raw=$OUT/test-after.raw root=$OUT/test-root.img dir=$OUT/test-journal start size
    qemu-img convert -O raw "$OVERLAY" "$raw"
    read -r start size < <(sfdisk -J "$raw" | python3 -c 'import json, sys
part = [p for p in json.load(sys.stdin)["partitiontable"]["partitions"] if p.get("name") == "dentra-root"][0]
print(part["start"] * 512, part["size"] * 512)')
    dd if="$raw" of="$root" bs=4M iflag=skip_bytes,count_bytes skip="$start" count="$size" status=none
    rm -rf "$dir"; mkdir -p "$dir"
    debugfs -R "rdump /var/log/journal $dir" "$root" >/dev/null 2>&1 || true
    rm -f "$raw" "$root"
    local journal; journal=$(find "$dir" -name '*.journal' -printf '%h\n' | head -n1)
    [ -n "$journal" ] || { say "no journal on the guest's disk"; return 0; }
    say "the dentra units' journal (all of it: $dir):"
    journalctl --directory "$journal" --no-pager -o short-monotonic -u 'dentra-*' | tail -n 60 >&2
}

diagnose() {  # a boot went wrong: stop the guest cleanly so its journal is on disk, then show it
    if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then power_off || stop_qemu; fi
    guest_journal
    exit 1
}

main() {
    host_tools
    qemu-img create -q -f qcow2 -F raw -b "$(realpath "$IMAGE")" "$OVERLAY" "${DISK_GIB}G"
    local first second=""
    say "boot 1 (first boot, ${DISK_GIB} GiB disk): waiting for $(tr '\n' ' ' <"$OUT/markers")(timeout ${TIMEOUT} s)"
    start_qemu "$OUT/serial.log"
    first=$(wait_for_markers "$OUT/serial.log" "boot 1") || diagnose
    if [ "$BOOTS" -ge 2 ]; then
        power_off
        say "boot 2 (ordinary boot: the data partition unlocks from its key file)"
        start_qemu "$OUT/serial-boot2.log"
        second=$(wait_for_markers "$OUT/serial-boot2.log" "boot 2") || diagnose
    fi
    stop_qemu
    {
        echo "first_boot_to_ready_s: $first"
        [ -n "$second" ] && echo "boot_to_ready_s: $second"
        echo "serial log: $OUT/serial.log"
        grep -aE "dentra-ready:|dentra-firstboot:|Dentra Edge:" "$OUT/serial.log" | sed 's/^/  /'
    } | tee "$OUT/boot-report.txt" >&2
}

main "$@"
