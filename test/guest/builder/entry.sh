#!/bin/bash
# The builder suite, inside the guest: every splice the host built from a kernel source patch (modules.tsv: kernel,
# name, module file, command run right after the apply, check command) is applied through spliced on the kernel it was
# built for, its effect checked from user space, reverted, and the effect checked gone. One boot per kernel (the file
# "kernels", in boot order); each boot takes its kernel's rows and asks for the next boot while kernels are left.
set -u
source "$SPLICED_SRC/test/guest/harness/checks.sh"
release=$(uname -r)
check_eq "boot $GUEST_BOOT runs the kernel it was meant to" "$release" "$(sed -n "${GUEST_BOOT}p" "$GUEST_WORK/kernels")"
check "install spliced like a package" bash "$GUEST_WORK/install/install-spliced.sh" "$GUEST_WORK/install"
check "spliced.service starts" systemctl start spliced.service
while IFS=$'\t' read -r kernel name module after_apply effect; do
  [ "$kernel" = "$release" ] || continue
  check_fails "$name: effect absent before apply" bash -c "$effect"
  if ! check "$name: splicectl apply" splicectl apply "$GUEST_WORK/modules/$module"; then continue; fi
  check "$name: after apply: $after_apply" bash -c "$after_apply"
  check "$name: effect visible from user space" bash -c "$effect"
  id=$(splicectl list --json | jq -r '[.[] | select(.state == "applied")] | max_by(.stackPosition) | .id')
  check "$name: splicectl revert" splicectl revert "$id"
  check_fails "$name: effect gone after revert" bash -c "$effect"
done < "$GUEST_WORK/modules.tsv"
check_eq "nothing left applied" "$(ls /sys/kernel/livepatch)" ""
if [ "$GUEST_BOOT" -lt "$(wc -l < "$GUEST_WORK/kernels")" ]; then exit 99; fi
exit 0
