#!/usr/bin/env bash
# Builds the Debian 12 guest image spliced's guest tests boot: debootstrap bookworm with Debian's own kernels.
# Called by image.ts, which caches the result under a key that hashes this file, the files beside it and the inputs.
# Inputs (environment): OUT (empty output dir), MIRROR (Debian mirror URI), CACHE (package cache dir),
# KERNELS (space-separated releases to install), NODE_BIN (Node binary to copy in), HERE (this folder).
set -euo pipefail
: "${OUT:?}" "${MIRROR:?}" "${CACHE:?}" "${KERNELS:?}" "${NODE_BIN:?}" "${HERE:?}"

root="$OUT/rootfs"
packages=systemd,systemd-sysv,dbus,kmod,udev,linux-base,initramfs-tools,zstd,libstdc++6,procps,util-linux
# polkitd's postinst needs a configured systemd (sysusers, logind): install it, and the rest, with apt afterwards.
late_packages="polkitd pkexec sqlite3 less jq"
# Debian's unattended-upgrades, for its kernel hook (/etc/kernel/postinst.d/unattended-upgrades sets the reboot flag
# spliced clears once a kernel's fixes run live); its periodic runs are switched off below.
late_packages="$late_packages unattended-upgrades"
# A desktop session for the packaged notifier (test/guest/daemon/notifier.sh): an X server without a screen, whose
# -fbdir framebuffer file is the screenshot; a notification server; a session bus from the user's systemd manager.
late_packages="$late_packages xvfb dunst dbus-user-session"
# What `spliced build` runs inside the guest on a tree the host prepared: Debian's own kernel compiler (the builder
# checks CONFIG_CC_VERSION_TEXT), make, binutils, pahole (struct-layout check), patch, xz (vmlinuz payloads); bc,
# which kbuild runs at every make (timeconst.h); and what the tree's host tools were built with: gcc (HOSTCC), the
# libc and libelf headers their dependency files name (a missing one makes make rebuild objtool and resolve_btfids).
build_packages="gcc-12 gcc make binutils libc6-dev libelf-dev dwarves xz-utils patch bc"

mkdir -p "$CACHE/debootstrap" "$CACHE/debs" "$CACHE/apt-archives/partial"
debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap" --include="$packages" bookworm "$root" "$MIRROR"
mount -t proc proc "$root/proc"
# apt's downloads land in the shared cache, so the next image build fetches only what changed.
mount --bind "$CACHE/apt-archives" "$root/var/cache/apt/archives"
trap 'umount "$root/var/cache/apt/archives" "$root/proc" 2>/dev/null || true' EXIT
chroot "$root" apt-get update -q
chroot "$root" apt-get install -y -q --no-install-recommends $late_packages $build_packages
printf 'APT::Periodic::Update-Package-Lists "0";\nAPT::Periodic::Unattended-Upgrade "0";\n' > "$root/etc/apt/apt.conf.d/20auto-upgrades"

# The initramfs only needs to find an ext4 root on virtio; FSTYPE avoids its fsck hook probing the chroot.
cat > "$root/etc/initramfs-tools/conf.d/spliced-guest" <<CONF
MODULES=list
FSTYPE=ext4
CONF
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >> "$root/etc/initramfs-tools/modules"

# Kernels come from the host's apt (bookworm-security carries the newest ABIs); apt-get download checks their hashes.
debs=()
for release in $KERNELS; do
  (cd "$CACHE/debs" && apt-get download -q "linux-image-$release" 2>&1 | grep -v 'unsandboxed' || true)
  deb=$(ls -t "$CACHE/debs"/linux-image-"$release"_*.deb | head -1)
  cp "$deb" "$root/tmp/"
  debs+=("/tmp/$(basename "$deb")")
done
chroot "$root" dpkg -i "${debs[@]}"
rm -f "$root"/tmp/*.deb

echo spliced-guest > "$root/etc/hostname"
echo 0123456789abcdef0123456789abcdef > "$root/etc/machine-id"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > "$root/etc/fstab"
chroot "$root" useradd --create-home --uid 1000 --shell /bin/bash tester
chroot "$root" passwd --delete root >/dev/null

install -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
install -m 0755 "$HERE/guest-runner" "$root/usr/local/sbin/guest-runner"
install -m 0644 "$HERE/guest-runner.service" "$root/etc/systemd/system/guest-runner.service"
ln -s /etc/systemd/system/guest-runner.service "$root/etc/systemd/system/multi-user.target.wants/guest-runner.service"
# Nothing but the test may spend the guest's emulated CPU.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
mkdir -p "$root/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultTimeoutStopSec=15s\n' > "$root/etc/systemd/system.conf.d/spliced-guest.conf"

for release in $KERNELS; do
  cp "$root/boot/vmlinuz-$release" "$root/boot/initrd.img-$release" "$OUT/"
done
umount "$root/var/cache/apt/archives" "$root/proc"
mkfs.ext4 -q -F -L root -d "$root" "$OUT/root.img" 3G
rm -rf "$root"
