#!/bin/bash
# The demo, inside the guest: spliced installed like a package is handed a kernel source patch, builds the splice for
# the running kernel and applies it live; its effect is shown, then reverted. Lines for the audience start with "demo| ".
set -euo pipefail
say() { echo "demo| $*" > /dev/console; }
show() { say "\$ $*"; "$@" 2>&1 | sed 's/^/demo|   /' > /dev/console; }
bash "$SPLICED_SRC/test/guest/harness/kernel-trees.sh"
bash "$GUEST_WORK/install/install-spliced.sh" "$GUEST_WORK/install" >/dev/null 2>&1
systemctl start spliced.service
say "Guest booted Debian's own kernel; spliced.service is running."
show uname -rv
show grep MemTotal /proc/meminfo
say "Handing spliced the source patch: it compiles only the touched file before and after, diffs the objects,"
say "checks the old code against the running kernel's memory, builds the livepatch module and applies it, without a reboot:"
started=$(date +%s)
show splicectl apply "$SPLICED_SRC/test/fixtures/patches/01-string-meminfo.patch"
say "(built and applied in $(( $(date +%s) - started )) s, in an emulated machine without KVM)"
show grep MemTotal /proc/meminfo
show splicectl list
show splicectl uname -r
show ls /sys/kernel/livepatch
id=$(splicectl list --json | jq -r '.[0].id')
say "Reverting it, still without a reboot:"
show splicectl revert "$id"
show grep MemTotal /proc/meminfo
grep -q '^MemTotal:' /proc/meminfo
