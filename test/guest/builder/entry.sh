#!/bin/bash
# The builder suite, inside the guest: every splice the host built from a kernel source patch (modules.tsv: name,
# module file, check command) is applied through spliced, its effect checked from user space, reverted, and the
# effect checked gone.
set -u
source "$SPLICED_SRC/test/guest/harness/checks.sh"
check "install spliced like a package" bash "$GUEST_WORK/install/install-spliced.sh" "$GUEST_WORK/install"
check "spliced.service starts" systemctl start spliced.service
while IFS=$'\t' read -r name module effect; do
  check_fails "$name: effect absent before apply" bash -c "$effect"
  if ! check "$name: splicectl apply" splicectl apply "$GUEST_WORK/modules/$module"; then continue; fi
  check "$name: effect visible from user space" bash -c "$effect"
  id=$(splicectl list --json | jq -r '[.[] | select(.state == "applied")] | max_by(.stackPosition) | .id')
  check "$name: splicectl revert" splicectl revert "$id"
  check_fails "$name: effect gone after revert" bash -c "$effect"
done < "$GUEST_WORK/modules.tsv"
check_eq "nothing left applied" "$(ls /sys/kernel/livepatch)" ""
exit 0
