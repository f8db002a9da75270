# Debian's reboot flag with the real unattended-upgrades installed (its kernel hook, as dpkg runs it from a
# linux-image package's postinst): after feed-checks.sh the feed's fix of FEED_TARGET runs live on the older kernel,
# so the newer kernel's image, built from FEED_TARGET, needs no reboot and spliced takes it out of
# /run/reboot-required.pkgs, and the flag with it. A kernel it does not run, and other packages, stay listed; with
# clear_reboot_required = no nothing is touched. Sourced by entry.sh on the second boot; FEED_* and NEWER_* come from
# guest-build.env.
# shellcheck shell=bash

hook=/etc/kernel/postinst.d/unattended-upgrades
flag=/run/reboot-required
# What a linux-image package's postinst does through run-parts: the hook with dpkg's environment.
kernel_installed() { DPKG_MAINTSCRIPT_PACKAGE=$1 DPKG_MAINTSCRIPT_NAME=postinst "$hook" "${1#linux-image-}" "/boot/vmlinuz-${1#linux-image-}"; }
kernel_flagged() { kernel_installed "$1" && test -e "$flag"; }
flag_gone() { [ ! -e "$flag" ] && [ ! -e "$flag.pkgs" ]; }
listed() { cat "$flag.pkgs" 2>/dev/null | tr '\n' ' '; }
newer_image=linux-image-$NEWER_RELEASE

check "reboot flag: unattended-upgrades' kernel hook is installed" test -x "$hook"
check_eq "reboot flag: the newer image is built from the live feed version" \
  "$(dpkg-query -W -f='${Built-Using}' "$newer_image")" "linux (= $(busctl get-property org.spliced.Spliced1 /org/spliced/Spliced1 org.spliced.Spliced1.Manager EffectiveVersion | cut -d'"' -f2))"
rm -f "$flag" "$flag.pkgs"
check "reboot flag: the hook sets it for the newer image" kernel_flagged "$newer_image"
check "reboot flag: spliced takes the newer image out, and the flag with it" wait_until 30 flag_gone
check_match "reboot flag: the journal says why" "$(journalctl -u spliced -b -o cat | grep 'reboot flag:' | tail -1)" "$newer_image taken out \\(every fix runs live"

# A kernel whose fixes do not all run live, and another package, keep the flag.
kernel_installed linux-image-6.1.0-99-amd64
echo libc6 >> "$flag.pkgs"
kernel_installed "$newer_image"
listed_is() { [ "$(listed)" = "$1" ]; }
check "reboot flag: only the newer image is taken out" wait_until 30 listed_is 'linux-image-6.1.0-99-amd64 libc6 '
check "reboot flag: the flag stays for the others" test -e "$flag"
check_match "reboot flag: the journal names why each stays" "$(journalctl -u spliced -b -o cat | grep 'reboot flag' | tail -1)" 'linux-image-6\.1\.0-99-amd64 \(not installed.*libc6 \(not an image'
# Who made the edits: spliced.service cannot write /run (ReadOnlyPaths=/run), spliced-reboot-flag.service did.
daemon_pid=$(systemctl show -p MainPID --value spliced.service)
check_match "reboot flag: spliced sees /run read-only" "$(awk '$5 == "/run" {print $6}' "/proc/$daemon_pid/mountinfo" | tail -1)" '^ro,'
unit_log=$(journalctl -u spliced-reboot-flag.service -b -o cat)
check_match "reboot flag: spliced-reboot-flag.service removed the flag" "$unit_log" "^$flag: removed \\(no package left\\)$"
check_match "reboot flag: ... and took the image out of the list" "$unit_log" "^$flag: 2 package\\(s\\) left: linux-image-6\\.1\\.0-99-amd64 libc6$"

# Switched off: nothing is touched.
rm -f "$flag" "$flag.pkgs"
printf 'clear_reboot_required = no\n' >> /etc/spliced/spliced.conf
systemctl restart spliced.service
kernel_installed "$newer_image"
sleep 5
check_eq "reboot flag: clear_reboot_required = no leaves it" "$(listed)" "$newer_image "
